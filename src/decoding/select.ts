import { hookName } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { logSoftmax, type Sampler } from '../runtime/sampling.js';
import { scoreTokens } from '../runtime/score.js';
import type { Lockstep } from './lockstep.js';
import type { CandidateScorer, Selection, TokenRerank } from './plan.js';

/**
 * Each row's activations at a scorer's hook point, as the text grows: the newest token's
 * and the running sum over all tokens (prompt included), from captures of the main run's
 * forwards. What a scorer reads as "the text so far".
 */
export class ActivationTrack {
  readonly capture: Hook;
  private sums: Float32Array[];
  private counts: number[];
  private lasts: (Float32Array | undefined)[];

  constructor(
    readonly scorer: CandidateScorer,
    rows: number,
  ) {
    this.capture = { kind: 'capture', at: scorer.point };
    this.sums = Array.from({ length: rows }, () => new Float32Array(0));
    this.counts = new Array<number>(rows).fill(0);
    this.lasts = new Array<Float32Array | undefined>(rows).fill(undefined);
  }

  /** Adds the tokens the last forward processed for the rows marked in `fed`. */
  update(lockstep: Lockstep, fed: readonly boolean[]): void {
    const act = lockstep.captures().get(hookName(this.scorer.point));
    if (!act) return;
    const D = act.dim;
    fed.forEach((f, r) => {
      if (!f) return;
      const row = lockstep.mainRow(r);
      if (this.sums[r].length === 0) this.sums[r] = new Float32Array(D);
      for (let t = 0; t < act.seq; t++) {
        if (act.positions[row * act.seq + t] < 0) continue; // left padding
        const v = act.data.subarray((row * act.seq + t) * D, (row * act.seq + t + 1) * D);
        for (let d = 0; d < D; d++) this.sums[r][d] += v[d];
        this.counts[r]++;
        this.lasts[r] = v.slice();
      }
    });
  }

  /** Row r's vector to score; with `next`, as if that activation were appended. */
  vector(r: number, next?: Float32Array): Float32Array | undefined {
    if (this.scorer.reduce === 'last') return next ?? this.lasts[r];
    const n = this.counts[r] + (next ? 1 : 0);
    if (n === 0) return undefined;
    const out = new Float32Array(next?.length ?? this.sums[r].length);
    for (let d = 0; d < out.length; d++) out[d] = ((this.sums[r][d] ?? 0) + (next ? next[d] : 0)) / n;
    return out;
  }

  permute(source: readonly number[]): void {
    this.sums = source.map((src) => this.sums[src].slice());
    this.counts = source.map((src) => this.counts[src]);
    this.lasts = source.map((src) => this.lasts[src]);
  }
}

/**
 * Probe-guided token choice: the top-k next tokens are each run one step ahead from a copy
 * of the row's cache, the scorer reads the text as it would be with each, and the token is
 * drawn (with the sampler's temperature) from log p(token) + weight · score over them.
 * `logits` must already be processed (Sampler.process). `endings`: the end tokens and the
 * tokens that start spelling an end marker.
 */
export async function rerankToken(
  lockstep: Lockstep,
  rerank: TokenRerank,
  track: ActivationTrack,
  r: number,
  logits: Float32Array,
  sampler: Sampler,
  endings: ReadonlySet<number>,
): Promise<number> {
  const candidates = topFinite(logits, rerank.topK);
  if (candidates.length <= 1) return candidates.length === 1 ? candidates[0] : sampler.draw(logits);
  const fork = lockstep.fork(0, r, candidates.length);
  const point = rerank.scorer.point;
  const out = await fork.model.forward({ tokens: candidates.map((c) => [c]), cache: fork.cache, hooks: [...fork.hooks, track.capture], logits: 'last' });
  const act = out.captures.get(hookName(point))!;
  const D = act.dim;
  const vectors = new Float32Array(candidates.length * D);
  candidates.forEach((_, i) => vectors.set(track.vector(r, act.data.subarray(i * D, (i + 1) * D))!, i * D));
  const scores = rerank.scorer.score(vectors, candidates.length).slice();
  // Ending the text is not content: an end token, or one that starts spelling an end marker,
  // scores the mean of the content candidates, so it competes on its probability alone. Scored
  // as content, a probe could pick "<|" over the end token and push the model into
  // half-spelt markers ("<|endend_story").
  const content = candidates.flatMap((c, i) => (endings.has(c) ? [] : [scores[i]]));
  const neutral = content.length > 0 ? content.reduce((a, b) => a + b, 0) / content.length : 0;
  candidates.forEach((c, i) => {
    if (endings.has(c)) scores[i] = neutral;
  });
  const logp = logSoftmax(logits);
  const reranked = new Float32Array(logits.length).fill(-Infinity);
  candidates.forEach((c, i) => (reranked[c] = logp[c] + rerank.weight * scores[i]));
  return sampler.draw(reranked);
}

/**
 * Ids of the k largest finite logits, best first (ties → lower id), in one pass over the
 * vocabulary with a sorted list of k (k ≤ 64): no sort of the whole vocabulary per token.
 */
function topFinite(logits: Float32Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v === -Infinity || (top.length === k && v <= logits[top[k - 1]])) continue;
    let at = top.length;
    while (at > 0 && logits[top[at - 1]] < v) at--;
    top.splice(at, 0, i);
    if (top.length > k) top.pop();
  }
  return top;
}

/**
 * For each prompt's k candidate rows, the best row (highest score; ties → lowest index):
 * returns source[r] = the row that row r should become, and records each prompt's scores in
 * `rankings`. Prompts whose rows have all finished are left as they are, except at the end,
 * when every prompt gets its pick.
 */
export async function selectBest(
  model: HookedModel,
  select: Selection,
  track: ActivationTrack | undefined,
  rowPrompts: readonly (readonly number[])[],
  generated: readonly (readonly number[])[],
  finish: readonly (string | undefined)[],
  k: number,
  final: boolean,
  rankings: Map<number, number[]>,
): Promise<number[]> {
  const source = rowPrompts.map((_, r) => r);
  for (let b = 0; b * k < rowPrompts.length; b++) {
    const rows = Array.from({ length: k }, (_, j) => b * k + j);
    if (!final && rows.every((r) => finish[r])) continue;
    const values: number[] = [];
    for (const r of rows) values.push(select.by === 'perplexity' ? await meanLogprob(model, rowPrompts[r], generated[r]) : scoreRow(track!, r));
    rankings.set(b, values);
    let best = 0;
    for (let j = 1; j < k; j++) if (values[j] > values[best]) best = j;
    for (const r of rows) source[r] = b * k + best;
  }
  return source;
}

function scoreRow(track: ActivationTrack, r: number): number {
  const v = track.vector(r);
  return v ? track.scorer.score(v, 1)[0] : -Infinity;
}

/** Mean log-probability of the generated tokens under the unsteered model (−Infinity when none). */
async function meanLogprob(model: HookedModel, prompt: readonly number[], generated: readonly number[]): Promise<number> {
  if (generated.length === 0) return -Infinity;
  const { logprobs } = await scoreTokens(model, [...prompt, ...generated]);
  let sum = 0;
  for (let i = logprobs.length - generated.length; i < logprobs.length; i++) sum += logprobs[i];
  return sum / generated.length;
}
