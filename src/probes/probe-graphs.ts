import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { createSession } from '../graph/create-session.js';

/**
 * The O(rows × dim) and O(rows × dim²) work of probe fitting, as small ORT graphs with symbolic
 * sizes (built once per process). JS keeps only dim-sized vectors and the (dim+1)² systems.
 *
 *   moments : X [n, d]                     → mean [d], variance [d] (population)
 *   design  : X [n, d], mean [d], inv_std [d] → Z = [(X − mean) · inv_std, 1]  [n, d+1]
 *   gram    : Z [n, p]                       → ZᵀZ [p, p]
 *   cross   : Z [n, p], U [n, k]             → ZᵀU [p, k]
 *   kernel  : Z [n, p]                       → ZZᵀ [n, n]   (float64 inside, for the dual path)
 *   cross64 : Z [n, p], U [n, k]             → ZᵀU [p, k]   (float64 inside)
 *   newton  : Z [n, p], w [p, 1], y [n, 1]   → Zᵀ(σ(Zw) − y) [p, 1], Zᵀ diag(σ(1−σ)) Z [p, p], Zw [n, 1]
 *   scores  : Z [n, p], W [p, m]             → ZW [n, m]
 */

interface Sessions {
  readonly moments: ort.InferenceSession;
  readonly design: ort.InferenceSession;
  readonly gram: ort.InferenceSession;
  readonly cross: ort.InferenceSession;
  readonly kernel: ort.InferenceSession;
  readonly cross64: ort.InferenceSession;
  readonly newton: ort.InferenceSession;
  readonly scores: ort.InferenceSession;
}

let sessions: Promise<Sessions> | undefined;

const keep = { keepdims: { i: 0 } } as const;
const transA = { transA: { i: 1 } } as const;

function momentsGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_moments');
  const X = g.input('X', 'float32', ['n', 'd']);
  const axis0 = g.constInt64([0]);
  const mean = g.node('ReduceMean', [X, axis0], keep, 'mean');
  const dev = g.node('Sub', [X, mean], {}, 'dev');
  const variance = g.node('ReduceMean', [g.node('Mul', [dev, dev], {}, 'dev_sq'), axis0], keep, 'variance');
  g.output(mean, 'float32', ['d']);
  g.output(variance, 'float32', ['d']);
  return g;
}

function designGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_design');
  const X = g.input('X', 'float32', ['n', 'd']);
  const mean = g.input('mean', 'float32', ['d']);
  const invStd = g.input('inv_std', 'float32', ['d']);
  const Z = g.node('Mul', [g.node('Sub', [X, mean], {}, 'centred'), invStd], {}, 'standardised');
  // The intercept as a ones column, so one system carries weights and bias together.
  const rows = g.node('Shape', [X], { start: { i: 0 }, end: { i: 1 } }, 'rows');
  const onesShape = g.node('Concat', [rows, g.constInt64([1])], { axis: { i: 0 } }, 'ones_shape');
  const ones = g.node('Expand', [g.constFloat([1], [1, 1]), onesShape], {}, 'ones');
  g.output(g.node('Concat', [Z, ones], { axis: { i: 1 } }, 'design'), 'float32', ['n', 'p'], 'Z');
  return g;
}

function gramGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_gram');
  const Z = g.input('Z', 'float32', ['n', 'p']);
  g.output(g.node('Gemm', [Z, Z], transA, 'gram'), 'float32', ['p', 'p']);
  return g;
}

function crossGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_cross');
  const Z = g.input('Z', 'float32', ['n', 'p']);
  const U = g.input('U', 'float32', ['n', 'k']);
  g.output(g.node('Gemm', [Z, U], transA, 'cross'), 'float32', ['p', 'k']);
  return g;
}

const toDouble = { to: { i: 11 } } as const;
const toFloat = { to: { i: 1 } } as const;

/**
 * A float64 result returned as two float32 tensors (hi + lo ≈ 48 significant bits): the builder's
 * graph inputs and outputs are float32, but the dual path needs the kernel and Xᵀα to float64 precision.
 */
function outputSplit(g: GraphBuilder, value: string, dims: readonly (number | string)[], name: string): void {
  const hi = g.node('Cast', [value], toFloat, `${name}_hi_f`);
  const lo = g.node('Cast', [g.node('Sub', [value, g.node('Cast', [hi], toDouble, `${name}_hi_d`)], {}, `${name}_rest`)], toFloat, `${name}_lo_f`);
  g.output(hi, 'float32', dims, `${name}_hi`);
  g.output(lo, 'float32', dims, `${name}_lo`);
}

function kernelGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_kernel');
  const Z = g.node('Cast', [g.input('Z', 'float32', ['n', 'p'])], toDouble, 'Z64');
  outputSplit(g, g.node('Gemm', [Z, Z], { transB: { i: 1 } }, 'kernel'), ['n', 'n'], 'kernel');
  return g;
}

function cross64Graph(): GraphBuilder {
  const g = new GraphBuilder('probe_cross64');
  const Z = g.node('Cast', [g.input('Z', 'float32', ['n', 'p'])], toDouble, 'Z64');
  const hi = g.node('Cast', [g.input('U_hi', 'float32', ['n', 'k'])], toDouble, 'U_hi64');
  const lo = g.node('Cast', [g.input('U_lo', 'float32', ['n', 'k'])], toDouble, 'U_lo64');
  outputSplit(g, g.node('Gemm', [Z, g.node('Add', [hi, lo], {}, 'U64')], transA, 'cross'), ['p', 'k'], 'cross');
  return g;
}

function newtonGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_newton');
  const Z = g.input('Z', 'float32', ['n', 'p']);
  const w = g.input('w', 'float32', ['p', 1]);
  const y = g.input('y', 'float32', ['n', 1]);
  const logits = g.node('MatMul', [Z, w], {}, 'logits');
  const p = g.node('Sigmoid', [logits], {}, 'p');
  const q = g.node('Sigmoid', [g.node('Neg', [logits], {}, 'neg_logits')], {}, 'q'); // 1 − p without cancellation
  // σ(l) − y written as p·(1 − y) − q·y: exact in float32 even where p rounds to 1.
  const one = g.constFloat([1], []);
  const residual = g.node('Sub', [g.node('Mul', [p, g.node('Sub', [one, y], {}, 'not_y')], {}, 'p_neg'), g.node('Mul', [q, y], {}, 'q_pos')], {}, 'residual');
  const s = g.node('Mul', [p, q], {}, 'curvature');
  g.output(g.node('Gemm', [Z, residual], transA, 'gradient'), 'float32', ['p', 1]);
  g.output(g.node('Gemm', [Z, g.node('Mul', [Z, s], {}, 'weighted')], transA, 'hessian'), 'float32', ['p', 'p']);
  g.output(logits, 'float32', ['n', 1]);
  return g;
}

function scoresGraph(): GraphBuilder {
  const g = new GraphBuilder('probe_scores');
  const Z = g.input('Z', 'float32', ['n', 'p']);
  const W = g.input('W', 'float32', ['p', 'm']);
  g.output(g.node('MatMul', [Z, W], {}, 'scores'), 'float32', ['n', 'm']);
  return g;
}

function build(): Promise<Sessions> {
  const opts: ort.InferenceSession.SessionOptions = computeSessionOptions(defaultThreads());
  const make = (g: GraphBuilder): Promise<ort.InferenceSession> => createSession(g.toBytes(), opts);
  return Promise.all([momentsGraph(), designGraph(), gramGraph(), crossGraph(), kernelGraph(), cross64Graph(), newtonGraph(), scoresGraph()].map(make)).then(
    ([moments, design, gram, cross, kernel, cross64, newton, scores]) => ({ moments, design, gram, cross, kernel, cross64, newton, scores }),
  );
}

function get(): Promise<Sessions> {
  sessions ??= build().catch((e: unknown) => {
    sessions = undefined;
    throw e;
  });
  return sessions;
}

const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, [...dims]);
/** ORT may hand back views of buffers it reuses; callers keep copies. */
const copy = (t: ort.Tensor): Float32Array => (t.data as Float32Array).slice();

/** Column means and population variances of X [rows, dim]. */
export async function columnMoments(X: Float32Array, rows: number, dim: number): Promise<{ mean: Float32Array; variance: Float32Array }> {
  const { moments } = await get();
  const out = await moments.run({ X: f32(X, [rows, dim]) });
  return { mean: copy(out.mean), variance: copy(out.variance) };
}

/** The standardised design matrix with a ones column: [rows, dim + 1], kept as an ORT tensor for repeated products. */
export async function designMatrix(X: Float32Array, rows: number, dim: number, mean: Float32Array, invStd: Float32Array): Promise<ort.Tensor> {
  const { design } = await get();
  const out = await design.run({ X: f32(X, [rows, dim]), mean: f32(mean, [dim]), inv_std: f32(invStd, [dim]) });
  return out.Z;
}

/** ZᵀZ [p, p]. */
export async function gramMatrix(Z: ort.Tensor): Promise<Float32Array> {
  const { gram } = await get();
  return copy((await gram.run({ Z })).gram);
}

/** ZᵀU [p, k] for U [rows, k]. */
export async function crossProduct(Z: ort.Tensor, U: Float32Array, k: number): Promise<Float32Array> {
  const { cross } = await get();
  return copy((await cross.run({ Z, U: f32(U, [Z.dims[0], k]) })).cross);
}

const joined = (hi: ort.Tensor, lo: ort.Tensor): Float64Array => {
  const h = hi.data as Float32Array;
  const l = lo.data as Float32Array;
  return Float64Array.from(h, (v, i) => v + l[i]);
};

/** ZZᵀ [rows, rows], accumulated in float64. */
export async function kernelMatrix(Z: ort.Tensor): Promise<Float64Array> {
  const { kernel } = await get();
  const out = await kernel.run({ Z });
  return joined(out.kernel_hi, out.kernel_lo);
}

/** ZᵀU [p, k] for a float64 U [rows, k], accumulated in float64. */
export async function crossProduct64(Z: ort.Tensor, U: Float64Array, k: number): Promise<Float64Array> {
  const { cross64 } = await get();
  const hi = Float32Array.from(U);
  const lo = Float32Array.from(U, (v, i) => v - hi[i]);
  const out = await cross64.run({ Z, U_hi: f32(hi, [Z.dims[0], k]), U_lo: f32(lo, [Z.dims[0], k]) });
  return joined(out.cross_hi, out.cross_lo);
}

/** One Newton step's pieces for the (unregularised) logistic loss at weights w [p]. */
export async function logisticPieces(Z: ort.Tensor, w: Float32Array, y: Float32Array): Promise<{ gradient: Float32Array; hessian: Float32Array; logits: Float32Array }> {
  const { newton } = await get();
  const out = await newton.run({ Z, w: f32(w, [w.length, 1]), y: f32(y, [Z.dims[0], 1]) });
  return { gradient: copy(out.gradient), hessian: copy(out.hessian), logits: copy(out.logits) };
}

/** Z W for several weight columns at once: W [p, m] → [rows, m]. */
export async function linearScores(Z: ort.Tensor, W: Float32Array, m: number): Promise<Float32Array> {
  const { scores } = await get();
  const out = await scores.run({ Z, W: f32(W, [Z.dims[1], m]) });
  return copy(out.scores);
}
