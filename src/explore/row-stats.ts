/**
 * The two passes of building a centred index, as small ORT graphs: the mean row of a row
 * source, and a chunk of rows with a row subtracted.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import type { RowSource } from './row-source.js';
import { createSession } from '../graph/create-session.js';

let graphs: Promise<{ sum: ort.InferenceSession; sub: ort.InferenceSession }> | undefined;

function sessions(threads: number): Promise<{ sum: ort.InferenceSession; sub: ort.InferenceSession }> {
  if (!graphs) {
    const opts = computeSessionOptions(threads);
    const s = new GraphBuilder('column_sums');
    s.output(s.node('ReduceSum', [s.input('X', 'float32', ['n', 'd']), s.constInt64([0])], { keepdims: { i: 0 } }, 'sums'), 'float32', ['d']);
    const c = new GraphBuilder('subtract_row');
    c.output(c.node('Sub', [c.input('X', 'float32', ['n', 'd']), c.input('mu', 'float32', [1, 'd'])], {}, 'centred'), 'float32', ['n', 'd']);
    graphs = Promise.all([createSession(s.toBytes(), opts), createSession(c.toBytes(), opts)]).then(([sum, sub]) => ({ sum, sub }));
    graphs.catch(() => {
      graphs = undefined;
    });
  }
  return graphs;
}

/** The mean of every row of `source` (chunk sums accumulated in float64). */
export async function meanRow(source: RowSource, opts: { threads?: number; chunkRows?: number; onChunk?: (rows: number) => void } = {}): Promise<Float32Array> {
  const { sum } = await sessions(opts.threads ?? defaultThreads());
  const D = source.dim;
  const acc = new Float64Array(D);
  for await (const c of source.chunks(opts.chunkRows ?? 1 << 16)) {
    const n = c.data.length / D;
    const out = await sum.run({ X: new ort.Tensor('float32', c.data, [n, D]) });
    const s = out.sums.data as Float32Array;
    for (let j = 0; j < D; j++) acc[j] += s[j];
    opts.onChunk?.(n);
  }
  return Float32Array.from(acc, (v) => v / Math.max(1, source.rows));
}

/** `data` [rows, dim] minus `mu` [dim] from every row. */
export async function subtractRow(data: Float32Array, mu: Float32Array, threads = defaultThreads()): Promise<Float32Array> {
  const { sub } = await sessions(threads);
  const D = mu.length;
  const out = await sub.run({ X: new ort.Tensor('float32', data, [data.length / D, D]), mu: new ort.Tensor('float32', mu, [1, D]) });
  return out.centred.data as Float32Array;
}
