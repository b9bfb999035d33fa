import * as ort from 'onnxruntime-node';
import { float, GraphBuilder, int } from '../graph/onnx-builder.js';
import { InvalidInputError } from '../io/errors.js';
import { computeSessionOptions } from '../graph/session-options.js';
import type { HookedModel } from './model.js';
import { createSession } from '../graph/create-session.js';

/**
 * The model's unembedding applied to vectors of our choosing, as two small ORT graphs per model
 * (the weights are graph inputs, fed from the model's own copy):
 *
 *   direct logit weights of a direction v   (v' ⊙ g) · W_U        v' = v, or v − mean(v) for
 *                                                                  LayerNorm models (the norm
 *                                                                  removes the mean first)
 *   the head on residual-stream rows x      norm(x) · W_U + b     with the final norm as the
 *                                                                  model computes it: the logit lens
 *
 * The direct weights leave out the norm's 1/scale, which rescales every token alike, and the
 * layers between where v is added and the head. The SAE feature lens, direction lens and the
 * per-layer logit lens of a text share this one core.
 */

/** k tokens per row: ids and values [rows × k], row-major, largest (or most negative) first. */
export interface TopTokens {
  readonly k: number;
  readonly ids: Int32Array;
  readonly values: Float32Array;
}

interface Unembedding {
  readonly vocab: number;
  readonly feeds: Readonly<Record<string, ort.Tensor>>;
  direct?: Promise<ort.InferenceSession>;
  head?: Promise<ort.InferenceSession>;
}

const cache = new WeakMap<HookedModel, Unembedding>();

/** Logits computed per ORT run at most (a chunk of rows × vocabulary, 64 MiB of float32). */
const CHUNK_FLOATS = 1 << 24;

function unembedding(model: HookedModel): Unembedding {
  let u = cache.get(model);
  if (u) return u;
  const D = model.spec.hiddenSize;
  // Dequantized once per model when the unembedding is packed (kept for the model's lifetime).
  const out = model.denseWeight('output.weight');
  if (!out || out.shape.length !== 2 || out.shape[0] !== D) {
    throw new InvalidInputError(`the model has no [${D}, vocab] unembedding (output.weight): cannot compute logits of a vector`);
  }
  const V = out.shape[1];
  const vec = (name: string, size: number, fill: number): ort.Tensor => new ort.Tensor('float32', model.weights.get(name)?.data ?? new Float32Array(size).fill(fill), [size]);
  u = {
    vocab: V,
    feeds: {
      W_U: new ort.Tensor('float32', out.data, [D, V]),
      gain: vec('output_norm.weight', D, 1),
      norm_bias: vec('output_norm.bias', D, 0),
      out_bias: vec('output.bias', V, 0),
    },
  };
  cache.set(model, u);
  return u;
}

function session(model: HookedModel, g: GraphBuilder): Promise<ort.InferenceSession> {
  return createSession(g.toBytes(), computeSessionOptions(model.threads));
}

function directSession(model: HookedModel, V: number): Promise<ort.InferenceSession> {
  const D = model.spec.hiddenSize;
  const g = new GraphBuilder('direct_logit_weights');
  let dirs = g.input('rows', 'float32', ['n', D]);
  if (model.spec.norm === 'layer') {
    dirs = g.node('Sub', [dirs, g.node('ReduceMean', [dirs, g.constInt64([-1])], { keepdims: int(1) }, 'rows_mean')], {}, 'rows_centred');
  }
  const scaled = g.node('Mul', [dirs, g.input('gain', 'float32', [D])], {}, 'rows_scaled');
  const logits = g.node('MatMul', [scaled, g.input('W_U', 'float32', [D, V])], {}, 'logit_weights');
  topAndBottom(g, logits);
  return session(model, g);
}

function headSession(model: HookedModel, V: number): Promise<ort.InferenceSession> {
  const { spec } = model;
  const D = spec.hiddenSize;
  const g = new GraphBuilder('logit_lens_head');
  const rows = g.input('rows', 'float32', ['n', D]);
  const gain = g.input('gain', 'float32', [D]);
  const attrs = { axis: int(-1), epsilon: float(spec.normEps) };
  // The same ops as the model's own head (../graph/blocks.ts norm), so the last layer's lens is the model's output.
  const normed =
    spec.norm === 'rms'
      ? g.node('SimplifiedLayerNormalization', [rows, gain], attrs, 'normed')
      : g.node('LayerNormalization', [rows, gain, g.input('norm_bias', 'float32', [D])], attrs, 'normed');
  const logits = g.node('Add', [g.node('MatMul', [normed, g.input('W_U', 'float32', [D, V])], {}, 'logits_raw'), g.input('out_bias', 'float32', [V])], {}, 'logits');
  const [topV, topI] = g.nodeMulti('TopK', [logits, g.input('k', 'int64', [1])], { axis: int(-1), largest: int(1), sorted: int(1) }, ['top.values', 'top.indices']);
  const logprobs = g.node('GatherElements', [g.node('LogSoftmax', [logits], { axis: int(-1) }, 'logprobs'), topI], { axis: int(-1) }, 'top.logprobs');
  g.output(topV, 'float32', ['n', 'k']);
  g.output(topI, 'int64', ['n', 'k']);
  g.output(logprobs, 'float32', ['n', 'k']);
  return session(model, g);
}

function topAndBottom(g: GraphBuilder, logits: string): void {
  const k = g.input('k', 'int64', [1]);
  const [topV, topI] = g.nodeMulti('TopK', [logits, k], { axis: int(-1), largest: int(1), sorted: int(1) }, ['top.values', 'top.indices']);
  const [botV, botI] = g.nodeMulti('TopK', [logits, k], { axis: int(-1), largest: int(0), sorted: int(1) }, ['bottom.values', 'bottom.indices']);
  g.output(topV, 'float32', ['n', 'k']);
  g.output(topI, 'int64', ['n', 'k']);
  g.output(botV, 'float32', ['n', 'k']);
  g.output(botI, 'int64', ['n', 'k']);
}

/**
 * Runs a session over `n` rows in chunks that keep rows × vocabulary bounded; `take` copies
 * each named output of a chunk into place.
 */
async function runChunked(
  model: HookedModel,
  sess: ort.InferenceSession,
  u: Unembedding,
  rows: Float32Array,
  n: number,
  top: number,
  inputs: readonly string[],
): Promise<{ k: number; outputs: Map<string, Float32Array | Int32Array> }> {
  const D = model.spec.hiddenSize;
  if (!Number.isInteger(n) || n < 1 || rows.length !== n * D) throw new InvalidInputError(`expected ${n} rows of ${D} values, got ${rows.length} values`);
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  const k = Math.min(top, u.vocab);
  const names = sess.outputNames;
  const outputs = new Map<string, Float32Array | Int32Array>(names.map((name) => [name, name.endsWith('indices') ? new Int32Array(n * k) : new Float32Array(n * k)]));
  const step = Math.max(1, Math.floor(CHUNK_FLOATS / u.vocab));
  const feeds: Record<string, ort.Tensor> = { k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]) };
  for (const name of inputs) feeds[name] = u.feeds[name];
  for (let start = 0; start < n; start += step) {
    const m = Math.min(step, n - start);
    const out = await sess.run({ ...feeds, rows: new ort.Tensor('float32', rows.subarray(start * D, (start + m) * D), [m, D]) });
    for (const name of names) {
      const target = outputs.get(name)!;
      const data = out[name].data;
      if (target instanceof Int32Array) (data as BigInt64Array).forEach((v, i) => (target[start * k + i] = Number(v)));
      else target.set(data as Float32Array, start * k);
    }
  }
  return { k, outputs };
}

/**
 * The `top` tokens each direction promotes most and suppresses most through the unembedding
 * (dirs: n rows of the hidden size).
 */
export async function directLogitWeights(model: HookedModel, dirs: Float32Array, n: number, top: number): Promise<{ promoted: TopTokens; suppressed: TopTokens }> {
  const u = unembedding(model);
  u.direct ??= directSession(model, u.vocab);
  u.direct.catch(() => (u.direct = undefined));
  const { k, outputs } = await runChunked(model, await u.direct, u, dirs, n, top, ['gain', 'W_U']);
  const at = (v: string, i: string): TopTokens => ({ k, values: outputs.get(v) as Float32Array, ids: outputs.get(i) as Int32Array });
  return { promoted: at('top.values', 'top.indices'), suppressed: at('bottom.values', 'bottom.indices') };
}

/**
 * The model's head (final norm, unembedding) on n residual-stream rows: each row's `top` tokens
 * by logit, with their logits and log-probabilities.
 */
export async function headTopTokens(model: HookedModel, rows: Float32Array, n: number, top: number): Promise<TopTokens & { readonly logprobs: Float32Array }> {
  const u = unembedding(model);
  u.head ??= headSession(model, u.vocab);
  u.head.catch(() => (u.head = undefined));
  const inputs = ['gain', 'W_U', 'out_bias', ...(model.spec.norm === 'layer' ? ['norm_bias'] : [])];
  const { k, outputs } = await runChunked(model, await u.head, u, rows, n, top, inputs);
  return { k, ids: outputs.get('top.indices') as Int32Array, values: outputs.get('top.values') as Float32Array, logprobs: outputs.get('top.logprobs') as Float32Array };
}
