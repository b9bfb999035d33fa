import type { HookSite } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import { generateBatch } from '../decoding/generate.js';
import { encodeChat } from '../runtime/chat.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { addVector } from '../steering/operators.js';
import { EVAL_INSTRUCTIONS, EVAL_STORY_PROMPTS } from '../concept/openings.js';
import { coherence, type CoherenceResult } from '../evals/coherence.js';
import { mean, type ConceptScorer, type ScoredOutput } from '../evals/concept-score.js';

/** How much coherence loss is acceptable, relative to the unsteered model's own continuations. */
export type CoherenceBudget =
  /** Perplexity (under the unsteered model) of steered continuations ≤ (1 + epsilon) × the unsteered ones'. */
  | { readonly kind: 'perplexity'; readonly epsilon: number }
  /** Mean per-token KL(steered ‖ unsteered) along the steered continuations ≤ delta (nats). */
  | { readonly kind: 'kl'; readonly delta: number };

export const DEFAULT_BUDGET: CoherenceBudget = { kind: 'perplexity', epsilon: 1 };

export function budgetLimit(b: CoherenceBudget): number {
  const v = b.kind === 'perplexity' ? b.epsilon : b.delta;
  if (!Number.isFinite(v) || v <= 0) throw new InvalidInputError(`the ${b.kind} budget must be a positive number, got ${v}`);
  return v;
}

export interface TrialSettings {
  /** Prompts continued under steering (default: story starts for base models, instructions for chat models). */
  readonly prompts?: readonly string[];
  /** Tokens per continuation (default 32). */
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly seed?: number;
  /**
   * Largest acceptable drop of distinct-2 (share of distinct token bigrams) below the unsteered
   * continuations' (default 0.15): looping text can have a low perplexity, so it is vetoed apart.
   */
  readonly maxRepetitionDrop?: number;
  /** Measure the mean KL even when the budget is on perplexity (one more forward per setting). */
  readonly measureKl?: boolean;
}

/** One steering setting's outcome on the probe prompts. */
export interface SteeringOutcome {
  readonly concept: number;
  /** Standard error of the mean concept score over the prompts. */
  readonly conceptError: number;
  /** Within the repetition limit (the budgeted cost is judged by the caller). */
  readonly fluent: boolean;
  readonly coherence: CoherenceResult;
  /** The budgeted cost: perplexity ratio − 1, or mean KL. */
  readonly cost: number;
  readonly outputs: readonly ScoredOutput[];
}

/**
 * Generates continuations of fixed prompts with fixed seeds under a steering setting and scores
 * them: concept score (unsteered reader) and coherence. The same prompts and seeds for every
 * setting (common random numbers) make settings comparable with few samples.
 */
export class SteeringTrial {
  readonly prompts: readonly string[];
  private readonly encoded: number[][];
  private readonly chat: boolean;
  private baseline?: SteeringOutcome;

  constructor(
    private readonly model: HookedModel,
    private readonly scorer: ConceptScorer,
    private readonly budget: CoherenceBudget,
    private readonly settings: TrialSettings = {},
  ) {
    budgetLimit(budget);
    this.chat = model.chatTemplate !== undefined;
    this.prompts = settings.prompts ?? (this.chat ? EVAL_INSTRUCTIONS : EVAL_STORY_PROMPTS).slice(0, 12);
    if (this.prompts.length === 0) throw new InvalidInputError('no probe prompts');
    this.encoded = this.prompts.map((p) => (this.chat ? encodeChat(model, [{ role: 'user', content: p }]) : model.encode(p)));
  }

  /** Steering hooks adding `coefficient` × direction at one layer. */
  static hooks(direction: Float32Array, layer: number, site: HookSite, coefficient: number): Hook[] {
    return coefficient === 0 ? [] : [{ kind: 'intervene', at: { layer, site }, intervention: addVector(direction, { scale: coefficient }) }];
  }

  async run(hooks: readonly Hook[]): Promise<SteeringOutcome> {
    if (hooks.length === 0 && this.baseline) return this.baseline;
    const results = await generateBatch(this.model, this.encoded, {
      hooks,
      maxTokens: this.settings.maxTokens ?? 32,
      temperature: this.settings.temperature ?? 0.8,
      topP: 0.95,
      seed: this.settings.seed ?? 1234,
    });
    const outputs: ScoredOutput[] = results.map((r, i) => ({ ...r, output: this.chat ? r.text : this.prompts[i] + r.text }));
    // KL costs a second forward: measured when the budget is on KL or when asked for (reports).
    const coh = await coherence(this.model, outputs, { steering: hooks, kl: this.budget.kind === 'kl' || this.settings.measureKl === true });
    const scores = await this.scorer.score(outputs);
    const concept = mean(scores);
    const conceptError = scores.length > 1 ? Math.sqrt(scores.reduce((a, x) => a + (x - concept) ** 2, 0) / (scores.length - 1) / scores.length) : 0;
    if (hooks.length === 0) {
      this.baseline = { concept, conceptError, fluent: true, coherence: coh, cost: 0, outputs };
      return this.baseline;
    }
    const base = await this.run([]);
    const cost = this.budget.kind === 'perplexity' ? coh.perplexity / base.coherence.perplexity - 1 : (coh.meanKl ?? 0);
    const fluent = coh.distinct2 >= base.coherence.distinct2 - (this.settings.maxRepetitionDrop ?? 0.15);
    return { concept, conceptError, fluent, coherence: coh, cost, outputs };
  }
}
