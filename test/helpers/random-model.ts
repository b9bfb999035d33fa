import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { createRng } from '../../src/runtime/rng.js';
import { sharedPath } from '../../src/util/shared-path.js';

/**
 * Tiny random-initialised models in Hugging Face layout, one per supported architecture.
 * Tensors keep their HF names and [out, in] layouts so the reference forward below works
 * from exactly what the file holds, independently of Steerer's canonical conversion.
 */

export type TestArch = 'llama' | 'qwen2' | 'qwen3' | 'gpt2';

export interface RandomModel {
  readonly dir: string;
  readonly arch: TestArch;
  readonly config: Record<string, unknown>;
  readonly tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export interface RandomModelOptions {
  readonly seed?: number;
  readonly hidden?: number;
  readonly layers?: number;
  readonly heads?: number;
  readonly kvHeads?: number;
  readonly intermediate?: number;
  readonly maxPositions?: number;
  readonly tied?: boolean;
  readonly ropeScaling?: Record<string, unknown>;
  readonly dtype?: 'F32' | 'F16' | 'BF16';
}

/** Vocabulary of the TinyStories tokenizer, reused so the random models have a real tokenizer. */
export const TEST_VOCAB = 2048;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `steerer-${prefix}-`));
}

export function writeRandomHfModel(arch: TestArch, opts: RandomModelOptions = {}): RandomModel {
  const dir = tempDir(arch);
  const rng = createRng(opts.seed ?? 1);
  const gauss = (): number => {
    const u = Math.max(rng.nextFloat(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  };
  const D = opts.hidden ?? 64;
  const L = opts.layers ?? 2;
  const H = opts.heads ?? 4;
  const Hkv = arch === 'gpt2' ? H : (opts.kvHeads ?? 2);
  const F = opts.intermediate ?? 128;
  const V = TEST_VOCAB;
  const P = opts.maxPositions ?? 256;
  const hd = D / H;
  const tied = opts.tied ?? true;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, shape: number[], std: number, mean = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * gauss();
    tensors.set(name, { shape, data });
  };
  const w = 1 / Math.sqrt(D);

  let config: Record<string, unknown>;
  if (arch === 'gpt2') {
    config = {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_embd: D,
      n_head: H,
      n_layer: L,
      n_positions: P,
      n_inner: F,
      vocab_size: V,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      bos_token_id: 1,
      eos_token_id: 2,
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
    config = {
      architectures: [arch === 'llama' ? 'LlamaForCausalLM' : arch === 'qwen2' ? 'Qwen2ForCausalLM' : 'Qwen3ForCausalLM'],
      model_type: arch,
      hidden_size: D,
      num_attention_heads: H,
      num_key_value_heads: Hkv,
      num_hidden_layers: L,
      intermediate_size: F,
      vocab_size: V,
      max_position_embeddings: P,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      rope_scaling: opts.ropeScaling ?? null,
      hidden_act: 'silu',
      tie_word_embeddings: tied,
      bos_token_id: 1,
      eos_token_id: 2,
      ...(arch === 'qwen3' ? { head_dim: hd } : {}),
    };
    put(tied ? 'lm_head.weight' : 'model.embed_tokens.weight', [V, D], 0.5);
    if (!tied) put('lm_head.weight', [V, D], 0.1);
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      put(`${p}input_layernorm.weight`, [D], 0.1, 1);
      put(`${p}self_attn.q_proj.weight`, [H * hd, D], w);
      put(`${p}self_attn.k_proj.weight`, [Hkv * hd, D], w);
      put(`${p}self_attn.v_proj.weight`, [Hkv * hd, D], w);
      put(`${p}self_attn.o_proj.weight`, [D, H * hd], w);
      if (arch === 'qwen2') {
        put(`${p}self_attn.q_proj.bias`, [H * hd], 0.1);
        put(`${p}self_attn.k_proj.bias`, [Hkv * hd], 0.1);
        put(`${p}self_attn.v_proj.bias`, [Hkv * hd], 0.1);
      }
      if (arch === 'qwen3') {
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

  const dtype = opts.dtype ?? 'F32';
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    new Map([...tensors].map(([n, t]) => [n, { ...t, dtype }])),
    { format: 'pt' },
  );
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    fs.copyFileSync(sharedPath('models', 'tinystories-656k', f), path.join(dir, f));
  }
  return { dir, arch, config, tensors };
}
