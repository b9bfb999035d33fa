import { hookName } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { Sampler } from '../runtime/sampling.js';
import { scoreTokens } from '../runtime/score.js';
import type { Lockstep } from './lockstep.js';
import type { Selection, TokenRerank } from './plan.js';

/**
 * Probe-guided token choice: the top-k next tokens are each run one step ahead from a copy
 * of the row's cache, the scorer reads the hidden state each produces, and the token is
 * drawn (with the sampler's temperature) from log p(token) + weight · score over them.
 * `logits` must already be processed (Sampler.process).
 */
export async function rerankToken(lockstep: Lockstep, rerank: TokenRerank, r: number, logits: Float32Array, sampler: Sampler): Promise<number> {
  const candidates = topFinite(logits, rerank.topK);
  if (candidates.length <= 1) return candidates.length === 1 ? candidates[0] : sampler.draw(logits);
  const fork = lockstep.fork(0, r, candidates.length);
  const point = rerank.scorer.point;
  const out = await fork.model.forward({
    tokens: candidates.map((c) => [c]),
    cache: fork.cache,
    hooks: [...fork.hooks, { kind: 'capture', at: point }],
    logits: 'last',
  });
  const act = out.captures.get(hookName(point))!;
  const scores = rerank.scorer.score(act.data, candidates.length);
  const lse = logSumExp(logits);
  const reranked = new Float32Array(logits.length).fill(-Infinity);
  candidates.forEach((c, i) => (reranked[c] = logits[c] - lse + rerank.weight * scores[i]));
  return sampler.draw(reranked);
}

/** Ids of the k largest finite logits, best first (ties → lower id). */
function topFinite(logits: Float32Array, k: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] > -Infinity) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  return ids.slice(0, k);
}

function logSumExp(x: Float32Array): number {
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  return m + Math.log(s);
}

/**
 * Per-row scores for candidate selection. With a scorer, every forward captures the hidden
 * state at the scorer's point and each row that was fed a new token gets its score; rows
 * that rode along (finished) keep theirs.
 */
export class CandidateScores {
  /** Hooks to add to the main run's forwards (a capture), when a scorer is used. */
  readonly capture?: readonly Hook[];
  private last: Float64Array;
  private readonly rankings = new Map<number, number[]>();

  constructor(
    private readonly select: Selection | undefined,
    rows: number,
  ) {
    this.last = new Float64Array(rows).fill(-Infinity);
    if (select && select.by !== 'perplexity') this.capture = [{ kind: 'capture', at: select.by.point }];
  }

  update(lockstep: Lockstep, fed: readonly boolean[]): void {
    const by = this.select?.by;
    if (!by || by === 'perplexity') return;
    const act = lockstep.captures().get(hookName(by.point));
    if (!act) return;
    const D = act.dim;
    const rows = fed.map((f, r) => (f ? r : -1)).filter((r) => r >= 0);
    if (rows.length === 0) return;
    const picked = new Float32Array(rows.length * D);
    rows.forEach((r, i) => {
      const at = (lockstep.mainRow(r) * act.seq + act.seq - 1) * D; // the row's newest token
      picked.set(act.data.subarray(at, at + D), i * D);
    });
    const s = by.score(picked, rows.length);
    rows.forEach((r, i) => (this.last[r] = s[i]));
  }

  /** Row r's score as of its newest token. */
  scoreOf(r: number): number {
    return this.last[r];
  }

  permute(source: readonly number[]): void {
    this.last = Float64Array.from(source, (src) => this.last[src]);
  }

  setRanking(prompt: number, scores: number[]): void {
    this.rankings.set(prompt, scores);
  }

  lastRanking(prompt: number): number[] {
    return this.rankings.get(prompt) ?? [];
  }
}

/**
 * For each prompt's k candidate rows, the best row (highest score; ties → lowest index):
 * returns source[r] = the row that row r should become. Prompts whose rows have all
 * finished are left as they are, except at the end, when every prompt gets its pick.
 */
export async function selectBest(
  model: HookedModel,
  select: Selection,
  scores: CandidateScores,
  rowPrompts: readonly (readonly number[])[],
  generated: readonly (readonly number[])[],
  finish: readonly (string | undefined)[],
  k: number,
  final: boolean,
): Promise<number[]> {
  const source = rowPrompts.map((_, r) => r);
  for (let b = 0; b * k < rowPrompts.length; b++) {
    const rows = Array.from({ length: k }, (_, j) => b * k + j);
    if (!final && rows.every((r) => finish[r])) continue;
    const values: number[] = [];
    for (const r of rows) values.push(select.by === 'perplexity' ? await meanLogprob(model, rowPrompts[r], generated[r]) : scores.scoreOf(r));
    scores.setRanking(b, values);
    let best = 0;
    for (let j = 1; j < k; j++) if (values[j] > values[best]) best = j;
    for (const r of rows) source[r] = b * k + best;
  }
  return source;
}

/** Mean log-probability of the generated tokens under the unsteered model (−Infinity when none). */
async function meanLogprob(model: HookedModel, prompt: readonly number[], generated: readonly number[]): Promise<number> {
  if (generated.length === 0) return -Infinity;
  const { logprobs } = await scoreTokens(model, [...prompt, ...generated]);
  let sum = 0;
  for (let i = logprobs.length - generated.length; i < logprobs.length; i++) sum += logprobs[i];
  return sum / generated.length;
}
