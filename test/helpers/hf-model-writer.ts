import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors-write.js';

/**
 * Writes a random-initialised model in Hugging Face layout: config.json, model.safetensors and
 * whatever tokenizer files the caller gives. Shared by the test models (./random-model.ts) and
 * the loader fuzzer's seeds (bench/lib/fuzz/seeds.ts), so it imports nothing but src/.
 *
 * Tensors keep their HF names and [out, in] layouts. Every weight is `mean + std * noise()`,
 * drawn in a fixed order, so a seeded `noise` gives the same files every time.
 */

export type HfArch = 'llama' | 'qwen2' | 'qwen3' | 'gpt2';

export interface HfModelShape {
  readonly arch: HfArch;
  readonly vocab: number;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  /** Key/value heads (llama, qwen2, qwen3; GPT-2 has as many as query heads). */
  readonly kvHeads: number;
  readonly intermediate: number;
  readonly maxPositions: number;
  /** Tied input and output embeddings (llama, qwen2, qwen3), stored once as lm_head.weight. */
  readonly tied: boolean;
  readonly bos: number;
  readonly eos: number;
  /** Merged into config.json last (llama, qwen2, qwen3): rope_scaling, partial_rotary_factor... */
  readonly extraConfig?: Record<string, unknown>;
  /** How model.safetensors stores the weights (default F32). */
  readonly dtype?: 'F32' | 'F16' | 'BF16';
}

export interface WrittenHfModel {
  readonly config: Record<string, unknown>;
  /** The weights as drawn (float32, before any conversion to `dtype`). */
  readonly tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Writes the model into `dir` (made if missing), then `files` (name → contents: the tokenizer...). */
export function writeHfModel(dir: string, o: HfModelShape, noise: () => number, files: Readonly<Record<string, string | Uint8Array>> = {}): WrittenHfModel {
  fs.mkdirSync(dir, { recursive: true });
  const { hidden: D, layers: L, heads: H, kvHeads: Hkv, intermediate: F, vocab: V, maxPositions: P } = o;
  const hd = D / H;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, shape: number[], std: number, mean = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * noise();
    tensors.set(name, { shape, data });
  };
  const w = 1 / Math.sqrt(D);
  let config: Record<string, unknown>;
  if (o.arch === 'gpt2') {
    config = {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: D, n_head: H, n_layer: L, n_positions: P, n_inner: F,
      vocab_size: V, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: o.bos, eos_token_id: o.eos,
    };
    put('transformer.wte.weight', [V, D], 0.5);
    put('transformer.wpe.weight', [P, D], 0.1);
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}.`;
      put(`${p}ln_1.weight`, [D], 0.1, 1);
      put(`${p}ln_1.bias`, [D], 0.1);
      put(`${p}attn.c_attn.weight`, [D, 3 * D], w);
      put(`${p}attn.c_attn.bias`, [3 * D], 0.1);
      put(`${p}attn.c_proj.weight`, [D, D], w);
      put(`${p}attn.c_proj.bias`, [D], 0.1);
      put(`${p}ln_2.weight`, [D], 0.1, 1);
      put(`${p}ln_2.bias`, [D], 0.1);
      put(`${p}mlp.c_fc.weight`, [D, F], w);
      put(`${p}mlp.c_fc.bias`, [F], 0.1);
      put(`${p}mlp.c_proj.weight`, [F, D], 1 / Math.sqrt(F));
      put(`${p}mlp.c_proj.bias`, [D], 0.1);
    }
    put('transformer.ln_f.weight', [D], 0.1, 1);
    put('transformer.ln_f.bias', [D], 0.1);
  } else {
    const names = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };
    config = {
      architectures: [names[o.arch]], model_type: o.arch, hidden_size: D, num_attention_heads: H, num_key_value_heads: Hkv,
      num_hidden_layers: L, intermediate_size: F, vocab_size: V, max_position_embeddings: P, rms_norm_eps: 1e-6,
      rope_theta: 10000, rope_scaling: null, hidden_act: 'silu', tie_word_embeddings: o.tied, bos_token_id: o.bos, eos_token_id: o.eos,
      ...(o.arch === 'qwen3' ? { head_dim: hd } : {}),
      ...o.extraConfig,
    };
    put(o.tied ? 'lm_head.weight' : 'model.embed_tokens.weight', [V, D], 0.5);
    if (!o.tied) put('lm_head.weight', [V, D], 0.1);
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      put(`${p}input_layernorm.weight`, [D], 0.1, 1);
      put(`${p}self_attn.q_proj.weight`, [H * hd, D], w);
      put(`${p}self_attn.k_proj.weight`, [Hkv * hd, D], w);
      put(`${p}self_attn.v_proj.weight`, [Hkv * hd, D], w);
      put(`${p}self_attn.o_proj.weight`, [D, H * hd], w);
      if (o.arch === 'qwen2') {
        put(`${p}self_attn.q_proj.bias`, [H * hd], 0.1);
        put(`${p}self_attn.k_proj.bias`, [Hkv * hd], 0.1);
        put(`${p}self_attn.v_proj.bias`, [Hkv * hd], 0.1);
      }
      if (o.arch === 'qwen3') {
        put(`${p}self_attn.q_norm.weight`, [hd], 0.1, 1);
        put(`${p}self_attn.k_norm.weight`, [hd], 0.1, 1);
      }
      put(`${p}post_attention_layernorm.weight`, [D], 0.1, 1);
      put(`${p}mlp.gate_proj.weight`, [F, D], w);
      put(`${p}mlp.up_proj.weight`, [F, D], w);
      put(`${p}mlp.down_proj.weight`, [D, F], 1 / Math.sqrt(F));
    }
    put('model.norm.weight', [D], 0.1, 1);
  }
  const dtype = o.dtype ?? 'F32';
  writeSafetensors(path.join(dir, 'model.safetensors'), new Map([...tensors].map(([n, t]) => [n, { ...t, dtype }])), { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const [name, contents] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), contents);
  return { config, tensors };
}
