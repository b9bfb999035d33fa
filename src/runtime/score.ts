import { InvalidInputError } from '../io/errors.js';
import type { Hook } from './hooks.js';
import type { HookedModel } from './model.js';

interface ScoreOptions {
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

/** A token sequence and the index of the first token whose log-prob is wanted. */
export interface ScoredSpan {
  readonly ids: readonly number[];
  /** ids[from..] are scored (each given everything before it); from >= 1. */
  readonly from: number;
}

interface SpanScoreOptions {
  /** Hooks active while scoring (e.g. steering). */
  readonly hooks?: readonly Hook[];
  /** Most sequences per forward (default 8). */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Rows per forward so that batch × seq × vocab logits, which still exist inside ONNX Runtime
 * (only the log-probs of the targets leave it), stay below this many floats (256 MiB).
 */
const MAX_LOGIT_FLOATS = 2 ** 26;

/** Each position's target: the next token (the last position's is unused; 0 keeps it in range). */
function nextTokens(ids: readonly number[]): number[] {
  return ids.map((_, i) => (i + 1 < ids.length ? ids[i + 1] : 0));
}

/**
 * Spans in batches, longest first, as lm-eval does: a batch's first row sets its length, rows
 * are added while `rowsFor(length)` allows, and similar lengths share a batch, which keeps
 * padding small. Spans with nothing to score get no forward.
 */
async function forEachBatch(
  spans: readonly ScoredSpan[],
  opts: SpanScoreOptions,
  rowsFor: (length: number) => number,
  run: (batch: readonly number[]) => Promise<void>,
): Promise<void> {
  const maxBatch = opts.batchSize ?? 8;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${String(maxBatch)}`);
  spans.forEach((s, i) => {
    if (!Number.isInteger(s.from) || s.from < 1 || s.from > s.ids.length) throw new InvalidInputError(`span ${i}: from must be in 1..${s.ids.length}, got ${s.from}`);
  });
  const order = spans
    .map((_, i) => i)
    .filter((i) => spans[i].from < spans[i].ids.length)
    .sort((a, b) => spans[b].ids.length - spans[a].ids.length || a - b);
  let done = spans.length - order.length;
  for (let i = 0; i < order.length; ) {
    const batch = order.slice(i, i + Math.max(1, Math.min(maxBatch, rowsFor(spans[order[i]].ids.length))));
    await run(batch);
    i += batch.length;
    done += batch.length;
    opts.onProgress?.(done, spans.length);
  }
}

/** Span r's scored tokens from a [batch, seq] output where it is row b: token t is predicted by position t − 1. */
function spanValues(values: Float32Array, out: { readonly seq: number; readonly pad: readonly number[] }, b: number, span: ScoredSpan): Float64Array {
  const base = b * out.seq + out.pad[b];
  return Float64Array.from({ length: span.ids.length - span.from }, (_, k) => values[base + span.from + k - 1]);
}

/**
 * The one token scorer: log p(ids[t] | ids[..t]) for t = from..len−1 of every span. Log-softmax
 * and the gather of the target tokens run in the graph (logits 'targets'), so only those numbers
 * leave ONNX Runtime.
 */
export async function scoreSpans(model: HookedModel, spans: readonly ScoredSpan[], opts: SpanScoreOptions = {}): Promise<Float64Array[]> {
  const V = model.spec.vocabSize;
  const results: Float64Array[] = spans.map((s) => new Float64Array(s.ids.length - s.from));
  await forEachBatch(spans, opts, (seq) => Math.floor(MAX_LOGIT_FLOATS / (seq * V)), async (batch) => {
    const out = await model.forward({ tokens: batch.map((r) => spans[r].ids), targets: batch.map((r) => nextTokens(spans[r].ids)), hooks: opts.hooks, logits: 'targets' });
    batch.forEach((r, b) => (results[r] = spanValues(out.targetLogprobs!, out, b, spans[r])));
  });
  return results;
}

/** A span's scores under a run and a reference run. */
interface ComparedSpan {
  /** log p(ids[t] | ids[..t]) under the run (its hooks). */
  readonly logprobs: Float64Array;
  /** The same under the reference run. */
  readonly referenceLogprobs: Float64Array;
  /** KL(p_run ‖ p_reference) of the next-token distributions predicting those tokens. */
  readonly kl: Float64Array;
}

/**
 * scoreSpans under `hooks`, and per scored token the reference run's log-prob and the KL between
 * the two runs' next-token distributions (with hooks = steering and reference = none: how far
 * steering moved the model where it wrote the text). The reference run hands its final hidden
 * states (batch × seq × hidden) to the scoring run, whose graph computes both distributions, so
 * no vocabulary-sized row leaves ONNX Runtime.
 */
export async function compareSpans(
  model: HookedModel,
  spans: readonly ScoredSpan[],
  opts: SpanScoreOptions & { readonly reference: readonly Hook[] },
): Promise<ComparedSpan[]> {
  const V = model.spec.vocabSize;
  const empty = new Float64Array(0);
  const results: ComparedSpan[] = spans.map(() => ({ logprobs: empty, referenceLogprobs: empty, kl: empty }));
  // Both runs' distributions exist inside ONNX Runtime at once.
  await forEachBatch(spans, opts, (seq) => Math.floor(MAX_LOGIT_FLOATS / (2 * seq * V)), async (batch) => {
    const tokens = batch.map((r) => spans[r].ids);
    const reference = await model.forward({ tokens, hooks: opts.reference, logits: 'hidden' });
    const out = await model.forward({ tokens, targets: batch.map((r) => nextTokens(spans[r].ids)), hooks: opts.hooks, logits: 'kl', referenceHidden: reference.finalHidden });
    batch.forEach((r, b) => {
      results[r] = {
        logprobs: spanValues(out.targetLogprobs!, out, b, spans[r]),
        referenceLogprobs: spanValues(out.referenceTargetLogprobs!, out, b, spans[r]),
        // Rounding can leave a KL of identical distributions a hair below zero.
        kl: spanValues(out.kl!, out, b, spans[r]).map((x) => Math.max(0, x)),
      };
    });
  });
  return results;
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
  const logprobs = new Float64Array(ids.length - 1);
  let scoredUpTo = 0; // ids[1..scoredUpTo] already have log-probs
  for (let begin = 0; scoredUpTo < ids.length - 1; begin += stride) {
    const end = Math.min(begin + window, ids.length);
    const chunk = ids.slice(begin, end);
    const out = await model.forward({ tokens: [chunk], targets: [nextTokens(chunk)], hooks: opts.hooks, logits: 'targets' });
    // position i of the chunk predicts ids[begin + i + 1]
    for (let i = Math.max(0, scoredUpTo - begin); i < chunk.length - 1; i++) logprobs[begin + i] = out.targetLogprobs![i];
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
