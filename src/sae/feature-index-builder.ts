/**
 * Building a feature index (feature-index.ts) from an activation store. Built in streaming
 * passes over the store's shards:
 *
 *   1. encode every row: per feature, active rows, sum and max of activations, the N largest rows
 *   2. encode again: a histogram of each feature's nonzero activations, log-spaced below its max
 *   3. re-read only the shards holding kept rows: each kept row's window of neighbouring tokens
 *      of the same document, with the feature's activation on every one of them
 */
import { hookName } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { ActivationStore } from './activation-store.js';
import { FEATURE_INDEX_FORMAT, type FeatureContext, type FeatureIndex, type FeatureSummary } from './feature-index.js';
import { defaultCodeWidth, saeRunnerFor } from './runner-cache.js';
import type { SaeRunner, SparseCodes } from './sae-runner.js';
import type { Sae } from './sae.js';
import { defaultThreads } from '../graph/session-options.js';

/** Histogram bins, log-spaced from maxActivation / 1000 to maxActivation. */
const HISTOGRAM_BINS = 24;
const HISTOGRAM_DECADES = 3;

export interface FeatureIndexOptions {
  /** Token strings for token ids (e.g. ids => tokenStrings(model, ids)). */
  readonly decode: (ids: number[]) => string[];
  /** Contexts kept per feature (default 12). */
  readonly topContexts?: number;
  /** Tokens shown each side of the focus token: one number for both, default 12 left / 4 right. */
  readonly window?: number | { readonly left: number; readonly right: number };
  /** Use only the store's first maxRows rows. */
  readonly maxRows?: number;
  /** Rows encoded so far over the two passes (total = 2 × rows). */
  readonly onProgress?: (done: number, total: number) => void;
  /** ORT threads (default all cores). */
  readonly threads?: number;
  /** Rows encoded per call (default 8192). */
  readonly chunkRows?: number;
}

/** For every feature, the N largest (activation, shard, row) seen: fixed-size min-heaps in flat arrays. */
class TopRows {
  readonly size: Int32Array;
  private readonly value: Float32Array;
  private readonly shard: Int32Array;
  private readonly row: Int32Array;

  constructor(features: number, private readonly n: number) {
    this.size = new Int32Array(features);
    this.value = new Float32Array(features * n);
    this.shard = new Int32Array(features * n);
    this.row = new Int32Array(features * n);
  }

  offer(f: number, v: number, shard: number, row: number): void {
    const { n } = this;
    if (n === 0) return;
    const base = f * n;
    const size = this.size[f];
    if (size < n) {
      let i = size;
      this.set(base + i, v, shard, row);
      this.size[f] = size + 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (this.value[base + parent] <= this.value[base + i]) break;
        this.swap(base + parent, base + i);
        i = parent;
      }
    } else if (v > this.value[base]) {
      // Strictly larger only: among equal activations the earliest rows stay.
      this.set(base, v, shard, row);
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let least = i;
        if (l < n && this.value[base + l] < this.value[base + least]) least = l;
        if (r < n && this.value[base + r] < this.value[base + least]) least = r;
        if (least === i) break;
        this.swap(base + i, base + least);
        i = least;
      }
    }
  }

  /** Feature f's kept rows, highest activation first (ties: store order). */
  sorted(f: number): { value: number; shard: number; row: number }[] {
    const base = f * this.n;
    return Array.from({ length: this.size[f] }, (_, i) => ({ value: this.value[base + i], shard: this.shard[base + i], row: this.row[base + i] })).sort(
      (a, b) => b.value - a.value || a.shard - b.shard || a.row - b.row,
    );
  }

  private set(i: number, v: number, shard: number, row: number): void {
    this.value[i] = v;
    this.shard[i] = shard;
    this.row[i] = row;
  }

  private swap(a: number, b: number): void {
    const v = this.value[a];
    const s = this.shard[a];
    const r = this.row[a];
    this.set(a, this.value[b], this.shard[b], this.row[b]);
    this.set(b, v, s, r);
  }
}

type ChunkFn = (codes: SparseCodes, shard: number, start: number) => void;

/** Encodes the first `limit` rows of the store, shard by shard, `chunkRows` at a time. */
async function encodeStore(store: ActivationStore, runner: SaeRunner, m: number, limit: number, chunkRows: number, fn: ChunkFn, progress: (rows: number) => void): Promise<void> {
  const D = store.dim;
  let left = limit;
  for (let i = 0; i < store.shardCount && left > 0; i++) {
    const n = Math.min(store.manifest.shards[i].rows, left);
    if (n === 0) continue;
    const acts = store.readRows(i, 0, n);
    for (let r0 = 0; r0 < n; r0 += chunkRows) {
      const c = Math.min(chunkRows, n - r0);
      fn(await runner.encodeSparse(acts.subarray(r0 * D, (r0 + c) * D), c, m), i, r0);
      progress(c);
    }
    left -= n;
  }
}

/** Calls fn(row, feature, value) for every active latent of every row of `codes`. */
function forActive(codes: SparseCodes, fn: (row: number, feature: number, value: number) => void): void {
  const { m, rows, values, indices } = codes;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m; j++) {
      const v = values[r * m + j];
      if (v <= 0) break; // sorted, largest first
      fn(r, indices[r * m + j], v);
    }
  }
}

/**
 * Rows of the focus row's document at positions pos−left..pos+right, in position order.
 * A document's rows are contiguous in its shard with increasing positions, except that when BOS
 * rows are stored every later context restarts with a BOS row at position 0; so scanning twice
 * the window each way covers it, and a duplicated position takes the row nearest the focus.
 */
export function windowRows(doc: Int32Array, pos: Int32Array, row: number, left: number, right: number): number[] {
  const d = doc[row];
  const p = pos[row];
  const nearest = new Map<number, number>();
  const lo = Math.max(0, row - 2 * left - 2);
  const hi = Math.min(doc.length - 1, row + 2 * right + 2);
  for (let q = lo; q <= hi; q++) {
    if (doc[q] !== d || pos[q] < p - left || pos[q] > p + right) continue;
    const prev = nearest.get(pos[q]);
    if (prev === undefined || Math.abs(q - row) < Math.abs(prev - row)) nearest.set(pos[q], q);
  }
  return [...nearest.entries()].sort((a, b) => a[0] - b[0]).map(([, q]) => q);
}

const round5 = (v: number): number => Number(v.toPrecision(5));

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new InvalidInputError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new InvalidInputError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * Statistics and top contexts of every feature over the store's rows (or its first maxRows).
 * ReLU/JumpReLU SAEs count the 64 largest latents of each row (TopK SAEs: all k).
 */
export async function buildFeatureIndex(sae: Sae, store: ActivationStore, opts: FeatureIndexOptions): Promise<FeatureIndex> {
  const { dIn, dSae } = sae.cfg;
  if (store.dim !== dIn) throw new InvalidInputError(`the store in ${store.dir} holds ${store.dim}-wide activations but the SAE reads ${dIn}-wide ones`);
  if (store.manifest.hook !== hookName(sae.cfg.hook)) {
    throw new InvalidInputError(`the store in ${store.dir} holds ${store.manifest.hook} activations but the SAE reads ${hookName(sae.cfg.hook)}`);
  }
  const topN = nonNegativeInt('topContexts', opts.topContexts ?? 12);
  const win = opts.window ?? { left: 12, right: 4 };
  const left = nonNegativeInt('window', typeof win === 'number' ? win : win.left);
  const right = nonNegativeInt('window', typeof win === 'number' ? win : win.right);
  const chunkRows = positiveInt('chunkRows', opts.chunkRows ?? 8192);
  const rows = Math.min(store.rows, opts.maxRows === undefined ? Infinity : positiveInt('maxRows', opts.maxRows));
  if (rows === 0) throw new InvalidInputError(`the store in ${store.dir} has no rows`);

  const runner = saeRunnerFor(sae, opts.threads ?? defaultThreads());
  const m = defaultCodeWidth(sae);
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    opts.onProgress?.(done, 2 * rows);
  };

  // Pass 1: counts, sums, maxima, top rows.
  const count = new Float64Array(dSae);
  const sum = new Float64Array(dSae);
  const max = new Float32Array(dSae);
  const top = new TopRows(dSae, topN);
  await encodeStore(store, runner, m, rows, chunkRows, (codes, shard, start) => {
    forActive(codes, (r, f, v) => {
      count[f]++;
      sum[f] += v;
      if (v > max[f]) max[f] = v;
      top.offer(f, v, shard, start + r);
    });
  }, progress);

  // Pass 2: histograms, once each feature's range is known.
  const B = HISTOGRAM_BINS;
  const hist = new Float64Array(dSae * B);
  const logLo = max.map((x) => (x > 0 ? Math.log(x) - HISTOGRAM_DECADES * Math.LN10 : 0));
  const perLog = B / (HISTOGRAM_DECADES * Math.LN10);
  if (count.some((c) => c > 0)) {
    await encodeStore(store, runner, m, rows, chunkRows, (codes) => {
      forActive(codes, (_, f, v) => {
        const bin = Math.min(B - 1, Math.max(0, Math.floor((Math.log(v) - logLo[f]) * perLog)));
        hist[f * B + bin]++;
      });
    }, progress);
  } else {
    progress(rows);
  }

  const contexts = await buildContexts(sae, store, runner, m, top, left, right, opts.decode);
  const features: FeatureSummary[] = Array.from({ length: dSae }, (_, f) => {
    const active = count[f] > 0;
    const edges = active ? Array.from({ length: B + 1 }, (_, i) => (i === B ? max[f] : Math.exp(logLo[f] + i / perLog))) : [];
    return {
      feature: f,
      frequency: count[f] / rows,
      meanActivation: active ? sum[f] / count[f] : 0,
      maxActivation: max[f],
      histogram: { edges, counts: active ? Array.from(hist.subarray(f * B, (f + 1) * B)) : [] },
      contexts: contexts[f],
    };
  });
  return {
    format: FEATURE_INDEX_FORMAT,
    sae: { hook: hookName(sae.cfg.hook), dSae, dIn, format: sae.cfg.format, modelName: sae.cfg.modelName ?? store.manifest.model.name },
    rows,
    features,
  };
}

/** Each kept row's window, with token strings and the feature's activations, shard by shard. */
async function buildContexts(
  sae: Sae,
  store: ActivationStore,
  runner: SaeRunner,
  m: number,
  top: TopRows,
  left: number,
  right: number,
  decode: (ids: number[]) => string[],
): Promise<FeatureContext[][]> {
  const { dIn, dSae } = sae.cfg;
  const contexts: FeatureContext[][] = Array.from({ length: dSae }, (_, f) => new Array<FeatureContext>(top.size[f]));
  const byShard = new Map<number, { f: number; k: number; row: number; value: number }[]>();
  for (let f = 0; f < dSae; f++) {
    top.sorted(f).forEach((e, k) => {
      const list = byShard.get(e.shard) ?? [];
      list.push({ f, k, row: e.row, value: e.value });
      byShard.set(e.shard, list);
    });
  }
  for (const [shard, entries] of [...byShard].sort((a, b) => a[0] - b[0])) {
    const s = store.readShard(shard);
    const windows = entries.map((e) => windowRows(s.doc, s.pos, e.row, left, right));
    // Encode each needed row once, however many windows share it.
    const slot = new Map<number, number>();
    const needed: number[] = [];
    for (const w of windows) for (const r of w) if (!slot.has(r)) slot.set(r, needed.push(r) - 1);
    const indices = new Int32Array(needed.length * m);
    const values = new Float32Array(needed.length * m);
    const CHUNK = 8192;
    for (let c0 = 0; c0 < needed.length; c0 += CHUNK) {
      const n = Math.min(CHUNK, needed.length - c0);
      const x = new Float32Array(n * dIn);
      for (let i = 0; i < n; i++) x.set(s.acts.subarray(needed[c0 + i] * dIn, (needed[c0 + i] + 1) * dIn), i * dIn);
      const codes = await runner.encodeSparse(x, n, m);
      indices.set(codes.indices, c0 * m);
      values.set(codes.values, c0 * m);
    }
    const strings = decode(needed.map((r) => s.tokens[r]));
    if (!Array.isArray(strings) || strings.length !== needed.length) {
      throw new InvalidInputError(`decode returned ${Array.isArray(strings) ? strings.length : 'no'} token strings for ${needed.length} ids`);
    }
    const activationOf = (i: number, f: number): number => {
      for (let j = 0; j < m; j++) if (indices[i * m + j] === f) return Math.max(0, values[i * m + j]);
      return 0;
    };
    entries.forEach((e, n) => {
      const w = windows[n];
      contexts[e.f][e.k] = {
        activation: e.value,
        tokens: w.map((r) => strings[slot.get(r)!]),
        activations: w.map((r) => round5(activationOf(slot.get(r)!, e.f))),
        focus: w.indexOf(e.row),
        doc: s.doc[e.row],
        pos: s.pos[e.row],
      };
    });
  }
  return contexts;
}
