import { InvalidInputError } from '../io/errors.js';
import type { HookSite } from '../graph/hook-points.js';
import type { TextGenerator } from '../generators/text-generator.js';
import { localGenerator } from '../generators/local-generator.js';
import type { HookedModel } from '../runtime/model.js';
import { pairsFromPrompted } from '../steering/datasets.js';
import { bestLayer, extractVector } from '../steering/extract.js';
import type { ExtractionMethod, SteeringVector } from '../steering/vector.js';
import type { ConceptDataset } from '../concept/concept-data.js';
import { generatedConceptData } from '../concept/generated-source.js';
import { templateConceptData } from '../concept/template-source.js';
import type { PersonaTemplate } from '../concept/templates.js';
import { embeddingScorer, likelihoodScorer, projectionScorer, type ConceptMetric, type ConceptScorer, type ScoredOutput } from '../evals/concept-score.js';
import { rankLayers, type LayerScore } from './layer-ranking.js';
import { budgetLimit, DEFAULT_BUDGET, SteeringProbe, type CoherenceBudget, type ProbeSettings, type SteeringOutcome } from './steering-probe.js';
import { searchStrength, type StrengthSearchResult } from './strength-search.js';

export type DataSource = { readonly kind: 'templates' } | { readonly kind: 'self' } | { readonly kind: 'endpoint'; readonly generator: TextGenerator };

export interface ConceptVectorOptions {
  readonly concept: string;
  readonly neutral?: string;
  /** Where the contrastive data comes from (default: templates). */
  readonly source?: DataSource;
  /** Pairs to generate (default 48). */
  readonly count?: number;
  /** Persona templates for the template source (default: chosen by model kind and concept). */
  readonly templates?: readonly PersonaTemplate[];
  /** Tokens the model writes per opening in the template source (default 16). */
  readonly completionTokens?: number;
  readonly method?: ExtractionMethod;
  readonly site?: HookSite;
  /** A layer, or 'auto' (default): ranked by separability, then by measured effect. */
  readonly layer?: number | 'auto';
  /** A coefficient, or 'auto' (default): the best concept score within the coherence budget. */
  readonly coefficient?: number | 'auto';
  readonly budget?: CoherenceBudget;
  /** Concept score that drives the choices (default likelihood). */
  readonly metric?: ConceptMetric;
  readonly probe?: ProbeSettings;
  /** Layers measured by steering in the layer ranking (default 3). */
  readonly candidateLayers?: number;
  readonly seed?: number;
  readonly onStage?: (stage: PipelineStage, done: number, total: number) => void;
}

export type PipelineStage = 'data' | 'activations' | 'layers' | 'strength';

/** One example prompt's continuation without and with the chosen steering. */
export interface ExamplePair {
  readonly prompt: string;
  readonly base: string;
  readonly steered: string;
}

/** What the pipeline decided and why; stored in the vector's metadata under `auto`. */
export interface AutoSelection {
  readonly concept: string;
  readonly neutral?: string;
  readonly source: string;
  readonly metric: ConceptMetric;
  readonly budget: CoherenceBudget;
  readonly layer: number;
  readonly coefficient: number;
  readonly layerRanking: readonly LayerScore[];
  readonly strength?: Omit<StrengthSearchResult, 'curve'> & { readonly curve: readonly CurvePoint[] };
  readonly probe: { readonly prompts: number; readonly maxTokens: number; readonly seed: number };
}

/** A strength-curve point with the coherence numbers behind its cost. */
export interface CurvePoint {
  readonly coefficient: number;
  readonly concept: number;
  readonly cost: number;
  readonly feasible: boolean;
  readonly perplexity: number;
  readonly meanKl: number | null;
  readonly distinct2: number;
}

export interface ConceptVectorResult {
  readonly vector: SteeringVector;
  readonly dataset: ConceptDataset;
  readonly selection: AutoSelection;
  readonly examples: readonly ExamplePair[];
}

function scorerFor(model: HookedModel, metric: ConceptMetric, opts: ConceptVectorOptions, vector: () => { direction: Float32Array; layer: number }): ConceptScorer {
  const mid = Math.floor(model.spec.numLayers / 2);
  if (metric === 'likelihood') return likelihoodScorer(model, { concept: opts.concept, neutral: opts.neutral });
  if (metric === 'embedding') return embeddingScorer(model, { concept: opts.concept, neutral: opts.neutral, point: { layer: mid, site: 'resid_post' } });
  // The projection reads the unsteered model at a layer known only after extraction; bound lazily.
  let inner: ConceptScorer | undefined;
  return {
    metric: 'projection',
    score: async (outputs: readonly ScoredOutput[]) => {
      if (!inner) {
        const v = vector();
        inner = projectionScorer(model, v.direction, { layer: v.layer, site: 'resid_post' });
      }
      return inner.score(outputs);
    },
  };
}

/**
 * The one-click pipeline: contrastive data for a concept → a vector at every layer (one batched
 * sweep, held-out diagnostics) → the layer (separability, then measured effect) → the strength
 * (bracketing + bisection under a coherence budget) → examples. Every choice is recorded.
 */
export async function createConceptVector(model: HookedModel, opts: ConceptVectorOptions): Promise<ConceptVectorResult> {
  const concept = opts.concept.trim();
  if (concept === '') throw new InvalidInputError('the concept is empty');
  const budget = opts.budget ?? DEFAULT_BUDGET;
  const limit = budgetLimit(budget);
  const metric = opts.metric ?? 'likelihood';
  const seed = opts.seed ?? 0;
  const site = opts.site ?? 'resid_post';
  const source = opts.source ?? { kind: 'templates' };
  if (typeof opts.layer === 'number' && (!Number.isInteger(opts.layer) || opts.layer < 0 || opts.layer >= model.spec.numLayers)) {
    throw new InvalidInputError(`layer ${opts.layer} does not exist: the model has layers 0..${model.spec.numLayers - 1}`);
  }
  if (typeof opts.coefficient === 'number' && !Number.isFinite(opts.coefficient)) throw new InvalidInputError(`the coefficient must be a finite number, got ${opts.coefficient}`);
  const stage = opts.onStage ?? (() => {});

  // 1. Data.
  let reader: { direction: Float32Array; layer: number } | undefined;
  const scorer = scorerFor(model, metric, opts, () => reader!);
  let dataset: ConceptDataset;
  if (source.kind === 'templates') {
    dataset = await templateConceptData(model, {
      concept,
      neutral: opts.neutral,
      count: opts.count,
      templates: opts.templates,
      completionTokens: opts.completionTokens,
      seed,
      onProgress: (d, t) => stage('data', d, t),
    });
  } else {
    if (source.kind === 'self' && !model.chatTemplate) {
      throw new InvalidInputError(`${model.source.name} has no chat template, so it cannot be asked to write its own data; use the template source or an endpoint`);
    }
    const generator = source.kind === 'self' ? localGenerator(model) : source.generator;
    const likelihood = likelihoodScorer(model, { concept, neutral: opts.neutral });
    stage('data', 0, 1);
    dataset = await generatedConceptData(model, generator, {
      concept,
      neutral: opts.neutral,
      count: opts.count,
      seed,
      source: source.kind,
      scorer: async (texts) => likelihood.score(texts.map((t) => ({ promptTokens: [], tokens: [], text: t, output: t }))),
    });
    stage('data', 1, 1);
  }

  // 2. Vector at every layer.
  const train = pairsFromPrompted(model, dataset.train, { chat: dataset.chat, source: `concept:${concept}`, tooLong: 'skip' });
  const held = pairsFromPrompted(model, dataset.validation, { chat: dataset.chat, source: `concept:${concept}`, tooLong: 'skip' });
  const extracted = await extractVector(model, train, {
    method: opts.method ?? 'diffmean',
    site,
    read: 'mean',
    heldOut: held.pairs,
    description: `concept "${concept}"${opts.neutral ? ` vs "${opts.neutral}"` : ''} (${dataset.source} data)`,
    onProgress: (d, t) => stage('activations', d, t),
  });

  // 3. Layer. A projection score reads every steered output at one layer, the most separable
  // one, so that steering at different layers is scored on the same scale.
  const readerLayer = bestLayer(extracted.meta.diagnostics ?? []);
  reader = { direction: extracted.directions.get(readerLayer)!, layer: readerLayer };
  const probeSettings = { maxTokens: opts.probe?.maxTokens ?? 32, seed: opts.probe?.seed ?? 1234 };
  const probe = new SteeringProbe(model, scorer, budget, { ...opts.probe, ...probeSettings });
  let ranking: LayerScore[] = [];
  let layer: number;
  if (opts.layer === undefined || opts.layer === 'auto') {
    ranking = await rankLayers(probe, extracted, { candidates: opts.candidateLayers ?? 3, budget: limit, onProgress: (d, t) => stage('layers', d, t) });
    layer = ranking[0].layer;
  } else {
    layer = opts.layer;
  }
  const direction = extracted.directions.get(layer)!;

  // 4. Strength.
  const outcomes = new Map<number, SteeringOutcome>();
  const evaluate = async (c: number): Promise<SteeringOutcome> => {
    const hit = outcomes.get(c);
    if (hit) return hit;
    const o = await probe.run(SteeringProbe.hooks(direction, layer, site, c));
    outcomes.set(c, o);
    return o;
  };
  let coefficient: number;
  let strength: AutoSelection['strength'];
  if (opts.coefficient === undefined || opts.coefficient === 'auto') {
    let n = 0;
    const result = await searchStrength(
      async (c) => {
        const o = await evaluate(c);
        return { concept: o.concept, cost: o.cost, conceptError: o.conceptError, feasible: o.fluent };
      },
      { budget: limit, onPoint: () => stage('strength', ++n, 12) },
    );
    coefficient = result.coefficient;
    strength = {
      ...result,
      curve: result.curve.map((p) => {
        const o = outcomes.get(p.coefficient)!;
        return { ...p, perplexity: o.coherence.perplexity, meanKl: o.coherence.meanKl ?? null, distinct2: o.coherence.distinct2 };
      }),
    };
  } else {
    coefficient = opts.coefficient;
  }

  // 5. Examples: the probe prompts without and with the chosen steering.
  const base = await evaluate(0);
  const steered = await evaluate(coefficient);
  const examples = probe.prompts.map((prompt, i) => ({ prompt, base: base.outputs[i].text, steered: steered.outputs[i].text }));

  const selection: AutoSelection = {
    concept,
    ...(opts.neutral !== undefined ? { neutral: opts.neutral } : {}),
    source: dataset.source === 'endpoint' ? `endpoint (${dataset.generator})` : dataset.source,
    metric,
    budget,
    layer,
    coefficient,
    layerRanking: ranking,
    ...(strength ? { strength } : {}),
    probe: { prompts: probe.prompts.length, maxTokens: probeSettings.maxTokens, seed: probeSettings.seed },
  };
  const vector: SteeringVector = {
    ...extracted,
    meta: { ...extracted.meta, recommended: { layers: [layer], coefficient }, auto: selection },
  };
  return { vector, dataset, selection, examples };
}
