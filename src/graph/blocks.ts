import type { ModelSpec } from '../model/spec.js';
import { float, int, type GraphBuilder } from './onnx-builder.js';

/**
 * Shared transformer blocks (norm, linear, attention, MLPs). Architectures only say which
 * tensors they have and how blocks connect (see ./archs). Activations are [batch, seq, features];
 * linear weights are [in, out].
 */

/** Names of the per-run inputs every layer of a segment shares. */
export interface RunInputs {
  /** Additive attention mask [batch, 1, seq, past+seq]. */
  readonly attnMask: string;
  /** int64 [batch, seq] absolute positions (RoPE models). */
  readonly positionIds?: string;
  /** RoPE tables [maxPos, rotDim/2]. */
  readonly ropeCos?: string;
  readonly ropeSin?: string;
}

export interface LayerContext {
  readonly g: GraphBuilder;
  readonly spec: ModelSpec;
  readonly layer: number;
  readonly run: RunInputs;
  /** Declares a weight of this model as a graph input; throws if the model lacks it. */
  weight(name: string): string;
  /** Same, or undefined when the model has no such tensor (optional biases). */
  maybeWeight(name: string): string | undefined;
  /** x @ W for a linear weight [in, out], float32 or block-quantized alike. */
  matmul(x: string, weightName: string, outName: string): string;
  /**
   * Joins this layer's cached keys/values (graph inputs [batch, past, width]) with the new ones and
   * returns the new ones as graph outputs, so the runtime can append them to its cache.
   */
  kvCache(key: string, value: string): { keys: string; values: string };
}

/** `blk.{l}.{name}` */
export function blk(c: LayerContext, name: string): string {
  return `blk.${c.layer}.${name}`;
}

export function norm(c: LayerContext, x: string, prefix: string): string {
  const { g, spec } = c;
  if (spec.norm === 'rms') {
    // ORT's SimplifiedLayerNormalization is RMSNorm; unlike opset 23's RMSNormalization, ORT fuses
    // it with the residual Add before it into one SkipSimplifiedLayerNormalization kernel.
    return g.node('SimplifiedLayerNormalization', [x, c.weight(`${prefix}.weight`)], { axis: int(-1), epsilon: float(spec.normEps) }, prefix);
  }
  const bias = c.maybeWeight(`${prefix}.bias`);
  return g.node(
    'LayerNormalization',
    bias ? [x, c.weight(`${prefix}.weight`), bias] : [x, c.weight(`${prefix}.weight`)],
    { axis: int(-1), epsilon: float(spec.normEps) },
    prefix,
  );
}

/** x @ W (+ b), the bias only when the model stores one. */
function linear(c: LayerContext, x: string, prefix: string): string {
  const y = c.matmul(x, `${prefix}.weight`, prefix);
  const b = c.maybeWeight(`${prefix}.bias`);
  return b ? c.g.node('Add', [y, b], {}, `${prefix}.biased`) : y;
}

/** RMSNorm over each head's features (Qwen3's q_norm / k_norm). */
function perHeadRmsNorm(c: LayerContext, x: string, heads: number, prefix: string): string {
  const { g, spec } = c;
  const split = g.node('Reshape', [x, g.constInt64([0, 0, heads, spec.headDim])], {}, `${prefix}.heads`);
  const normed = g.node('RMSNormalization', [split, c.weight(`${prefix}.weight`)], { axis: int(-1), epsilon: float(spec.normEps) }, prefix);
  return g.node('Reshape', [normed, g.constInt64([0, 0, heads * spec.headDim])], {}, `${prefix}.flat`);
}

function rope(c: LayerContext, x: string, heads: number, name: string): string {
  const { g, spec, run } = c;
  if (!run.ropeCos || !run.ropeSin || !run.positionIds || !spec.rope) throw new Error('RoPE inputs missing for a RoPE model');
  return g.node('RotaryEmbedding', [x, run.ropeCos, run.ropeSin, run.positionIds], {
    num_heads: int(heads),
    rotary_embedding_dim: int(spec.rope.dim),
    interleaved: int(0),
  }, name);
}

/**
 * Causal self-attention with grouped-query heads and a KV cache, using the standard
 * ONNX Attention op (opset 23) on 3-D [batch, seq, heads*headDim] tensors; the mask input
 * carries causality and padding.
 */
export function selfAttention(c: LayerContext, x: string): string {
  const { g, spec } = c;
  let q = linear(c, x, blk(c, 'attn_q'));
  let k = linear(c, x, blk(c, 'attn_k'));
  const v = linear(c, x, blk(c, 'attn_v'));
  if (spec.qkNorm) {
    q = perHeadRmsNorm(c, q, spec.numHeads, blk(c, 'attn_q_norm'));
    k = perHeadRmsNorm(c, k, spec.numKvHeads, blk(c, 'attn_k_norm'));
  }
  if (spec.positions === 'rope') {
    q = rope(c, q, spec.numHeads, blk(c, 'attn_q_rope'));
    k = rope(c, k, spec.numKvHeads, blk(c, 'attn_k_rope'));
  }
  const all = c.kvCache(k, v);
  const y = g.node(
    'Attention',
    [q, all.keys, all.values, c.run.attnMask],
    { q_num_heads: int(spec.numHeads), kv_num_heads: int(spec.numKvHeads), scale: float(1 / Math.sqrt(spec.headDim)) },
    blk(c, 'attn_heads'),
  );
  return linear(c, y, blk(c, 'attn_output'));
}

function activation(c: LayerContext, x: string, name: string): string {
  const { g, spec } = c;
  switch (spec.activation) {
    case 'silu':
      return g.node('Mul', [x, g.node('Sigmoid', [x], {}, `${name}.sigmoid`)], {}, name);
    case 'gelu_tanh':
      return g.node('Gelu', [x], { approximate: { s: 'tanh' } }, name);
    case 'gelu':
      return g.node('Gelu', [x], {}, name);
  }
}

/** down(act(gate(x)) * up(x)): Llama, Qwen, Mistral. */
export function gatedMlp(c: LayerContext, x: string): string {
  const gate = activation(c, linear(c, x, blk(c, 'ffn_gate')), blk(c, 'ffn_act'));
  const up = linear(c, x, blk(c, 'ffn_up'));
  const h = c.g.node('Mul', [gate, up], {}, blk(c, 'ffn_hidden'));
  return linear(c, h, blk(c, 'ffn_down'));
}

/** down(act(up(x))): GPT-2. */
export function plainMlp(c: LayerContext, x: string): string {
  const h = activation(c, linear(c, x, blk(c, 'ffn_up')), blk(c, 'ffn_act'));
  return linear(c, h, blk(c, 'ffn_down'));
}
