import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { logSoftmax } from '../runtime/sampling.js';
import { scoreSpans as scoreTargets, type ScoredSpan } from '../runtime/score.js';

interface SpanScores {
  /** log p(ids[t] | ids[..t]) for t = from..len-1. */
  readonly logprobs: Float64Array;
  /** KL(p_hooks || p_reference) of the next-token distributions predicting those tokens (with `reference`). */
  readonly kl?: Float64Array;
  /** The same tokens' log-probs under the reference run (with `reference`). */
  readonly referenceLogprobs?: Float64Array;
}

/** Rows per forward so that batch × seq × vocab logits stay below this many floats. */
const MAX_LOGIT_FLOATS = 48 * 2 ** 20;

/**
 * Log-probabilities of the spans' tokens under the model run with `hooks` (none: the plain
 * model), batched by length. With `reference` hooks it also gives, per scored token,
 * KL(p_hooks ‖ p_reference) between the two runs' next-token distributions: with hooks =
 * steering and reference = none, how far steering moved the model where it wrote the text.
 */
export async function scoreSpans(
  model: HookedModel,
  spans: readonly ScoredSpan[],
  opts: { hooks?: readonly Hook[]; reference?: readonly Hook[]; batchSize?: number } = {},
): Promise<SpanScores[]> {
  // Log-probs alone: the graph gathers them (runtime/score.ts). The KL against a reference run
  // needs both runs' whole distributions, so that path still reads the logits.
  if (!opts.reference) return (await scoreTargets(model, spans, { hooks: opts.hooks, batchSize: opts.batchSize ?? 16 })).map((logprobs) => ({ logprobs }));
  const V = model.spec.vocabSize;
  spans.forEach((s, i) => {
    if (!Number.isInteger(s.from) || s.from < 1 || s.from > s.ids.length) throw new InvalidInputError(`span ${i}: from must be in 1..${s.ids.length}, got ${s.from}`);
  });
  const order = spans.map((_, i) => i).sort((a, b) => spans[a].ids.length - spans[b].ids.length);
  const results: SpanScores[] = new Array(spans.length);
  const lp = new Float32Array(V);
  const lq = new Float32Array(V);
  for (let start = 0; start < order.length; ) {
    const longest = spans[order[Math.min(order.length - 1, start + (opts.batchSize ?? 16) - 1)]].ids.length;
    const rows = Math.max(1, Math.min(opts.batchSize ?? 16, Math.floor(MAX_LOGIT_FLOATS / (longest * V))));
    const idx = order.slice(start, start + rows);
    start += rows;
    // Spans with nothing to score still need a row in the result.
    const live = idx.filter((i) => spans[i].from < spans[i].ids.length);
    for (const i of idx) {
      if (!live.includes(i)) results[i] = { logprobs: new Float64Array(0), ...(opts.reference ? { kl: new Float64Array(0), referenceLogprobs: new Float64Array(0) } : {}) };
    }
    if (live.length === 0) continue;
    const tokens = live.map((i) => spans[i].ids);
    const out = await model.forward({ tokens, hooks: opts.hooks, logits: 'all' });
    const ref = opts.reference ? await model.forward({ tokens, hooks: opts.reference, logits: 'all' }) : undefined;
    live.forEach((i, b) => {
      const { ids, from } = spans[i];
      const n = ids.length - from;
      const logprobs = new Float64Array(n);
      const kl = ref ? new Float64Array(n) : undefined;
      const refLogprobs = ref ? new Float64Array(n) : undefined;
      for (let k = 0; k < n; k++) {
        const t = from + k; // predicted by position t - 1
        const offset = (b * out.seq + out.pad[b] + t - 1) * V;
        logSoftmax(out.logits!.subarray(offset, offset + V), lp);
        logprobs[k] = lp[ids[t]];
        if (ref && kl && refLogprobs) {
          logSoftmax(ref.logits!.subarray(offset, offset + V), lq);
          refLogprobs[k] = lq[ids[t]];
          let s = 0;
          for (let v = 0; v < V; v++) s += Math.exp(lp[v]) * (lp[v] - lq[v]);
          kl[k] = Math.max(0, s);
        }
      }
      results[i] = { logprobs, ...(kl && refLogprobs ? { kl, referenceLogprobs: refLogprobs } : {}) };
    });
  }
  return results;
}
