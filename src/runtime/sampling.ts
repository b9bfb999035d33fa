import { randomInt } from 'node:crypto';
import { InvalidInputError } from '../io/errors.js';
import { createRng, type Rng } from './rng.js';
import { validateSamplingOptions, type ResolvedSamplingOptions, type SamplingOptions } from './sampling-options.js';

/**
 * Token selection for one sequence, over a Float32Array of logits.
 *
 * Order of operations (Hugging Face's default LogitsProcessor order):
 *   0. the given logits processors, in order (phrase bias, bans, penalties: src/decoding),
 *      then logit bias (OpenAI's logit_bias: a number added to listed tokens' logits)
 *   1. penalties: repetition (CTRL/HF), then frequency/presence (OpenAI), on raw logits
 *   2. temperature (0 → greedy argmax right here, ties → lowest id)
 *   3. top-k
 *   4. top-p (on the distribution renormalised over the top-k survivors)
 *   5. min-p (relative to the top probability, which every earlier step keeps)
 *   6. draw u ∈ [0,1) from the seeded RNG and invert the CDF of the kept tokens,
 *      walked in a fixed order: by descending probability (ties → lower id) with top-k,
 *      by id otherwise.
 * Ranking ties (top-k, top-p) always go to the lower id.
 *
 * Cost per token, V = vocabulary size: with top-k, O(V) to find the max plus O(V log k)
 * for a size-k heap, and exps only for the k survivors. Without top-k, O(V) exps; top-p
 * then buckets the weights into a histogram by their float bits (16 buckets per octave)
 * and sorts only the one bucket where the cumulative mass crosses p, so the vocabulary is
 * never fully sorted.
 */

type PenaltyOptions = Pick<
  ResolvedSamplingOptions,
  'repetitionPenalty' | 'repetitionWindow' | 'frequencyPenalty' | 'presencePenalty'
>;

/**
 * Applies repetition, then frequency/presence penalties in place. Ids outside
 * [0, logits.length) are skipped: tokenizers may define added tokens beyond the size of
 * the model's output head, and such tokens cannot be sampled anyway.
 */
export function applyPenalties(
  logits: Float32Array,
  history: readonly number[],
  o: PenaltyOptions,
  counts: Map<number, number> = new Map(),
): void {
  const rep = o.repetitionPenalty;
  const freq = o.frequencyPenalty;
  const pres = o.presencePenalty;
  if ((rep === 1 && freq === 0 && pres === 0) || history.length === 0) return;
  const V = logits.length;
  const start = Math.max(0, history.length - o.repetitionWindow);
  counts.clear();
  for (let i = start; i < history.length; i++) {
    const id = history[i];
    if (!Number.isInteger(id)) throw new InvalidInputError(`history[${i}] is not a token id: ${String(id)}`);
    if (id < 0 || id >= V) continue;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, count] of counts) {
    let l = logits[id];
    if (rep !== 1) l = l > 0 ? l / rep : l * rep;
    logits[id] = l - count * freq - pres;
  }
}

/** Index of the largest logit, ties → lowest id. NaNs are ignored. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let bestVal = -Infinity;
  let firstNonNaN = -1;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > bestVal) {
      bestVal = v;
      best = i;
    } else if (firstNonNaN < 0 && v === v) {
      firstNonNaN = i;
    }
  }
  if (best >= 0) return best;
  // Everything is −Infinity (or NaN): the first −Infinity is as good as any.
  if (firstNonNaN >= 0) return firstNonNaN;
  throw new InvalidInputError(logits.length === 0 ? 'logits are empty' : 'logits are all NaN');
}

/** log(softmax(logits)), computed as x − max − log Σ exp(x − max) so ±1e4 logits stay finite. */
export function logSoftmax(logits: Float32Array, out: Float32Array = new Float32Array(logits.length)): Float32Array {
  if (out.length !== logits.length) {
    throw new InvalidInputError(`logSoftmax output has length ${out.length}, expected ${logits.length}`);
  }
  const m = checkedMax(logits);
  if (m === Infinity) throw new InvalidInputError('logSoftmax got a +Infinity logit');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - m);
  const shift = m + Math.log(sum);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - shift; // out may alias logits
  return out;
}

/** Max logit; throws on NaN (a broken forward pass) and when every logit is −Infinity. */
function checkedMax(logits: Float32Array): number {
  if (logits.length === 0) throw new InvalidInputError('logits are empty');
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > m) m = v;
    else if (v !== v) throw new InvalidInputError(`logits contain NaN (at token ${i})`);
  }
  if (m === -Infinity) throw new InvalidInputError('every token is masked (all logits are −Infinity)');
  return m;
}

/** The kept distribution after all filters, in sampling order. For inspection and tests. */
interface TokenDistribution {
  ids: Int32Array;
  probs: Float64Array;
}

/**
 * Float32 logits pin probabilities only to ~1e-7 relative, so the top-p cut allows this
 * much slack: a nucleus that reaches p up to rounding is treated as reaching it.
 */
const TOP_P_SLACK = 1e-6;
/**
 * Scaled logits below this get weight 0 without calling Math.exp: exp(−40) ≈ 4e-18 is
 * under the 2^-53 resolution of the uniform draw, so such tokens are unreachable anyway.
 */
const MIN_EXPONENT = -40;
/** Weights lie in [0, 1]; their float32 bits are monotonic, so bits → histogram bucket. */
const ONE_BITS = 0x3f800000;
const BUCKET_SHIFT = 19; // keep 4 mantissa bits: 16 buckets per octave
const NUM_BUCKETS = (ONE_BITS >> BUCKET_SHIFT) + 1; // bucket of weight 0 is the last

/** What prepare() left behind for the final draw. */
type Prepared =
  /** A single certain token (greedy, or a +Infinity logit). */
  | { kind: 'one'; id: number }
  /**
   * Weights in logits[i] (in place). Token i is kept when its weight w > 0 and
   * (w > threshold, or w === threshold and i ≤ tieId); `total` is the kept mass.
   */
  | { kind: 'byId'; threshold: number; tieId: number; total: number }
  /** Weights in logits[idx[j]] for j < n; idx is sorted best-first. */
  | { kind: 'ranked'; n: number; total: number };

export class Sampler {
  readonly options: ResolvedSamplingOptions;
  /** The seed actually used (random when none was given), so a run can be reproduced. */
  readonly seed: number;
  private readonly rng: Rng;
  private readonly counts = new Map<number, number>();
  private idx = new Int32Array(0);
  private bucketMass: Float64Array | undefined;
  private bucketCount: Int32Array | undefined;

  constructor(options: SamplingOptions = {}) {
    this.options = validateSamplingOptions(options);
    this.seed = this.options.seed ?? randomInt(2 ** 31);
    this.rng = createRng(this.seed);
  }

  /**
   * Whether every draw is the argmax of the raw logits (temperature 0, nothing that changes the
   * logits first): a decoder may then ask the model for that argmax alone (forward logits 'argmax').
   */
  get argmaxOnly(): boolean {
    const o = this.options;
    return o.temperature === 0 && o.processors.length === 0 && (o.logitBias?.size ?? 0) === 0 && o.repetitionPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0;
  }

  /** Picks the next token id. `logits` is modified in place. `history` = prompt + generated ids. */
  sample(logits: Float32Array, history: readonly number[]): number {
    this.process(logits, history);
    return this.draw(logits);
  }

  /**
   * Step 0-1 alone: processors, logit bias and penalties, in place. With draw(), lets a caller
   * look at (or rerank) the processed logits before the draw.
   */
  process(logits: Float32Array, history: readonly number[]): void {
    const o = this.options;
    for (const p of o.processors) p.apply(logits, history);
    // Ids past the output head (added tokens) cannot be drawn; their bias has nothing to move.
    if (o.logitBias) for (const [id, bias] of o.logitBias) if (id < logits.length) logits[id] += bias;
    applyPenalties(logits, history, o, this.counts);
  }

  /** Steps 2-6 on logits already processed: temperature, top-k/p, min-p, the seeded draw. */
  draw(logits: Float32Array): number {
    const p = this.prepare(logits);
    if (p.kind === 'one') return p.id;
    const r = this.rng.nextFloat() * p.total;
    let cum = 0;
    let last = -1;
    if (p.kind === 'byId') {
      const { threshold, tieId } = p;
      for (let i = 0; i < logits.length; i++) {
        const w = logits[i];
        if (w === 0 || w < threshold || (w === threshold && i > tieId)) continue;
        cum += w;
        last = i;
        if (r < cum) return i;
      }
    } else {
      const idx = this.idx;
      for (let j = 0; j < p.n; j++) {
        const w = logits[idx[j]];
        if (w === 0) continue;
        cum += w;
        last = idx[j];
        if (r < cum) return idx[j];
      }
    }
    // Only reachable when u·total rounds up to total: the last token with mass is right.
    return last;
  }

  /** The distribution sample() would draw from (consumes no randomness). `logits` is modified. */
  distribution(logits: Float32Array, history: readonly number[]): TokenDistribution {
    this.process(logits, history);
    const p = this.prepare(logits);
    if (p.kind === 'one') return { ids: Int32Array.of(p.id), probs: Float64Array.of(1) };
    const ids: number[] = [];
    const probs: number[] = [];
    const add = (id: number): void => {
      const w = logits[id];
      if (w === 0) return; // underflowed: can never be drawn
      ids.push(id);
      probs.push(w / p.total);
    };
    if (p.kind === 'byId') {
      for (let i = 0; i < logits.length; i++) {
        const w = logits[i];
        if (w > p.threshold || (w === p.threshold && i <= p.tieId)) add(i);
      }
    } else {
      for (let j = 0; j < p.n; j++) add(this.idx[j]);
    }
    return { ids: Int32Array.from(ids), probs: Float64Array.from(probs) };
  }

  private prepare(logits: Float32Array): Prepared {
    const o = this.options;
    const V = logits.length;
    const m = checkedMax(logits);
    // A +Infinity logit outweighs everything else; the lowest such id wins, like argmax.
    if (m === Infinity || o.temperature === 0) return { kind: 'one', id: argmax(logits) };

    const T = o.temperature;
    const topK = o.topK > 0 && o.topK < V ? o.topK : 0;
    // Weights are exp((l − m)/T): the top token has weight exactly 1, so min-p is simply
    // "weight ≥ minP" and the top token always passes it.
    const minW = o.minP;

    if (topK > 0) return this.prepareTopK(logits, m, T, topK, o.topP, minW);

    const total = expWeights(logits, m, T);
    let threshold = minW;
    let tieId = V;
    if (o.topP < 1) {
      const cut = this.nucleusCut(logits, Math.max(0, o.topP - TOP_P_SLACK) * total);
      // Both cuts keep a top segment of the same ranking: the stricter one wins.
      if (cut.threshold >= minW) ({ threshold, tieId } = cut);
    }
    let kept = total;
    if (threshold > 0) {
      kept = 0;
      for (let i = 0; i < V; i++) {
        const w = logits[i];
        if (w > threshold || (w === threshold && i <= tieId)) kept += w;
      }
    }
    return { kind: 'byId', threshold, tieId, total: kept };
  }

  /** top-k on raw logits (same order as probabilities), then top-p and min-p on the survivors. */
  private prepareTopK(logits: Float32Array, m: number, T: number, k: number, topP: number, minW: number): Prepared {
    const n = this.selectTop(logits, k);
    const idx = this.idx;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const x = (logits[idx[j]] - m) / T;
      logits[idx[j]] = x < MIN_EXPONENT ? 0 : Math.exp(x);
      total += logits[idx[j]];
    }
    const target = Math.max(0, topP - TOP_P_SLACK) * total;
    let cum = 0;
    let kept = 0;
    while (kept < n) {
      const w = logits[idx[kept]];
      if (kept > 0 && w < minW) break; // the top token always survives
      cum += w;
      kept++;
      if (topP < 1 && cum >= target) break;
    }
    return { kind: 'ranked', n: kept, total: cum };
  }

  /**
   * The top-p cut over weights already in `w`: the smallest top segment of the ranking
   * (weight desc, id asc) whose mass reaches `target`, given as its last member's weight
   * and id. A histogram over the weights' float bits finds the bucket where the mass
   * crosses; only that bucket is sorted.
   */
  private nucleusCut(w: Float32Array, target: number): { threshold: number; tieId: number } {
    const V = w.length;
    const bits = new Int32Array(w.buffer, w.byteOffset, V);
    const mass = (this.bucketMass ??= new Float64Array(NUM_BUCKETS)).fill(0);
    const count = (this.bucketCount ??= new Int32Array(NUM_BUCKETS)).fill(0);
    for (let i = 0; i < V; i++) {
      const b = (ONE_BITS - bits[i]) >> BUCKET_SHIFT;
      mass[b] += w[i];
      count[b]++;
    }
    let cum = 0;
    let b = 0;
    for (; b < NUM_BUCKETS; b++) {
      if (cum + mass[b] >= target) break;
      cum += mass[b];
    }
    // Rounding kept the sum just short of the target: keep every token with mass.
    if (b === NUM_BUCKETS) return { threshold: 0, tieId: V };

    const n = count[b];
    if (this.idx.length < n) this.idx = new Int32Array(Math.max(n, Math.min(V, this.idx.length * 2)));
    const members = this.idx.subarray(0, n);
    for (let i = 0, j = 0; j < n; i++) {
      if ((ONE_BITS - bits[i]) >> BUCKET_SHIFT === b) members[j++] = i;
    }
    members.sort((a, c) => w[c] - w[a] || a - c);
    for (let j = 0; j < n; j++) {
      cum += w[members[j]];
      if (cum >= target) return { threshold: w[members[j]], tieId: members[j] };
    }
    return { threshold: w[members[n - 1]], tieId: members[n - 1] };
  }

  /**
   * Puts the indices of the c largest values into this.idx[0..c), best first (ties → lower
   * index), using a size-c min-heap whose root is the worst survivor: O(V log c).
   */
  private selectTop(values: Float32Array, c: number): number {
    const V = values.length;
    if (c > V) c = V;
    if (this.idx.length < c) this.idx = new Int32Array(Math.max(c, Math.min(V, this.idx.length * 2)));
    const h = this.idx;
    // "a ranks below b": smaller value, or equal value and larger index.
    const below = (a: number, b: number): boolean => values[a] < values[b] || (values[a] === values[b] && a > b);
    const siftDown = (pos: number, size: number): void => {
      const item = h[pos];
      for (;;) {
        let child = 2 * pos + 1;
        if (child >= size) break;
        if (child + 1 < size && below(h[child + 1], h[child])) child++;
        if (!below(h[child], item)) break;
        h[pos] = h[child];
        pos = child;
      }
      h[pos] = item;
    };
    for (let i = 0; i < c; i++) h[i] = i;
    for (let i = (c >> 1) - 1; i >= 0; i--) siftDown(i, c);
    if (c > 0) {
      for (let i = c; i < V; i++) {
        // Later indices lose ties, so only a strictly larger value can enter.
        if (values[i] > values[h[0]]) {
          h[0] = i;
          siftDown(0, c);
        }
      }
    }
    // Heapsort: repeatedly move the worst to the end, leaving best-first order.
    for (let end = c - 1; end > 0; end--) {
      const t = h[0];
      h[0] = h[end];
      h[end] = t;
      siftDown(0, end);
    }
    return c;
  }
}

/**
 * Replaces logits with exp((l − m)/T) in place and returns their sum, summed from the
 * stored float32 values so that every later walk over them adds up to the same total.
 * Division (not multiplication by 1/T) keeps 0/T = 0 even when 1/T overflows.
 */
function expWeights(logits: Float32Array, m: number, T: number): number {
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = (logits[i] - m) / T;
    logits[i] = x < MIN_EXPONENT ? 0 : Math.exp(x);
    total += logits[i];
  }
  return total;
}
