import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { repetitionStats } from './repetition.js';
import { compareSpans, scoreSpans } from '../runtime/score.js';

/** A generated continuation: the prompt it continued and the tokens written. */
export interface Continuation {
  readonly promptTokens: readonly number[];
  readonly tokens: readonly number[];
  readonly text: string;
}

export interface CoherenceResult {
  /** Perplexity of the continuations under the unsteered model (pooled over tokens). */
  readonly perplexity: number;
  /** Mean NLL per token (nats) under the unsteered model. */
  readonly nll: number;
  /** Mean per-token KL(steered ‖ unsteered) along the continuations (only with `steering`, unless kl: false). */
  readonly meanKl?: number;
  /** Mean over continuations of distinct-n over tokens and the longest repeated n-gram. */
  readonly distinct1: number;
  readonly distinct2: number;
  readonly longestRepeat: number;
  readonly tokens: number;
}

/**
 * How coherent continuations are, judged by the unsteered model: their perplexity under it,
 * and with the steering hooks that wrote them, how far steering moved each next-token
 * distribution (mean KL). Both read the same text, so they can be set side by side with the
 * unsteered model's own continuations of the same prompts.
 */
export async function coherence(
  model: HookedModel,
  continuations: readonly Continuation[],
  opts: { steering?: readonly Hook[]; batchSize?: number; kl?: boolean } = {},
): Promise<CoherenceResult> {
  const spans = continuations.map((c) => ({ ids: [...c.promptTokens, ...c.tokens], from: c.promptTokens.length }));
  // The KL needs a second, steered forward; skipped when not asked for (kl: false).
  const steered = opts.steering !== undefined && opts.steering.length > 0 && opts.kl !== false;
  // Perplexity is the unsteered model's, steered or not.
  const scores = steered
    ? (await compareSpans(model, spans, { hooks: opts.steering, reference: [], batchSize: opts.batchSize })).map((s) => ({ base: s.referenceLogprobs, kl: s.kl }))
    : (await scoreSpans(model, spans, { batchSize: opts.batchSize })).map((base) => ({ base, kl: undefined }));
  let nll = 0;
  let kl = 0;
  let n = 0;
  for (const s of scores) {
    for (let k = 0; k < s.base.length; k++) {
      nll -= s.base[k];
      kl += s.kl?.[k] ?? 0;
      n++;
    }
  }
  const reps = continuations.filter((c) => c.tokens.length > 0).map((c) => repetitionStats(c.tokens));
  const avg = (f: (r: (typeof reps)[number]) => number): number => (reps.length === 0 ? 0 : reps.reduce((a, r) => a + f(r), 0) / reps.length);
  const meanNll = n > 0 ? nll / n : 0;
  return {
    perplexity: Math.exp(meanNll),
    nll: meanNll,
    ...(steered ? { meanKl: n > 0 ? kl / n : 0 } : {}),
    distinct1: avg((r) => r.distinct1),
    distinct2: avg((r) => r.distinct2),
    longestRepeat: avg((r) => r.longestRepeat),
    tokens: n,
  };
}
