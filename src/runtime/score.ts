import { InvalidInputError } from '../io/errors.js';
import type { Hook } from './hooks.js';
import type { HookedModel } from './model.js';

export interface ScoreOptions {
  /** Hooks active while scoring (e.g. steering), for log-probs under intervention. */
  readonly hooks?: readonly Hook[];
  /** Tokens per window for long texts (default: min(context, 512)). */
  readonly window?: number;
  /** Step between windows; each window scores only tokens not scored before (default window/2). */
  readonly stride?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface TokenLogprobs {
  /** The scored ids (BOS included when the model uses one). */
  readonly ids: readonly number[];
  /** logprobs[i] = log p(ids[i+1] | ids[..i]). */
  readonly logprobs: Float64Array;
}

export interface PerplexityResult {
  readonly perplexity: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  readonly nll: number;
  readonly tokens: number;
}

/** log p(row target) from one row of logits: logit[target] - logsumexp(logits). */
export function rowLogprob(logits: Float32Array, offset: number, vocab: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) if (logits[offset + v] > max) max = logits[offset + v];
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[offset + v] - max);
  return logits[offset + target] - max - Math.log(sum);
}

/**
 * Per-token log-probabilities of a token sequence, with a sliding window when it is longer
 * than the window (each token is scored once, with as much left context as the window allows).
 */
export async function scoreTokens(model: HookedModel, ids: readonly number[], opts: ScoreOptions = {}): Promise<TokenLogprobs> {
  if (ids.length < 2) throw new InvalidInputError('scoring needs at least two tokens');
  const window = opts.window ?? Math.min(model.spec.maxPositions, 512);
  const stride = opts.stride ?? Math.max(1, Math.floor(window / 2));
  if (!Number.isInteger(window) || window < 2 || window > model.spec.maxPositions) {
    throw new InvalidInputError(`window must be an integer in 2..${model.spec.maxPositions}, got ${window}`);
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > window) throw new InvalidInputError(`stride must be an integer in 1..${window}`);
  const V = model.spec.vocabSize;
  const logprobs = new Float64Array(ids.length - 1);
  let scoredUpTo = 0; // ids[1..scoredUpTo] already have log-probs
  for (let begin = 0; scoredUpTo < ids.length - 1; begin += stride) {
    const end = Math.min(begin + window, ids.length);
    const chunk = ids.slice(begin, end);
    const out = await model.forward({ tokens: [chunk], hooks: opts.hooks, logits: 'all' });
    // position i of the chunk predicts ids[begin + i + 1]
    for (let i = Math.max(0, scoredUpTo - begin); i < chunk.length - 1; i++) {
      logprobs[begin + i] = rowLogprob(out.logits!, i * V, V, ids[begin + i + 1]);
    }
    scoredUpTo = end - 1;
    opts.onProgress?.(scoredUpTo, ids.length - 1);
  }
  return { ids, logprobs };
}

export async function perplexity(model: HookedModel, text: string, opts: ScoreOptions = {}): Promise<PerplexityResult> {
  const ids = model.encode(text);
  const { logprobs } = await scoreTokens(model, ids, opts);
  let sum = 0;
  for (const lp of logprobs) sum -= lp;
  const nll = sum / logprobs.length;
  return { perplexity: Math.exp(nll), nll, tokens: logprobs.length };
}
