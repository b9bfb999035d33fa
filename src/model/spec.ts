import type { PackedWeights } from './packed-weights.js';
import type { HostTensor } from './tensor.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * The normalized description of a decoder-only transformer, whatever file it came from.
 * Every loader (HF directory, GGUF, llama2.c) produces this plus canonical weights, so
 * the graph builders never see a file format.
 */
export interface ModelSpec {
  /** What the source called it (e.g. "LlamaForCausalLM", GGUF "qwen2", "llama2.c"). */
  readonly architecture: string;
  /** Which graph builder wires it: Llama-style blocks or GPT-2-style blocks. */
  readonly family: ArchFamily;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  readonly norm: 'rms' | 'layer';
  readonly normEps: number;
  readonly activation: 'silu' | 'gelu_tanh' | 'gelu';
  /** Bias on the q/k/v projections (Qwen2, GPT-2). */
  readonly attnQkvBias: boolean;
  /** Bias on the attention output projection (GPT-2). */
  readonly attnOutBias: boolean;
  /** Bias on the MLP projections (GPT-2). */
  readonly mlpBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (Qwen3). */
  readonly qkNorm: boolean;
  readonly positions: 'rope' | 'learned';
  readonly rope?: RopeSpec;
  /** lm_head shares the token embedding matrix. */
  readonly tiedEmbeddings: boolean;
  readonly bosTokenId?: number;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId?: number;
  /** Whether a BOS token is prepended to prompts by default. */
  readonly addBos: boolean;
}

export type ArchFamily = 'llama' | 'gpt2';

/**
 * Rotary embeddings. Weights are always normalized to the Hugging Face "half-split"
 * convention (rotate_half); loaders un-permute q/k of interleaved sources (llama2.c, GGUF llama).
 */
export interface RopeSpec {
  readonly theta: number;
  /** Rotated dimensions per head (== headDim unless partial rotary). */
  readonly dim: number;
  readonly scaling?: RopeScaling;
}

export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    }
  /** Per-frequency divisors, as GGUF stores Llama 3 scaling (rope_freqs.weight). */
  | { readonly type: 'factors'; readonly factors: readonly number[] };

/**
 * Canonical weight names (GGUF-like), every linear weight stored as [in, out] so the graph
 * multiplies activations on the left without transposes:
 *   token_embd            [V, D]   (absent when tied: the embedding is read from `output`)
 *   pos_embd              [P, D]   (learned positions)
 *   blk.{l}.attn_norm.weight/.bias        [D]
 *   blk.{l}.attn_q.weight [D, H*hd]  .bias [H*hd]
 *   blk.{l}.attn_k.weight [D, Hkv*hd] .bias
 *   blk.{l}.attn_v.weight [D, Hkv*hd] .bias
 *   blk.{l}.attn_q_norm.weight, attn_k_norm.weight [hd]   (qkNorm)
 *   blk.{l}.attn_output.weight [H*hd, D] .bias [D]
 *   blk.{l}.ffn_norm.weight/.bias          [D]
 *   blk.{l}.ffn_gate.weight [D, F] (gated MLPs), ffn_up.weight [D, F], ffn_down.weight [F, D], biases
 *   output_norm.weight/.bias [D]
 *   output.weight          [D, V]
 */
export type WeightMap = Map<string, HostTensor>;

type ModelFormat = 'hf' | 'gguf' | 'llama2c';

export interface ModelSource {
  readonly format: ModelFormat;
  /** The file or directory it was loaded from. */
  readonly path: string;
  /** Human-readable name (directory or file stem, or general.name). */
  readonly name: string;
  /** Stored dtype of each source tensor type → number of tensors (before conversion to F32). */
  readonly dtypes: Readonly<Record<string, number>>;
}

export interface LoadedModel {
  readonly spec: ModelSpec;
  /** Float32 weights (every weight, unless some are packed). */
  readonly weights: WeightMap;
  /** Linear weights ONNX Runtime reads from files (quantized or float32 GGUF files); absent from `weights`. */
  readonly packed?: PackedWeights;
  readonly tokenizer: TextTokenizer;
  /** Jinja chat template, when the source ships one. */
  readonly chatTemplate?: string;
  /** Special tokens by role for chat templates (bos_token, eos_token...). */
  readonly specialTokens: Readonly<Record<string, string>>;
  readonly source: ModelSource;
}

/** Number of parameters a model's weights hold, packed ones included (tied embeddings counted once). */
export function countParameters(model: Pick<LoadedModel, 'weights' | 'packed'>): number {
  let n = 0;
  for (const t of model.weights.values()) n += t.data.length;
  for (const m of model.packed?.matrices.values() ?? []) n += m.in * m.out;
  for (const m of model.packed?.mapped.values() ?? []) n += m.in * m.out;
  return n;
}
