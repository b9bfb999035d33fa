import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { createSession } from '../graph/create-session.js';

/**
 * The iterative linear algebra of vector extraction (power iteration, logistic regression),
 * as two small ORT graphs fed the data matrix without copying: each step is O(rows × dim)
 * and runs hundreds of times per layer, which is ORT's work, not a JS loop's.
 */

let sessions: Promise<{ gram: ort.InferenceSession; logistic: ort.InferenceSession }> | undefined;

function build(): Promise<{ gram: ort.InferenceSession; logistic: ort.InferenceSession }> {
  const opts: ort.InferenceSession.SessionOptions = computeSessionOptions(defaultThreads());

  // Xᵀ(X v): one power-iteration step on XᵀX without forming it.
  const g = new GraphBuilder('gram_vec');
  const X = g.input('X', 'float32', ['rows', 'dim']);
  const v = g.input('v', 'float32', ['dim', 1]);
  const Xv = g.node('MatMul', [X, v], {}, 'Xv');
  const row = g.node('MatMul', [g.node('Transpose', [Xv], { perm: { ints: [1, 0] } }, 'Xv_t'), X], {}, 'XtXv');
  g.output(row, 'float32', [1, 'dim']);

  // Gradient of the mean logistic loss: Zᵀ(σ(Z w + b) − y) / rows, and Σ(σ − y) / rows.
  const l = new GraphBuilder('logistic_grad');
  const Z = l.input('Z', 'float32', ['rows', 'dim']);
  const w = l.input('w', 'float32', ['dim', 1]);
  const b = l.input('b', 'float32', [1]);
  const y = l.input('y', 'float32', ['rows', 1]);
  const inv = l.input('inv_rows', 'float32', [1]);
  const p = l.node('Sigmoid', [l.node('Add', [l.node('MatMul', [Z, w], {}, 'Zw'), b], {}, 'logit')], {}, 'p');
  const err = l.node('Mul', [l.node('Sub', [p, y], {}, 'err_sum'), inv], {}, 'err');
  const gw = l.node('MatMul', [l.node('Transpose', [err], { perm: { ints: [1, 0] } }, 'err_t'), Z], {}, 'grad_w');
  const gb = l.node('ReduceSum', [err], { keepdims: { i: 0 } }, 'grad_b');
  l.output(gw, 'float32', [1, 'dim']);
  l.output(gb, 'float32', []);

  return Promise.all([createSession(g.toBytes(), opts), createSession(l.toBytes(), opts)]).then(
    ([gram, logistic]) => ({ gram, logistic }),
  );
}

function get(): Promise<{ gram: ort.InferenceSession; logistic: ort.InferenceSession }> {
  sessions ??= build();
  return sessions;
}

/** A [rows, dim] matrix held as an ORT tensor, for repeated products. */
export function matrix(data: Float32Array, rows: number, dim: number): ort.Tensor {
  return new ort.Tensor('float32', data, [rows, dim]);
}

/** Xᵀ(X v) for X [rows, dim]. */
export async function gramVec(X: ort.Tensor, v: Float32Array): Promise<Float32Array> {
  const { gram } = await get();
  const out = await gram.run({ X, v: new ort.Tensor('float32', v, [v.length, 1]) });
  return out[gram.outputNames[0]].data as Float32Array;
}

/** Mean logistic-loss gradient with respect to (w, b) for features Z [rows, dim] and labels y ∈ {0, 1}. */
export async function logisticGradient(
  Z: ort.Tensor,
  y: Float32Array,
  w: Float32Array,
  b: number,
): Promise<{ w: Float32Array; b: number }> {
  const { logistic } = await get();
  const rows = Z.dims[0];
  const out = await logistic.run({
    Z,
    w: new ort.Tensor('float32', w, [w.length, 1]),
    b: new ort.Tensor('float32', Float32Array.of(b), [1]),
    y: new ort.Tensor('float32', y, [rows, 1]),
    inv_rows: new ort.Tensor('float32', Float32Array.of(1 / rows), [1]),
  });
  return { w: out[logistic.outputNames[0]].data as Float32Array, b: (out[logistic.outputNames[1]].data as Float32Array)[0] };
}
