import { InvalidInputError } from '../io/errors.js';
import type { TextGenerator } from '../generators/text-generator.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { SteeringVector } from '../steering/vector.js';
import { embeddingScorer, likelihoodScorer, presenceScorer, projectionScorer, type ConceptMetric, type ConceptScorer } from '../evals/concept-score.js';
import { judgeResponses } from '../evals/judge.js';
import { benchmarkPath, readMultipleChoice } from '../evals/benchmark-files.js';
import { evaluateCaaAb, readCaaAb } from '../evals/caa-ab.js';
import { evaluateMultipleChoice } from '../evals/multiple-choice.js';
import { relativeChange } from '../evals/retention.js';
import type { CapabilityRow, EvalReport } from '../evals/report-types.js';
import { sharedPath } from '../util/shared-path.js';
import type { CurvePoint } from '../steering/auto-record.js';
import { parseLexicon } from '../concept/lexicon.js';
import { buildLexicon } from '../concept/lexicon-build.js';
import { budgetLimit, DEFAULT_BUDGET, SteeringTrial, type CoherenceBudget, type TrialSettings, type SteeringOutcome } from './steering-trial.js';

export interface EvaluateVectorOptions {
  /** The vector's file or name, for the report. */
  readonly vectorName: string;
  /** Default: the vector's recommended layer. */
  readonly layer?: number;
  /** Coefficients to sweep (0 is always added). Default: 0 and the recommended coefficient. */
  readonly coefficients?: readonly number[];
  /** Coefficient for capability, judge and examples (default: the recommended one, else the largest swept). */
  readonly coefficient?: number;
  /** Needed for the likelihood and embedding scores (default: the concept the pipeline recorded). */
  readonly concept?: string;
  readonly neutral?: string;
  readonly metric?: ConceptMetric;
  readonly budget?: CoherenceBudget;
  readonly probe?: TrialSettings;
  /** Multiple-choice benchmarks by name (arc_easy, piqa, ...). */
  readonly benchmarks?: readonly string[];
  /** CAA behaviours (sycophancy, refusal, ...) for A/B behaviour probability. */
  readonly caa?: readonly string[];
  /** Items per benchmark (seeded sample; default 200). */
  readonly limit?: number;
  readonly judge?: TextGenerator;
  readonly onStage?: (stage: string, done: number, total: number) => void;
}

function scorerFor(model: HookedModel, vector: SteeringVector, layer: number, metric: ConceptMetric, concept: string | undefined, neutral: string | undefined): ConceptScorer {
  if (metric === 'presence') {
    // Presence counts the concept's words: the lexicon stored with the vector, or one built from the name.
    const stored = vector.meta.auto?.lexicon;
    if (concept === undefined && !stored) throw new InvalidInputError('the presence concept score needs the concept (--concept) or a vector made with a lexicon');
    return presenceScorer(stored && (concept === undefined || concept === stored.concept) ? parseLexicon(stored, 'the vector\'s lexicon') : buildLexicon(concept!));
  }
  if (metric === 'projection') return projectionScorer(model, vector.directions.get(layer)!, { layer, site: 'resid_post' });
  if (concept === undefined) throw new InvalidInputError(`the ${metric} concept score needs the concept's name (--concept), or use the projection score`);
  if (metric === 'likelihood') return likelihoodScorer(model, { concept, neutral });
  return embeddingScorer(model, { concept, neutral, point: { layer: Math.floor(model.spec.numLayers / 2), site: 'resid_post' } });
}

function curvePoint(coefficient: number, o: SteeringOutcome, budget: number, layer: number): CurvePoint {
  return {
    coefficient,
    relative: 0,
    layers: [layer],
    concept: o.concept,
    conceptError: o.conceptError,
    cost: o.cost,
    costError: 0,
    metrics: {},
    feasible: o.fluent && o.cost <= budget,
    perplexity: o.coherence.perplexity,
    meanKl: o.coherence.meanKl ?? null,
    distinct2: o.coherence.distinct2,
  };
}

/** Capability with and without steering: benchmarks by log-likelihood ranking, CAA A/B probability. */
export async function capabilityRetention(
  model: HookedModel,
  hooks: readonly Hook[],
  opts: { benchmarks?: readonly string[]; caa?: readonly string[]; limit?: number; onProgress?: (name: string) => void },
): Promise<CapabilityRow[]> {
  const rows: CapabilityRow[] = [];
  for (const name of opts.benchmarks ?? []) {
    const items = readMultipleChoice(benchmarkPath(name), { limit: opts.limit ?? 200, seed: 0 });
    opts.onProgress?.(name);
    const base = await evaluateMultipleChoice(model, items);
    const steered = await evaluateMultipleChoice(model, items, { hooks });
    rows.push({ name, metric: 'accuracy', n: base.n, base: base.accuracy, steered: steered.accuracy, relativeChange: relativeChange(base.accuracy, steered.accuracy) });
    rows.push({ name, metric: 'accuracy (length-normalized)', n: base.n, base: base.accuracyNorm, steered: steered.accuracyNorm, relativeChange: relativeChange(base.accuracyNorm, steered.accuracyNorm) });
  }
  for (const behavior of opts.caa ?? []) {
    if (!/^[\w-]+$/.test(behavior)) throw new InvalidInputError(`unknown CAA behaviour "${behavior}"`);
    const items = readCaaAb(sharedPath('data', 'caa', behavior, 'test_dataset_ab.json')).slice(0, opts.limit ?? 200);
    opts.onProgress?.(`caa/${behavior}`);
    const base = await evaluateCaaAb(model, items);
    const steered = await evaluateCaaAb(model, items, { hooks });
    rows.push({ name: `caa/${behavior}`, metric: 'P(matching behaviour)', n: base.n, base: base.meanMatchingProbability, steered: steered.meanMatchingProbability, relativeChange: relativeChange(base.meanMatchingProbability, steered.meanMatchingProbability) });
  }
  return rows;
}

/**
 * Evaluates a vector at one layer: a coefficient sweep (concept score, perplexity under the
 * unsteered model, KL, repetition), capability retention and an optional judge at the chosen
 * coefficient, and example generations base vs steered.
 */
export async function evaluateVector(model: HookedModel, vector: SteeringVector, opts: EvaluateVectorOptions): Promise<EvalReport> {
  const auto = vector.meta.auto;
  const layer = opts.layer ?? vector.meta.recommended?.layers?.[0];
  if (layer === undefined) throw new InvalidInputError('the vector recommends no layer: give one');
  if (!vector.directions.has(layer)) throw new InvalidInputError(`the vector has no direction for layer ${layer} (it has ${[...vector.directions.keys()].join(', ')})`);
  const recommended = vector.meta.recommended?.coefficient;
  const swept = [...new Set([0, ...(opts.coefficients ?? (recommended !== undefined ? [recommended] : [1, 2, 4]))])].sort((a, b) => a - b);
  for (const c of swept) if (!Number.isFinite(c)) throw new InvalidInputError(`coefficients must be finite numbers, got ${c}`);
  const coefficient = opts.coefficient ?? recommended ?? swept[swept.length - 1];
  if (!Number.isFinite(coefficient)) throw new InvalidInputError(`the coefficient must be a finite number, got ${coefficient}`);
  const concept = opts.concept ?? auto?.concept;
  const neutral = opts.neutral ?? (opts.concept === undefined ? auto?.neutral : undefined);
  const metric = opts.metric ?? (concept !== undefined || auto?.lexicon ? 'presence' : 'projection');
  const budget = opts.budget ?? auto?.budget ?? DEFAULT_BUDGET;
  const limit = budgetLimit(budget);
  const stage = opts.onStage ?? (() => {});

  const probe = new SteeringTrial(model, scorerFor(model, vector, layer, metric, concept, neutral), budget, opts.probe);
  const direction = vector.directions.get(layer)!;
  const site = vector.meta.site;
  const outcomes = new Map<number, SteeringOutcome>();
  const all = [...new Set([...swept, coefficient])];
  for (const [i, c] of all.entries()) {
    outcomes.set(c, await probe.run(SteeringTrial.hooks(direction, layer, site, c)));
    stage('sweep', i + 1, all.length);
  }
  const curve = swept.map((c) => curvePoint(c, outcomes.get(c)!, limit, layer));
  const hooks = SteeringTrial.hooks(direction, layer, site, coefficient);
  const capability = await capabilityRetention(model, hooks, { benchmarks: opts.benchmarks, caa: opts.caa, limit: opts.limit, onProgress: (n) => stage(`capability ${n}`, 0, 1) });
  const base = outcomes.get(0)!;
  const steered = outcomes.get(coefficient)!;
  let judge: EvalReport['judge'];
  if (opts.judge) {
    if (concept === undefined) throw new InvalidInputError('the judge needs the concept (--concept)');
    stage('judge', 0, 1);
    const items = (o: SteeringOutcome) => probe.prompts.map((p, i) => ({ instruction: p, response: o.outputs[i].text, concept }));
    const jb = await judgeResponses(opts.judge, items(base));
    const js = await judgeResponses(opts.judge, items(steered));
    judge = { model: opts.judge.name, base: jb.mean, steered: js.mean, unparsed: jb.unparsed + js.unparsed };
  }
  return {
    format: 'steerer.eval-report/v1',
    createdAt: new Date().toISOString(),
    model: model.source.name,
    vector: opts.vectorName,
    ...(concept !== undefined ? { concept } : {}),
    ...(neutral !== undefined ? { neutral } : {}),
    layer,
    site,
    coefficient,
    metric,
    budget,
    curve,
    ...(vector.meta.diagnostics ? { diagnostics: vector.meta.diagnostics } : {}),
    ...(auto ? { selection: auto } : {}),
    ...(capability.length > 0 ? { capability } : {}),
    ...(judge ? { judge } : {}),
    examples: probe.prompts.map((prompt, i) => ({ prompt, base: base.outputs[i].text, steered: steered.outputs[i].text })),
  };
}
