import { generateBatch } from '../decoding/generate.js';
import { InvalidInputError } from '../io/errors.js';
import { encodeChat } from '../runtime/chat.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { EVAL_INSTRUCTIONS, EVAL_STORY_PROMPTS } from '../concept/openings.js';
import type { ConceptScorer, ScoredOutput } from '../evals/concept-score.js';
import { distinctN } from '../evals/repetition.js';
import { scoreSpans } from '../evals/sequence-logprobs.js';

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

export interface ProbeOutcome {
  /** Concept terms per text (the driving metric). */
  readonly presence: Estimate;
  /** Other concept scores, reported beside presence (mean per text). */
  readonly metrics: Readonly<Record<string, Estimate>>;
  /** Pooled perplexity of the texts under the unsteered model. */
  readonly perplexity: number;
  /**
   * Perplexity ratio to the unsteered texts of the same prompts and seeds: exp of the mean
   * per-text difference of log-perplexity (paired), with the delta-method standard error.
   */
  readonly pplRatio: Estimate;
  /** Mean distinct-2 over texts (share of distinct token bigrams; loops drive it down). */
  readonly distinct2: number;
  readonly outputs: readonly ScoredOutput[];
}

export interface StoryProbeSettings {
  /** Prompts (default: 16 story starts for base models, 16 instructions for chat models). */
  readonly prompts?: readonly string[];
  /** Tokens per text (default 128: what `steerer generate` writes by default). */
  readonly maxTokens?: number;
  /** Sampling temperature (default 0.8: `generate`'s default). */
  readonly temperature?: number;
  /** Seed of the first text; text i uses seed + i (default 1000). */
  readonly seed?: number;
}

export class StoryProbe {
  readonly prompts: readonly string[];
  readonly maxTokens: number;
  readonly seed: number;
  private readonly encoded: number[][];
  private readonly chat: boolean;
  private baseline?: { outcome: ProbeOutcome; logPpl: number[] };

  constructor(
    private readonly model: HookedModel,
    private readonly scorer: ConceptScorer,
    private readonly others: readonly ConceptScorer[] = [],
    private readonly settings: StoryProbeSettings = {},
  ) {
    this.chat = model.chatTemplate !== undefined;
    this.prompts = settings.prompts ?? (this.chat ? EVAL_INSTRUCTIONS : EVAL_STORY_PROMPTS);
    if (this.prompts.length < 2) throw new InvalidInputError('at least two probe prompts are needed (standard errors need two texts)');
    this.maxTokens = settings.maxTokens ?? 128;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1) throw new InvalidInputError(`maxTokens must be a positive integer, got ${this.maxTokens}`);
    this.seed = settings.seed ?? 1000;
    this.encoded = this.prompts.map((p) => (this.chat ? encodeChat(model, [{ role: 'user', content: p }]) : model.encode(p)));
  }

  /** The same prompts with other seeds: for confirming a choice on texts it was not made on. */
  fresh(seed: number): StoryProbe {
    return new StoryProbe(this.model, this.scorer, this.others, { ...this.settings, prompts: this.prompts, seed });
  }

  async unsteered(): Promise<ProbeOutcome> {
    return (await this.base()).outcome;
  }

  async run(hooks: readonly Hook[]): Promise<ProbeOutcome> {
    if (hooks.length === 0) return this.unsteered();
    const base = await this.base();
    return (await this.measure(hooks, base.logPpl)).outcome;
  }

  private async base(): Promise<{ outcome: ProbeOutcome; logPpl: number[] }> {
    this.baseline ??= await this.measure([], undefined);
    return this.baseline;
  }

  private async measure(hooks: readonly Hook[], baseLogPpl: readonly number[] | undefined): Promise<{ outcome: ProbeOutcome; logPpl: number[] }> {
    const results = await generateBatch(this.model, this.encoded, { hooks, maxTokens: this.maxTokens, temperature: this.settings.temperature ?? 0.8, seed: this.seed });
    const outputs: ScoredOutput[] = results.map((r, i) => ({ ...r, output: this.chat ? r.text : this.prompts[i] + r.text }));
    // Coherence: each text's mean NLL under the unsteered model (no hooks), over its own tokens.
    const spans = outputs.map((o) => ({ ids: [...o.promptTokens, ...o.tokens], from: o.promptTokens.length }));
    const scored = await scoreSpans(this.model, spans);
    let nll = 0;
    let n = 0;
    const logPpl = scored.map((s) => {
      let t = 0;
      for (const lp of s.logprobs) t -= lp;
      nll += t;
      n += s.logprobs.length;
      return s.logprobs.length > 0 ? t / s.logprobs.length : 0;
    });
    const presence = estimate(await this.scorer.score(outputs));
    const metrics: Record<string, Estimate> = {};
    for (const s of this.others) metrics[s.metric] = estimate(await s.score(outputs));
    const diffs = baseLogPpl ? logPpl.map((l, i) => l - baseLogPpl[i]) : logPpl.map(() => 0);
    const d = estimate(diffs);
    const ratio = Math.exp(d.mean);
    const distinct2 = outputs.reduce((a, o) => a + distinctN(o.tokens, 2), 0) / outputs.length;
    return { outcome: { presence, metrics, perplexity: Math.exp(n > 0 ? nll / n : 0), pplRatio: { mean: ratio, se: ratio * d.se }, distinct2, outputs }, logPpl };
  }
}

export function estimate(xs: readonly number[]): Estimate {
  const n = xs.length;
  if (n === 0) return { mean: 0, se: 0 };
  const m = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean: m, se: 0 };
  const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1);
  return { mean: m, se: Math.sqrt(v / n) };
}
