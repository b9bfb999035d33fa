import type { ModelSpec } from '../model/spec.js';
import { float, int, type GraphBuilder } from './onnx-builder.js';

/**
 * Shared transformer blocks (norm, linear, attention, MLPs). Architectures only say which
 * tensors they have and how blocks connect (see ./archs). Activations are [batch, seq, features];
 * linear weights are [in, out].
 */

/** Names of the per-run inputs every layer of a segment shares. */
export interface RunInputs {
  /** Additive attention mask [batch, 1, 1, seq, slots+seq]: the cache's slots, then the new tokens. */
  readonly attnMask: string;
  /** int64 [2]: slots, seq (the two parts of the keys). */
  readonly keySplit: string;
  /** int64 [5]: attention scores viewed per group, [batch, kvHeads, G, seq, slots+seq]. */
  readonly groupShape: string;
  /** int64 [4]: attention scores as rows, [batch, kvHeads, G*seq, slots+seq]. */
  readonly rowShape: string;
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
   * x @ W for each of several weights, outputs named `outNames`: one product over all their rows
   * where the packed cache stores them side by side (named `joinedName`), else one each.
   */
  matmuls(x: string, weightNames: readonly string[], outNames: readonly string[], joinedName: string): string[];
  /**
   * Returns the new keys/values [batch, seq, kvHeads*headDim] as graph outputs (the runtime appends
   * them to its cache) and this layer's cached ones as graph inputs [batch, kvHeads, slots,
   * headDim]: the cache's own buffers, read where they lie (the mask hides slots not filled yet).
   */
  kvCache(key: string, value: string): CachedKv;
}

/** A layer's keys and values: the new tokens' [batch, seq, kvHeads*headDim], the cache's [batch, kvHeads, slots, headDim]. */
interface CachedKv {
  readonly keys: string;
  readonly values: string;
  readonly pastKeys: string;
  readonly pastValues: string;
}

/** `blk.{l}.{name}` */
export function blk(c: LayerContext, name: string): string {
  return `blk.${c.layer}.${name}`;
}

export function norm(c: LayerContext, x: string, prefix: string): string {
  const { g, spec } = c;
  if (spec.norm === 'rms') {
    // ORT's SimplifiedLayerNormalization is RMSNorm in one CPU kernel. ONNX Runtime 1.30 keeps it
    // apart from the residual Add before it (its optimised graph has no SkipSimplifiedLayerNormalization).
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
  return withBias(c, c.matmul(x, `${prefix}.weight`, prefix), prefix);
}

/** linear() for several weights of one input (q/k/v, gate/up), computed as one product where they are stored so. */
function linears(c: LayerContext, x: string, prefixes: readonly string[], joinedPrefix: string): string[] {
  const ys = c.matmuls(x, prefixes.map((p) => `${p}.weight`), prefixes, joinedPrefix);
  return ys.map((y, i) => withBias(c, y, prefixes[i]));
}

function withBias(c: LayerContext, y: string, prefix: string): string {
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
 * Causal self-attention with grouped-query heads over the KV cache and the new tokens; the mask
 * input carries causality, padding and the cache's empty slots.
 */
export function selfAttention(c: LayerContext, x: string): string {
  const { spec } = c;
  let [q, k, v] = linears(c, x, [blk(c, 'attn_q'), blk(c, 'attn_k'), blk(c, 'attn_v')], blk(c, 'attn_qkv'));
  if (spec.qkNorm) {
    q = perHeadRmsNorm(c, q, spec.numHeads, blk(c, 'attn_q_norm'));
    k = perHeadRmsNorm(c, k, spec.numKvHeads, blk(c, 'attn_k_norm'));
  }
  if (spec.positions === 'rope') {
    q = rope(c, q, spec.numHeads, blk(c, 'attn_q_rope'));
    k = rope(c, k, spec.numKvHeads, blk(c, 'attn_k_rope'));
  }
  return linear(c, cachedAttention(c, q, c.kvCache(k, v)), blk(c, 'attn_output'));
}

/**
 * softmax(q·kᵀ/√d + mask)·v over the cached slots and the new tokens, in two parts so that the
 * cache is read where it lies: joining it with the new keys (the ONNX Attention op's past input)
 * copied the whole history on every token, the cost of long contexts. The G query heads that
 * share a key/value head are stacked as the rows of one product with it, [batch, kvHeads,
 * G*seq, headDim] (a broadcast over G instead ran 1.5× slower); the mask, the same for every
 * head, is added with those rows viewed as [batch, kvHeads, G, seq, keys].
 */
function cachedAttention(c: LayerContext, q: string, kv: CachedKv): string {
  const { g, spec, run } = c;
  const { numHeads: H, numKvHeads: Hkv, headDim: hd } = spec;
  const G = H / Hkv;
  const at = (name: string): string => blk(c, `attn.${name}`);
  const perm = (ints: readonly number[]): { perm: { ints: readonly number[] } } => ({ perm: { ints } });
  const reshape = (x: string, shape: string, name: string): string => g.node('Reshape', [x, shape], {}, name);
  // [batch, seq, H*hd] → [batch, Hkv, G*seq, hd]: query head h belongs to key/value head h / G.
  const qGroups = g.node('Transpose', [reshape(q, g.constInt64([0, 0, Hkv, G, hd]), at('q_heads'))], perm([0, 2, 3, 1, 4]), at('q_groups'));
  const qRows = reshape(qGroups, g.constInt64([0, 0, -1, hd]), at('q_rows'));
  const heads = (x: string, name: string): string => g.node('Transpose', [reshape(x, g.constInt64([0, 0, Hkv, hd]), at(`${name}_heads`))], perm([0, 2, 1, 3]), at(name));
  const kNew = heads(kv.keys, 'k_new');
  const vNew = heads(kv.values, 'v_new');

  const scaled = { transB: int(1), alpha: float(1 / Math.sqrt(hd)) };
  const scores = g.node(
    'Concat',
    [g.msNode('FusedMatMul', [qRows, kv.pastKeys], scaled, at('scores_past')), g.msNode('FusedMatMul', [qRows, kNew], scaled, at('scores_new'))],
    { axis: int(-1) },
    at('scores'),
  );
  const masked = g.node('Add', [reshape(scores, run.groupShape, at('scores_groups')), run.attnMask], {}, at('scores_masked'));
  const probs = reshape(g.node('Softmax', [masked], { axis: int(-1) }, at('probs_groups')), run.rowShape, at('probs'));
  const [probsPast, probsNew] = g.nodeMulti('Split', [probs, run.keySplit], { axis: int(-1) }, [at('probs_past'), at('probs_new')]);
  const mixed = g.node(
    'Add',
    [g.node('MatMul', [probsPast, kv.pastValues], {}, at('mix_past')), g.node('MatMul', [probsNew, vNew], {}, at('mix_new'))],
    {},
    at('mix'),
  );
  // [batch, Hkv, G*seq, hd] → [batch, seq, H*hd]
  const perToken = g.node('Transpose', [reshape(mixed, g.constInt64([0, 0, G, -1, hd]), at('mix_groups'))], perm([0, 3, 1, 2, 4]), at('mix_tokens'));
  return reshape(perToken, g.constInt64([0, 0, H * hd]), blk(c, 'attn_heads'));
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
  const [gateIn, up] = linears(c, x, [blk(c, 'ffn_gate'), blk(c, 'ffn_up')], blk(c, 'ffn_gate_up'));
  const h = c.g.node('Mul', [activation(c, gateIn, blk(c, 'ffn_act')), up], {}, blk(c, 'ffn_hidden'));
  return linear(c, h, blk(c, 'ffn_down'));
}

/** down(act(up(x))): GPT-2. */
export function plainMlp(c: LayerContext, x: string): string {
  const h = activation(c, linear(c, x, blk(c, 'ffn_up')), blk(c, 'ffn_act'));
  return linear(c, h, blk(c, 'ffn_down'));
}
