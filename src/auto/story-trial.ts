import { generateBatch } from '../decoding/generate.js';
import { InvalidInputError } from '../io/errors.js';
import { encodeChat } from '../runtime/chat.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { EVAL_INSTRUCTIONS } from '../concept/openings.js';
import type { ConceptScorer, ScoredOutput } from '../evals/concept-score.js';
import { distinctN } from '../evals/repetition.js';
import { scoreSpans } from '../runtime/score.js';

/**
 * Measures one steering setting the way a user meets it: texts of the length `generate` writes
 * by default, sampled as `generate` samples, from fixed prompts and seeds (the same for every
 * setting, so settings differ only by the steering), scored for the concept by what a reader
 * sees and for coherence by the unsteered model. Every number comes with its standard error
 * over the texts.
 */

export interface Estimate {
  readonly mean: number;
  /** Standard error of the mean over the texts. */
  readonly se: number;
}

export interface TrialOutcome {
  /** Concept terms per text (the driving metric). */
  readonly presence: Estimate;
  /** Other concept scores, reported beside presence (mean per text). */
  readonly metrics: Readonly<Record<string, Estimate>>;
  /** Pooled perplexity of the texts under the unsteered model. */
  readonly perplexity: number;
  /**
   * Pooled perplexity ÷ the unsteered texts' pooled perplexity (same prompts and seeds), with a
   * jackknife standard error over texts (1 for the unsteered texts themselves).
   */
  readonly pplRatio: Estimate;
  /** Mean distinct-2 over texts (share of distinct token bigrams; loops drive it down). */
  readonly distinct2: number;
  readonly outputs: readonly ScoredOutput[];
}

export interface StoryTrialSettings {
  /**
   * Prompts, one text each (default, base models: 16 texts from what `generate` starts from by
   * default, the empty prompt, and two plain story starts; chat models: 16 instructions).
   */
  readonly prompts?: readonly string[];
  /** Tokens per text (default 128: what `steerer generate` writes by default). */
  readonly maxTokens?: number;
  /** Sampling temperature (default 0.8: `generate`'s default). */
  readonly temperature?: number;
  /** Seed of the first text; text i uses seed + i (default 1000). */
  readonly seed?: number;
}

export class StoryTrial {
  readonly prompts: readonly string[];
  readonly maxTokens: number;
  readonly seed: number;
  private readonly encoded: number[][];
  private readonly chat: boolean;
  private baseline?: { outcome: TrialOutcome; nll: Nll[] };

  constructor(
    private readonly model: HookedModel,
    private readonly scorer: ConceptScorer,
    private readonly others: readonly ConceptScorer[] = [],
    private readonly settings: StoryTrialSettings = {},
  ) {
    this.chat = model.chatTemplate !== undefined;
    this.prompts = settings.prompts ?? (this.chat ? EVAL_INSTRUCTIONS : defaultBasePrompts(model.spec.addBos));
    if (this.prompts.length < 2) throw new InvalidInputError('at least two probe prompts are needed (standard errors need two texts)');
    this.maxTokens = settings.maxTokens ?? 128;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1 || this.maxTokens >= model.spec.maxPositions) {
      throw new InvalidInputError(`probe texts must be 1..${model.spec.maxPositions - 1} tokens (the model's context), got ${this.maxTokens}`);
    }
    this.seed = settings.seed ?? 1000;
    this.encoded = this.prompts.map((p) => (this.chat ? encodeChat(model, [{ role: 'user', content: p }]) : model.encode(p)));
  }

  /** The same prompts and seeds, texts of another length. */
  withLength(maxTokens: number): StoryTrial {
    return new StoryTrial(this.model, this.scorer, this.others, { ...this.settings, prompts: this.prompts, maxTokens });
  }

  /** The same prompts with other seeds: for confirming a choice on texts it was not made on. */
  fresh(seed: number): StoryTrial {
    return new StoryTrial(this.model, this.scorer, this.others, { ...this.settings, prompts: this.prompts, seed });
  }

  async unsteered(): Promise<TrialOutcome> {
    return (await this.base()).outcome;
  }

  async run(hooks: readonly Hook[]): Promise<TrialOutcome> {
    if (hooks.length === 0) return this.unsteered();
    const base = await this.base();
    return (await this.measure(hooks, base.nll)).outcome;
  }

  private async base(): Promise<{ outcome: TrialOutcome; nll: Nll[] }> {
    this.baseline ??= await this.measure([], undefined);
    return this.baseline;
  }

  private async measure(hooks: readonly Hook[], baseNll: readonly Nll[] | undefined): Promise<{ outcome: TrialOutcome; nll: Nll[] }> {
    const results = await generateBatch(this.model, this.encoded, { hooks, maxTokens: this.maxTokens, temperature: this.settings.temperature ?? 0.8, seed: this.seed });
    const outputs: ScoredOutput[] = results.map((r, i) => ({ ...r, output: this.chat ? r.text : this.prompts[i] + r.text }));
    // Coherence: each text's total NLL under the unsteered model (no hooks), over its own tokens.
    const scored = await scoreSpans(this.model, outputs.map((o) => ({ ids: [...o.promptTokens, ...o.tokens], from: o.promptTokens.length })));
    const nll = scored.map((lp) => ({ sum: -lp.reduce((a, b) => a + b, 0), n: lp.length }));
    const presence = estimate(await this.scorer.score(outputs));
    const metrics: Record<string, Estimate> = {};
    for (const s of this.others) metrics[s.metric] = estimate(await s.score(outputs));
    const distinct2 = outputs.reduce((a, o) => a + distinctN(o.tokens, 2), 0) / outputs.length;
    const pooled = pooledPerplexity(nll);
    return { outcome: { presence, metrics, perplexity: pooled, pplRatio: baseNll ? perplexityRatio(nll, baseNll) : { mean: 1, se: 0 }, distinct2, outputs }, nll };
  }
}

/** A text's negative log-likelihood, summed over its `n` tokens. */
interface Nll {
  readonly sum: number;
  readonly n: number;
}

function defaultBasePrompts(addBos: boolean): string[] {
  // What users generate from: nothing (BOS), and the plainest story starts (each ending where a
  // tokenizer that folds trailing spaces into words cannot be caught mid-word).
  const starts = addBos ? ['', 'Once upon a time', 'One day,'] : ['Once upon a time', 'One day,'];
  return Array.from({ length: 16 }, (_, i) => starts[i % starts.length]);
}

function pooledPerplexity(nll: readonly Nll[]): number {
  let s = 0;
  let n = 0;
  for (const t of nll) {
    s += t.sum;
    n += t.n;
  }
  return Math.exp(n > 0 ? s / n : 0);
}

/**
 * Pooled perplexity ratio of paired texts, with its jackknife standard error: the ratio is
 * recomputed leaving out each pair in turn, SE = sqrt((k − 1)/k · Σ (r_i − r̄)²).
 */
function perplexityRatio(steered: readonly Nll[], base: readonly Nll[]): Estimate {
  if (steered.length !== base.length) throw new InvalidInputError(`perplexityRatio: ${steered.length} steered texts against ${base.length} unsteered`);
  const ratio = pooledPerplexity(steered) / pooledPerplexity(base);
  const k = steered.length;
  if (k < 2) return { mean: ratio, se: 0 };
  const loo = steered.map((_, i) => pooledPerplexity(steered.filter((_, j) => j !== i)) / pooledPerplexity(base.filter((_, j) => j !== i)));
  const m = loo.reduce((a, b) => a + b, 0) / k;
  const se = Math.sqrt(((k - 1) / k) * loo.reduce((a, r) => a + (r - m) ** 2, 0));
  return { mean: ratio, se };
}

function estimate(xs: readonly number[]): Estimate {
  const n = xs.length;
  if (n === 0) return { mean: 0, se: 0 };
  const m = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean: m, se: 0 };
  const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1);
  return { mean: m, se: Math.sqrt(v / n) };
}
