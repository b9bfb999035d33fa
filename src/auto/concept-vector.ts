import { InvalidInputError } from '../io/errors.js';
import type { HookSite } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { addVector } from '../steering/operators.js';
import type { AutoSelection, CurvePoint, ExamplePair, LayerTrial, StrengthRecord } from '../steering/auto-record.js';
import { pairsFromPrompted } from '../steering/contrast-pairs.js';
import { bestLayer, extractVector } from '../steering/extract.js';
import type { ExtractionMethod, SteeringVector } from '../steering/vector.js';
import { countParameters } from '../model/spec.js';
import { buildConceptDataset, type ConceptDataset, type ConceptItem, type DroppedItem, type SourceReport } from '../concept/concept-data.js';
import { assertLexiconResolved, type Lexicon } from '../concept/lexicon.js';
import { buildLexicon } from '../concept/lexicon-build.js';
import { gateItems } from '../concept/quality-gate.js';
import { likelihoodScorer, presenceScorer, projectionScorer, type ConceptScorer } from '../evals/concept-score.js';
import { defaultSources, gateable, sourceItems, type DataSource } from './concept-sources.js';
import { curvePoint } from './strength-curve.js';
import { StoryTrial, type TrialOutcome, type StoryTrialSettings } from './story-trial.js';
import { chooseStrength, DEFAULT_RULE, feasibility, RELATIVE_GRID, searchGrid, validateRule, type StrengthCandidate, type StrengthRule } from './strength-choice.js';

export type { AutoSelection, CurvePoint, ExamplePair } from '../steering/auto-record.js';

export interface ConceptVectorOptions {
  readonly concept: string;
  /** A neutral or opposite concept for the template / self / endpoint sources. */
  readonly neutral?: string;
  /** The concept's words; replace or extend WordNet's (see buildLexicon). */
  readonly words?: readonly string[];
  readonly wordsMode?: 'replace' | 'extend';
  /** A ready lexicon (e.g. read from --lexicon FILE); overrides words. */
  readonly lexicon?: Lexicon;
  /** Data sources, combined (default: minimal pairs and continuations; a chat model: `self` as well). */
  readonly sources?: readonly DataSource[];
  /** Items per source before the quality gate (default 48). */
  readonly count?: number;
  readonly method?: ExtractionMethod;
  readonly site?: HookSite;
  /** A layer, or 'auto' (default): candidates by separability, then by measured steering. */
  readonly layer?: number | 'auto';
  /** A coefficient, or 'auto' (default): chosen by `rule`. */
  readonly coefficient?: number | 'auto';
  /** How strength is chosen and the coherence budget (default DEFAULT_RULE). */
  readonly rule?: Partial<StrengthRule>;
  /** 'away': recommend a negative strength that removes the concept (default 'toward'). */
  readonly direction?: 'toward' | 'away';
  /** Probe texts: prompts, length (default 128 tokens, generate's default), seed. */
  readonly probe?: StoryTrialSettings;
  /**
   * Length of the texts the layer trials and the strength search are measured on (default: the
   * probe's length for models up to 50M parameters, else 48 tokens); the choice is always
   * confirmed on full-length texts with fresh seeds.
   */
  readonly searchTokens?: number;
  /** Layers tried by steering before the strength search (default 3). */
  readonly candidateLayers?: number;
  /** Held-out AUROC below this at every layer: the model does not separate the concept (default 0.65). */
  readonly minSeparation?: number;
  readonly seed?: number;
  readonly onStage?: (stage: PipelineStage, done: number, total: number) => void;
}

export type PipelineStage = 'data' | 'activations' | 'layers' | 'strength';

export interface ConceptVectorResult {
  readonly vector: SteeringVector;
  readonly dataset: ConceptDataset;
  readonly lexicon: Lexicon;
  readonly selection: AutoSelection;
  readonly examples: readonly ExamplePair[];
}

/** Models up to this many parameters are searched on full-length texts. */
const SMALL_MODEL = 50_000_000;

/** Items per source at most: checked before any item is planned. */
const MAX_COUNT = 4096;

/** Fewest training pairs the gate must leave for a vector to be worth extracting. */
const MIN_PAIRS = 8;

/**
 * The one-click pipeline:
 *   concept → lexicon (kind and words, WordNet or the user's) → contrastive data from the
 *   chosen sources, each item through the quality gate → a vector at every layer (held-out
 *   diagnostics) → candidate layers tried by steering → strength by the rule, measured on texts
 *   of the length users generate → the choice confirmed on fresh seeds → examples.
 * Every choice and its reason is recorded in the vector's metadata.
 */
export async function createConceptVector(model: HookedModel, opts: ConceptVectorOptions): Promise<ConceptVectorResult> {
  const concept = opts.concept.trim();
  if (concept === '') throw new InvalidInputError('the concept is empty');
  const rule: StrengthRule = { ...DEFAULT_RULE, ...opts.rule };
  validateRule(rule);
  const seed = opts.seed ?? 0;
  const site = opts.site ?? 'resid_post';
  const direction = opts.direction ?? 'toward';
  if (direction !== 'toward' && direction !== 'away') throw new InvalidInputError(`direction must be "toward" or "away", got "${String(direction)}"`);
  if (typeof opts.layer === 'number' && (!Number.isInteger(opts.layer) || opts.layer < 0 || opts.layer >= model.spec.numLayers)) {
    throw new InvalidInputError(`layer ${opts.layer} does not exist: the model has layers 0..${model.spec.numLayers - 1}`);
  }
  if (typeof opts.coefficient === 'number' && !Number.isFinite(opts.coefficient)) throw new InvalidInputError(`the coefficient must be a finite number, got ${opts.coefficient}`);
  const count = opts.count ?? 48;
  if (!Number.isInteger(count) || count < 4 || count > MAX_COUNT) throw new InvalidInputError(`count must be an integer from 4 to ${MAX_COUNT}, got ${count}`);
  const probeTokens = opts.probe?.maxTokens;
  if (probeTokens !== undefined && (!Number.isInteger(probeTokens) || probeTokens < 1 || probeTokens >= model.spec.maxPositions)) {
    throw new InvalidInputError(`probe texts must be 1..${model.spec.maxPositions - 1} tokens (the model's context), got ${probeTokens}`);
  }
  const stage = opts.onStage ?? (() => {});
  const chat = model.chatTemplate !== undefined;

  // 1. What the concept is, and its words.
  const lexicon = opts.lexicon ?? buildLexicon(concept, { words: opts.words, mode: opts.wordsMode });
  assertLexiconResolved(lexicon);

  // 2. Data, each source through the quality gate.
  const sources = opts.sources ?? defaultSources(lexicon, chat);
  if (sources.length === 0) throw new InvalidInputError('no data source given');
  const bySource: { kind: DataSource['kind']; items: ConceptItem[] }[] = [];
  const dropped: DroppedItem[] = [];
  const reports: SourceReport[] = [];
  let generator = model.source.name;
  for (const [k, src] of sources.entries()) {
    const items = await sourceItems(model, lexicon, src, { concept, neutral: opts.neutral, count, seed: seed + 7919 * k, chat, onProgress: (d, t) => stage('data', k * t + d, sources.length * t) });
    if (src.kind === 'endpoint') generator = `${generator} + ${src.generator.name}`;
    // Sources that read whole behaviours (persona templates, generated prompts) carry no lexicon signal to gate on.
    if (src.kind === 'templates' || src.kind === 'self' || src.kind === 'endpoint' || !gateable(lexicon)) {
      bySource.push({ kind: src.kind, items });
      reports.push({ source: src.kind, considered: items.length, kept: items.length, droppedNoConcept: 0, droppedConceptInNegative: 0, positiveHits: 0, negativeHits: 0 });
      continue;
    }
    const gate = gateItems(items, lexicon, src.kind, { positiveSetUp: src.kind === 'continuations' });
    bySource.push({ kind: src.kind, items: gate.kept });
    dropped.push(...gate.dropped);
    reports.push(gate.report);
  }
  const sourceName = sources.map((s) => s.kind).join('+');
  const kept = bySource.flatMap((s) => s.items);
  if (kept.length < MIN_PAIRS) {
    const detail = reports.map((r) => `${r.source}: ${r.kept} of ${r.considered} kept`).join('; ');
    throw new InvalidInputError(
      `${model.source.name} could not be made to express "${concept}": only ${kept.length} contrastive pairs passed the quality gate (${detail}). ` +
        "Give the concept's words with --words, a text that contains it with --corpus, or a generator with --source endpoint",
    );
  }
  const dataset = buildConceptDataset(
    { concept, ...(opts.neutral !== undefined ? { neutral: opts.neutral } : {}), source: sourceName, sources: reports, generator, chat, seed },
    kept,
    { dropped },
  );

  // 3. Vectors at every layer with held-out separability: from all the data, and from each
  // source alone when there are several (sources steer differently; which one works best for
  // a concept is measured below, not guessed).
  const variants: { name: string; items: readonly ConceptItem[] }[] = [{ name: sourceName, items: kept }];
  // (Larger models, screened on short texts, compare only the all-data vector's layers: each variant costs trials.)
  const small = countParameters(model) <= SMALL_MODEL;
  if (bySource.length > 1 && small) for (const s of bySource) if (s.items.length >= MIN_PAIRS) variants.push({ name: s.kind, items: s.items });
  const extractedVariants: { name: string; vector: SteeringVector }[] = [];
  for (const [i, v] of variants.entries()) {
    const split = buildConceptDataset({ concept, source: v.name, generator, chat, seed }, v.items);
    const train = pairsFromPrompted(model, split.train, { chat, source: `concept:${concept}`, tooLong: 'skip' });
    const held = pairsFromPrompted(model, split.validation, { chat, source: `concept:${concept}`, tooLong: 'skip' });
    const vector = await extractVector(model, train, {
      method: opts.method ?? 'diffmean',
      site,
      read: 'mean',
      heldOut: held.pairs,
      description: `concept "${concept}" (${lexicon.kind}; ${v.name} data)`,
      onProgress: (d, t) => stage('activations', i * t + d, variants.length * t),
    });
    extractedVariants.push({ name: v.name, vector });
  }
  const separation = (v: SteeringVector): number => Math.max(0, ...(v.meta.diagnostics ?? []).map((d) => d.auroc ?? 0));
  const bestAuroc = Math.max(...extractedVariants.map((v) => separation(v.vector)));
  const minSeparation = opts.minSeparation ?? 0.65;
  if (extractedVariants.some((v) => (v.vector.meta.diagnostics ?? []).some((d) => d.auroc !== null)) && bestAuroc < minSeparation) {
    throw new InvalidInputError(`${model.source.name} does not separate "${concept}" from its contrast: the best held-out AUROC over layers is ${bestAuroc.toFixed(2)} (< ${minSeparation}); the data may not express the concept`);
  }

  // 4. Probe texts: presence drives the choice; likelihood and projection (of the all-data
  // vector's most separable layer) are reported beside it.
  const reference = extractedVariants[0].vector;
  const readerLayer = bestLayer(reference.meta.diagnostics ?? []);
  const others: ConceptScorer[] = [
    likelihoodScorer(model, { concept: lexicon.head[0] ?? concept }),
    projectionScorer(model, reference.directions.get(readerLayer)!, { layer: readerLayer, site: 'resid_post' }),
  ];
  const probe = new StoryTrial(model, presenceScorer(lexicon), others, opts.probe);
  const presenceOnly = new StoryTrial(model, presenceScorer(lexicon), [], opts.probe);
  // The search measures many settings. A small model affords texts of full length for each; a
  // larger one screens on shorter texts, and the choice is then confirmed at full length.
  const searchTokens = opts.searchTokens ?? (small ? probe.maxTokens : Math.min(probe.maxTokens, 48));
  // Screening texts carry presence and coherence only; the other scores come with the full-length confirmation.
  const screen = searchTokens === probe.maxTokens ? probe : presenceOnly.withLength(searchTokens);
  const base = await screen.unsteered();
  const baseRate = base.presence.mean;
  const sign = direction === 'away' ? -1 : 1;
  const ruleFor: StrengthRule = direction === 'away' ? { ...rule, targetRatio: 1, minGain: baseRate * (1 - 1 / rule.targetRatio) } : rule;
  const baseForRule = { presence: direction === 'away' ? 0 : baseRate, distinct2: base.distinct2 };
  const awayInfo = direction === 'away' ? { unsteered: baseRate } : undefined;
  // Nothing to remove: steering away cannot be measured on texts that never name the concept.
  if (direction === 'away' && baseRate * probe.prompts.length < 2) {
    throw new InvalidInputError(
      `cannot steer away from "${concept}": the unsteered texts name it ${Math.round(baseRate * probe.prompts.length)} time(s) in ${probe.prompts.length} texts, too rarely to measure a drop; give probe prompts that lead to it (--probe-prompts)`,
    );
  }

  // A steering setting: a variant's directions at some layers, at relative strength r: |c·v| = r × the mean residual norm at each layer.
  const relNormOf = (v: SteeringVector, layer: number): number => {
    const rn = v.meta.diagnostics?.find((d) => d.layer === layer)?.relativeNorm ?? 0;
    if (!(rn > 0)) throw new InvalidInputError(`the vector's direction at layer ${layer} has no usable norm`);
    return rn;
  };
  // One coefficient for all layers (what the recommendation records and --steer applies), split evenly over them.
  const coefficientFor = (v: SteeringVector, layers: readonly number[], r: number): number =>
    (sign * r) / (layers.length * (layers.reduce((a, l) => a + relNormOf(v, l), 0) / layers.length));
  const hooksFor = (v: SteeringVector, layers: readonly number[], r: number): Hook[] =>
    layers.map((l) => ({ kind: 'intervene', at: { layer: l, site }, intervention: addVector(v.directions.get(l)!, { scale: coefficientFor(v, layers, r) }) }));
  // Away: the "presence" the rule maximises is the drop below the unsteered rate.
  const asCandidate = (v: SteeringVector, layers: readonly number[], r: number, o: TrialOutcome): StrengthCandidate => ({
    relative: r,
    coefficient: coefficientFor(v, layers, r),
    presence: direction === 'away' ? { mean: baseRate - o.presence.mean, se: o.presence.se } : o.presence,
    pplRatio: o.pplRatio,
    distinct2: o.distinct2,
  });
  const outcomes = new Map<string, { variant: string; layers: number[]; r: number; o: TrialOutcome }>();
  const measure = async (variant: string, layers: number[], r: number): Promise<StrengthCandidate> => {
    const v = extractedVariants.find((x) => x.name === variant)!.vector;
    const key = `${variant}|${layers.join(',')}@${r}`;
    let m = outcomes.get(key);
    if (!m) {
      m = { variant, layers, r, o: await screen.run(hooksFor(v, layers, r)) };
      outcomes.set(key, m);
    }
    return asCandidate(v, layers, r, m.o);
  };

  // 5. Which vector and layer: each variant's most separable layers, steered at one trial strength.
  const trialStrength = 2 ** -1.5; // ≈ 0.35, a point of the strength grid
  const perVariant = opts.layer === undefined || opts.layer === 'auto' ? (opts.candidateLayers ?? 2) : 1;
  const trials: { variant: string; layer: number }[] = [];
  for (const [k, v] of extractedVariants.entries()) {
    const diag = [...(v.vector.meta.diagnostics ?? [])].filter((d) => (d.relativeNorm ?? 0) > 0).sort((a, b) => (b.auroc ?? 0) - (a.auroc ?? 0) || (b.fisher ?? 0) - (a.fisher ?? 0));
    // Screening a larger model: all the data gets `perVariant` layers, each source alone only its most separable one.
    const layersHere = opts.layer === undefined || opts.layer === 'auto' ? diag.slice(0, k === 0 || screen === probe ? perVariant : 1).map((d) => d.layer) : [opts.layer];
    for (const layer of layersHere) trials.push({ variant: v.name, layer });
  }
  if (trials.length === 0) throw new InvalidInputError('no layer has a usable direction');
  const layerRanking: (LayerTrial & { variant: string })[] = [];
  for (const [i, t] of trials.entries()) {
    const c = await measure(t.variant, [t.layer], trialStrength);
    const d = extractedVariants.find((x) => x.name === t.variant)!.vector.meta.diagnostics?.find((x) => x.layer === t.layer);
    layerRanking.push({ variant: t.variant, layer: t.layer, auroc: d?.auroc ?? null, fisher: d?.fisher ?? null, relative: trialStrength, coefficient: c.coefficient, concept: c.presence.mean, cost: c.pplRatio.mean - 1, feasible: feasibility(c, base.distinct2, ruleFor).feasible });
    stage('layers', i + 1, trials.length);
  }
  // Within budget first, then more concept, then lower cost.
  layerRanking.sort((a, b) => Number(b.feasible) - Number(a.feasible) || b.concept - a.concept || a.cost - b.cost);
  const chosenVariant = layerRanking[0].variant;
  const extracted = extractedVariants.find((x) => x.name === chosenVariant)!.vector;
  const candidates = layerRanking.filter((t) => t.variant === chosenVariant).map((t) => t.layer);
  let layers = [layerRanking[0].layer];
  // Full-length texts without and with the recommendation, for the examples (the confirmation's when there is one).
  let shown: { probe: StoryTrial; base: TrialOutcome; steered: TrialOutcome } | undefined;
  let coefficient: number;
  let strength: StrengthRecord | undefined;
  if (opts.coefficient === undefined || opts.coefficient === 'auto') {
    let n = 0;
    const progress = (): void => stage('strength', ++n, 12);
    const single = await searchGrid(async (r) => { progress(); return measure(chosenVariant, layers, r); }, baseForRule, ruleFor, { start: trialStrength });
    let choice = chooseStrength(single, baseForRule, ruleFor, awayInfo);
    let curveLayers = layers;
    // One layer cannot make the concept present within budget: spread the strength over the top candidates.
    // (Nothing to spread when no single-layer strength moved the concept at all.)
    const moved = single.some((c) => c.presence.mean > baseForRule.presence);
    if (!choice.reached && candidates.length > 1 && moved) {
      const multi = candidates.slice(0, 3).sort((a, b) => a - b);
      const spread = await searchGrid(async (r) => { progress(); return measure(chosenVariant, multi, r); }, baseForRule, ruleFor, { start: trialStrength * Math.sqrt(multi.length), maxEvaluations: small ? 8 : 4 });
      const multiChoice = chooseStrength(spread, baseForRule, ruleFor, awayInfo);
      if (multiChoice.chosen && (multiChoice.reached || (choice.chosen && multiChoice.chosen.presence.mean > choice.chosen.presence.mean + choice.chosen.presence.se))) {
        choice = { ...multiChoice, explanation: [...multiChoice.explanation, `Layer ${layers[0]} alone did not make the concept clearly present within budget, so the strength was spread over layers ${multi.join(', ')}.`] };
        curveLayers = multi;
      }
    }
    layers = curveLayers;
    // Confirm on fresh seeds; step down the grid while the budget is broken there.
    const fresh = probe.fresh(probe.seed + 100_003);
    let chosen = choice.chosen;
    let confirmation: StrengthRecord['confirmation'];
    let stepped = 0;
    while (chosen) {
      const fb = await fresh.unsteered();
      const fo = await fresh.run(hooksFor(extracted, layers, chosen.relative));
      shown = { probe: fresh, base: fb, steered: fo };
      const fc = asCandidate(extracted, layers, chosen.relative, fo);
      const ok = feasibility(fc, fb.distinct2, ruleFor);
      confirmation = { ...curvePoint(layers, fc, fo, ok.feasible, ok.why, direction, baseRate), seed: fresh.seed, steppedDown: stepped };
      if (ok.feasible || stepped >= (small ? 2 : 1)) break;
      const lower = RELATIVE_GRID.filter((g) => g < chosen!.relative).at(-1);
      if (lower === undefined) break;
      chosen = await measure(chosenVariant, layers, lower);
      stepped++;
    }
    const explanation = [...choice.explanation];
    if (confirmation) {
      explanation.push(
        `Confirmed on ${probe.prompts.length} fresh texts (seed ${confirmation.seed}): ${(direction === 'away' ? baseRate - confirmation.concept : confirmation.concept).toFixed(2)} concept terms per text, perplexity ratio ${(1 + confirmation.cost).toFixed(2)} ± ${confirmation.costError.toFixed(2)}` +
          (stepped > 0 ? `, after stepping down ${stepped} grid point(s) because the fresh texts broke the budget.` : '.'),
      );
    }
    coefficient = chosen ? chosen.coefficient : 0;
    const all = [...outcomes.values()].filter((m) => m.variant === chosenVariant && m.layers.join(',') === layers.join(','));
    const curve: CurvePoint[] = [
      curvePoint(layers, { relative: 0, coefficient: 0, presence: direction === 'away' ? { mean: 0, se: base.presence.se } : base.presence, pplRatio: { mean: 1, se: 0 }, distinct2: base.distinct2 }, base, true, undefined, direction, baseRate),
      ...all.map((m) => {
        const c = asCandidate(extracted, m.layers, m.r, m.o);
        const f = feasibility(c, base.distinct2, ruleFor);
        return curvePoint(m.layers, c, m.o, f.feasible, f.why, direction, baseRate);
      }),
    ].sort((a, b) => Math.abs(a.coefficient) - Math.abs(b.coefficient));
    const chosenPoint = curve.find((p) => p.coefficient === coefficient);
    strength = {
      rule: rule.kind,
      coefficient,
      concept: chosenPoint?.concept ?? baseRate,
      cost: chosenPoint?.cost ?? 0,
      target: direction === 'away' ? Math.max(0, baseRate - ruleFor.minGain) : choice.target,
      reached: choice.reached,
      explanation,
      curve,
      ...(confirmation ? { confirmation } : {}),
    };
  } else {
    coefficient = opts.coefficient;
  }

  // 6. Examples: the probe prompts without and with the chosen steering.
  if (!shown) {
    const fullBase = await probe.unsteered();
    const hooks = layers.map((l) => ({ kind: 'intervene' as const, at: { layer: l, site }, intervention: addVector(extracted.directions.get(l)!, { scale: coefficient }) }));
    shown = { probe, base: fullBase, steered: coefficient === 0 ? fullBase : await probe.run(hooks) };
  }
  const { base: shownBase, steered } = shown;
  const examples = shown.probe.prompts.map((prompt, i) => ({ prompt, base: shownBase.outputs[i].text, steered: steered.outputs[i].text }));

  const selection: AutoSelection = {
    concept,
    ...(opts.neutral !== undefined ? { neutral: opts.neutral } : {}),
    kind: lexicon.kind,
    lexicon,
    direction,
    source: sourceName,
    data: chosenVariant,
    metric: 'presence',
    budget: { kind: 'perplexity', epsilon: rule.maxPplRatio - 1 },
    layer: layers[0],
    layers,
    coefficient,
    layerRanking,
    ...(strength ? { strength } : {}),
    probe: { prompts: probe.prompts.length, maxTokens: probe.maxTokens, searchTokens, seed: probe.seed },
  };
  const vector: SteeringVector = { ...extracted, meta: { ...extracted.meta, recommended: { layers, coefficient }, auto: selection } };
  return { vector, dataset, lexicon, selection, examples };
}
