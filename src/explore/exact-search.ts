/**
 * Exact (brute-force) nearest-neighbour search over rows of activations, as ORT graphs: a
 * matrix product (or, for L1, a broadcast difference) of the queries with a chunk of rows, then
 * TopK; the chunks' winners are merged here. It is the reference the approximate index is
 * measured against, the search of metrics the index library lacks (L1), and the re-ranker.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { InvalidInputError } from '../io/errors.js';
import type { RowSource } from './row-source.js';
import { createSession } from '../graph/create-session.js';

export const INDEX_METRICS = ['cosine', 'ip', 'l2', 'l1'] as const;
/**
 * cosine: cosine similarity; ip: inner product (both: higher is nearer); l2: Euclidean
 * distance; l1: sum of absolute differences (both: lower is nearer).
 */
export type IndexMetric = (typeof INDEX_METRICS)[number];

/** Whether a higher score is nearer under `metric`. */
export function higherIsNearer(metric: IndexMetric): boolean {
  return metric === 'cosine' || metric === 'ip';
}

/** The k best rows of each query: [queries, k] row numbers (−1 where fewer rows exist) and scores. */
export interface Neighbours {
  readonly queries: number;
  readonly k: number;
  readonly rows: Int32Array;
  readonly scores: Float32Array;
}

export interface ExactSearchOptions {
  readonly metric: IndexMetric;
  readonly k: number;
  /** The k farthest rows instead (cosine/ip: lowest score, the nearest to the negated query; l2/l1: largest distance). */
  readonly farthest?: boolean;
  /** Subtracted from every row before scoring (queries are taken as given). */
  readonly center?: Float32Array;
  /** ORT threads (default all cores). */
  readonly threads?: number;
  /** Rows scored per ORT run at most (default and cap: as many as keep the score block within 64 MiB). */
  readonly chunkRows?: number;
}

/** Values of the [queries, rows] score block computed per run (64 MiB of float32). */
const BLOCK_VALUES = 1 << 24;
/** Rows per chunk at most, whatever the number of queries. */
const MAX_CHUNK_ROWS = 1 << 16;

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/**
 * X [n, d] raw rows, Q [q, d] queries, k → the best k per query. Centring (rows − μ) is done on
 * the query side, so the rows are read once or twice, never copied:
 *   ip      q·(x − μ) = q·x − q·μ                      (qmu [q, 1] = q·μ)
 *   l2, l1  |q − (x − μ)| = |(q + μ) − x|              (Q arrives shifted by μ)
 *   cosine  (q·x − q·μ) / √(|x|² − 2 μ·x + |μ|²)        (M = [q; μ] in one product; mm = |μ|²)
 */
function scoreGraph(metric: IndexMetric, largest: boolean): Uint8Array {
  const g = new GraphBuilder(`exact_${metric}`);
  const X = g.input('X', 'float32', ['n', 'd']);
  const Q = g.input('Q', 'float32', ['q', 'd']);
  const k = g.input('k', 'int64', [1]);
  // Gemm with transB reads the rows in place: no transposed copy of the chunk.
  const gemm = (a: string, name: string): string => g.node('Gemm', [a, X], { transB: { i: 1 } }, name);
  const rowSq = (): string => g.node('ReduceSumSquare', [X, g.constInt64([1])], { keepdims: { i: 0 } }, 'row_sq');
  let scores: string;
  if (metric === 'ip') {
    const qmu = g.input('qmu', 'float32', ['q', 1]);
    scores = g.node('Sub', [gemm(Q, 'dots'), qmu], {}, 'ip');
  } else if (metric === 'cosine') {
    // Q arrives unit-norm with μ as its last row; a row equal to μ scores 0.
    const qmu = g.input('qmu', 'float32', ['q1', 1]);
    const mm = g.input('mm', 'float32', []);
    const all = g.node('Sub', [gemm(Q, 'dots_all'), qmu], {}, 'dots_centred');
    const nq = g.node('Sub', [g.node('Slice', [g.node('Shape', [Q], {}, 'q_shape'), g.constInt64([0]), g.constInt64([1])], {}, 'q_rows'), g.constInt64([1])], {}, 'q_count');
    const dots = g.node('Slice', [all, g.constInt64([0]), nq, g.constInt64([0])], {}, 'dots');
    const xmu = g.node('Slice', [all, nq, g.node('Add', [nq, g.constInt64([1])], {}, 'q_end'), g.constInt64([0])], {}, 'x_mu');
    const sq = g.node('Add', [g.node('Sub', [rowSq(), g.node('Mul', [xmu, g.constFloat([2], [])], {}, 'x_mu2')], {}, 'xx_m_2xmu'), mm], {}, 'centred_sq');
    const norms = g.node('Sqrt', [g.node('Max', [sq, g.constFloat([1e-30], [])], {}, 'centred_sq_pos')], {}, 'row_norm');
    scores = g.node('Div', [dots, norms], {}, 'cosines');
  } else if (metric === 'l2') {
    // |q − x|² = |q|² − 2 q·x + |x|², clamped at 0 against rounding.
    const qq = g.node('ReduceSumSquare', [Q, g.constInt64([1])], { keepdims: { i: 1 } }, 'query_sq');
    const sq = g.node('Add', [g.node('Sub', [qq, g.node('Mul', [gemm(Q, 'dots'), g.constFloat([2], [])], {}, 'dots2')], {}, 'qq_m_2qx'), rowSq()], {}, 'dist_sq');
    scores = g.node('Sqrt', [g.node('Max', [sq, g.constFloat([0], [])], {}, 'dist_sq_pos')], {}, 'dist');
  } else {
    const diff = g.node('Sub', [g.node('Unsqueeze', [Q, g.constInt64([1])], {}, 'q3'), g.node('Unsqueeze', [X, g.constInt64([0])], {}, 'x3')], {}, 'diff');
    scores = g.node('ReduceSum', [g.node('Abs', [diff], {}, 'abs_diff'), g.constInt64([2])], { keepdims: { i: 0 } }, 'l1');
  }
  const [values, indices] = g.nodeMulti('TopK', [scores, k], { axis: { i: -1 }, largest: { i: largest ? 1 : 0 }, sorted: { i: 1 } }, ['top.values', 'top.indices']);
  g.output(values, 'float32', ['q', 'k']);
  g.output(indices, 'int64', ['q', 'k']);
  return g.toBytes();
}

/** The graph's query-side inputs for `queries` under `metric` with rows centred on `mu`. */
function queryInputs(metric: IndexMetric, queries: Float32Array, nq: number, mu: Float32Array): Record<string, ort.Tensor> {
  const D = mu.length;
  const dotMu = (q: Float32Array, i: number): number => {
    let s = 0;
    for (let j = 0; j < D; j++) s += q[i * D + j] * mu[j];
    return s;
  };
  if (metric === 'ip') return { Q: new ort.Tensor('float32', queries, [nq, D]), qmu: new ort.Tensor('float32', Float32Array.from({ length: nq }, (_, i) => dotMu(queries, i)), [nq, 1]) };
  if (metric === 'cosine') {
    const m = new Float32Array((nq + 1) * D);
    m.set(unitRows(queries, D));
    m.set(mu, nq * D);
    // μ's own row gets μ·μ subtracted later as mm, not here: its "dots" are μ·x.
    const qmu = Float32Array.from({ length: nq + 1 }, (_, i) => (i < nq ? dotMu(m, i) : 0));
    return { Q: new ort.Tensor('float32', m, [nq + 1, D]), qmu: new ort.Tensor('float32', qmu, [nq + 1, 1]), mm: new ort.Tensor('float32', Float32Array.of(dotMu(mu, 0)), []) };
  }
  return { Q: new ort.Tensor('float32', queries.map((v, i) => v + mu[i % D]), [nq, D]) };
}

function session(metric: IndexMetric, largest: boolean, threads: number): Promise<ort.InferenceSession> {
  const key = `${metric}/${largest}/${threads}`;
  let s = sessions.get(key);
  if (!s) {
    s = createSession(scoreGraph(metric, largest), computeSessionOptions(threads));
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/** Rows per chunk so that the chunk's score block stays within BLOCK_VALUES. */
function chunkRowsFor(metric: IndexMetric, queries: number, dim: number): number {
  const perRow = metric === 'l1' ? queries * dim : queries;
  return Math.max(1, Math.min(MAX_CHUNK_ROWS, Math.floor(BLOCK_VALUES / perRow)));
}

/** Checks k, the query matrix and (for cosine) the query norms; returns the query count. */
function checkQueries(queries: Float32Array, dim: number, k: number, metric: IndexMetric): number {
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k must be a positive integer, got ${k}`);
  if (queries.length === 0 || queries.length % dim !== 0) throw new InvalidInputError(`queries hold ${queries.length} values, not a whole number of ${dim}-wide rows`);
  for (const v of queries) if (!Number.isFinite(v)) throw new InvalidInputError('a query holds a non-finite value');
  const n = queries.length / dim;
  if (metric === 'cosine') {
    for (let i = 0; i < n; i++) {
      let sq = 0;
      for (let j = 0; j < dim; j++) sq += queries[i * dim + j] ** 2;
      if (sq === 0) throw new InvalidInputError(`query ${i} is all zeros: it has no cosine with anything`);
    }
  }
  return n;
}

/** Each query scaled to unit length (for cosine). */
function unitRows(queries: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(queries.length);
  for (let i = 0; i < queries.length / dim; i++) {
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += queries[i * dim + j] ** 2;
    const inv = 1 / Math.sqrt(sq);
    for (let j = 0; j < dim; j++) out[i * dim + j] = queries[i * dim + j] * inv;
  }
  return out;
}

/**
 * Merges a chunk's sorted winners into the running best k of one query: `better(a, b)` says
 * score a ranks before b; equal scores keep the lower row first (earlier chunks hold lower rows).
 */
function mergeInto(best: { rows: number[]; scores: number[] }, rows: ArrayLike<number>, scores: ArrayLike<number>, k: number, better: (a: number, b: number) => boolean): void {
  const outRows: number[] = [];
  const outScores: number[] = [];
  let i = 0;
  let j = 0;
  while (outRows.length < k && (i < best.rows.length || j < rows.length)) {
    const takeNew = i >= best.rows.length || (j < rows.length && better(scores[j], best.scores[i]));
    if (takeNew) {
      outRows.push(rows[j]);
      outScores.push(scores[j]);
      j++;
    } else {
      outRows.push(best.rows[i]);
      outScores.push(best.scores[i]);
      i++;
    }
  }
  best.rows = outRows;
  best.scores = outScores;
}

/**
 * The exact k nearest (or farthest) rows of `source` to each query ([queries, dim], row-major).
 * Cosine queries are normalised here; centring applies to the rows only, so pass queries already
 * centred when they are points of the same space.
 */
export async function exactSearch(source: RowSource, queries: Float32Array, opts: ExactSearchOptions): Promise<Neighbours> {
  const { metric, k } = opts;
  if (!(INDEX_METRICS as readonly string[]).includes(metric)) throw new InvalidInputError(`metric must be one of ${INDEX_METRICS.join(', ')}, got ${String(metric)}`);
  const D = source.dim;
  const nq = checkQueries(queries, D, k, metric);
  const mu = opts.center ?? new Float32Array(D);
  if (mu.length !== D) throw new InvalidInputError(`the centre has ${mu.length} values, the rows ${D}`);
  const threads = opts.threads ?? defaultThreads();
  const largest = higherIsNearer(metric) !== (opts.farthest ?? false);
  const better = largest ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  const s = await session(metric, largest, threads);
  const inputs = queryInputs(metric, queries, nq, mu);
  const best = Array.from({ length: nq }, () => ({ rows: [] as number[], scores: [] as number[] }));
  if (opts.chunkRows !== undefined && (!Number.isInteger(opts.chunkRows) || opts.chunkRows < 1)) throw new InvalidInputError(`chunkRows must be a positive integer, got ${opts.chunkRows}`);
  const chunkRows = Math.min(opts.chunkRows ?? Infinity, chunkRowsFor(metric, nq, D));
  for await (const chunk of source.chunks(chunkRows)) {
    const n = chunk.data.length / D;
    const kc = Math.min(k, n);
    const out = await s.run({ ...inputs, X: new ort.Tensor('float32', chunk.data, [n, D]), k: new ort.Tensor('int64', BigInt64Array.of(BigInt(kc)), [1]) });
    const values = out['top.values'].data as Float32Array;
    const indices = out['top.indices'].data as BigInt64Array;
    for (let i = 0; i < nq; i++) {
      const rows = Array.from(indices.subarray(i * kc, (i + 1) * kc), (r) => chunk.start + Number(r));
      mergeInto(best[i], rows, values.subarray(i * kc, (i + 1) * kc), k, better);
    }
  }
  const rows = new Int32Array(nq * k).fill(-1);
  const scores = new Float32Array(nq * k).fill(NaN);
  best.forEach((b, i) => {
    rows.set(b.rows, i * k);
    scores.set(b.scores, i * k);
  });
  return { queries: nq, k, rows, scores };
}
