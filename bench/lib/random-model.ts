import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS_DIR } from './paths.js';
import { createRng, sharedPath } from './steerer.js';

/**
 * A random-initialised model at SmolLM2-135M's shape (config.json and tokenizer.json of
 * SmolLM2-135M-Instruct from ../shared, weights drawn here), written in Hugging Face layout:
 * config.json + model.safetensors (F32, HF tensor names, [out, in] matrices, tied embeddings
 * stored once as model.embed_tokens.weight, as the real checkpoint does) + tokenizer.json.
 *
 * Init scale: projections ~ N(0, 1/fan_in), except q/k at twice that std; embeddings
 * ~ N(0, 0.25²); RMSNorm weights ~ N(1, 0.1²). Each sublayer adds O(1) per component to the
 * residual stream, and the tied head gives logits with a standard deviation of about 6 (top
 * logit ~25 above the mean), so greedy decoding is decided by real margins, not float noise.
 * Why not embeddings ~ N(0, 1): with tied embeddings the head then favours the input token
 * itself (its logit is ~|e|²/rms ≈ 100) and greedy decoding collapses into repeating one
 * token; the wider q/k make attention sharp enough for the context to matter, so greedy
 * continuations are varied (16-30 distinct tokens out of 32) and exercise the decode path.
 */

/** Bump when the generator changes, so cached files are rewritten. */
const GENERATOR_VERSION = 3;
export const SMOL_RANDOM_SEED = 20240611;
/** Std of the (tied) embedding matrix. */
const EMBED_STD = 0.25;
/** q/k projections are drawn `QK_GAIN` times wider than 1/sqrt(fan_in). */
const QK_GAIN = 2;

type Json = Record<string, unknown>;

interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly std: number;
  readonly mean: number;
}

/** Steerer's seeded generator (src/runtime/rng.ts) plus normal draws for weight init. */
export class Rng {
  private readonly base: ReturnType<typeof createRng>;
  private spare: number | undefined;

  constructor(seed: number) {
    this.base = createRng(seed);
  }

  /** Uniform in (0, 1): log() below must never see 0. */
  nextFloat(): number {
    return this.base.nextFloat() || Number.MIN_VALUE;
  }

  /** Standard normal (Box-Muller, both outputs used). */
  gauss(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextFloat()));
    const a = 2 * Math.PI * this.nextFloat();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.base.nextFloat() * (hi - lo));
  }
}

function num(config: Json, key: string): number {
  const v = config[key];
  if (typeof v !== 'number') throw new Error(`config.json: ${key} is not a number`);
  return v;
}

function tensorSpecs(config: Json, embedStd: number): TensorSpec[] {
  const D = num(config, 'hidden_size');
  const L = num(config, 'num_hidden_layers');
  const H = num(config, 'num_attention_heads');
  const Hkv = num(config, 'num_key_value_heads');
  const F = num(config, 'intermediate_size');
  const V = num(config, 'vocab_size');
  const hd = D / H;
  const out: TensorSpec[] = [];
  const w = (name: string, rows: number, cols: number, gain = 1): void => {
    out.push({ name, shape: [rows, cols], std: gain / Math.sqrt(cols), mean: 0 });
  };
  const norm = (name: string): void => {
    out.push({ name, shape: [D], std: 0.1, mean: 1 });
  };
  out.push({ name: 'model.embed_tokens.weight', shape: [V, D], std: embedStd, mean: 0 });
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    norm(`${p}input_layernorm.weight`);
    w(`${p}self_attn.q_proj.weight`, H * hd, D, QK_GAIN);
    w(`${p}self_attn.k_proj.weight`, Hkv * hd, D, QK_GAIN);
    w(`${p}self_attn.v_proj.weight`, Hkv * hd, D);
    w(`${p}self_attn.o_proj.weight`, D, H * hd);
    norm(`${p}post_attention_layernorm.weight`);
    w(`${p}mlp.gate_proj.weight`, F, D);
    w(`${p}mlp.up_proj.weight`, F, D);
    w(`${p}mlp.down_proj.weight`, D, F);
  }
  norm('model.norm.weight');
  if (config.tie_word_embeddings !== true) out.push({ name: 'lm_head.weight', shape: [V, D], std: 1 / Math.sqrt(D), mean: 0 });
  return out;
}

/**
 * A minimal safetensors writer (8-byte little-endian header length, JSON header, raw
 * little-endian F32 data), independent of Steerer's own writer. Tensors are drawn and
 * written one at a time, so memory stays at one tensor.
 */
function writeRandomSafetensors(file: string, specs: readonly TensorSpec[], rng: Rng): number {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', generator: `steerer-bench v${GENERATOR_VERSION}` } };
  let offset = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * 4;
    header[s.name] = { dtype: 'F32', shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const s of specs) {
      const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = s.mean + s.std * rng.gauss();
      writeSync(fd, new Uint8Array(data.buffer));
    }
  } finally {
    closeSync(fd);
  }
  return offset;
}

export interface RandomModelInfo {
  readonly dir: string;
  readonly created: boolean;
  readonly parameters: number;
}

/** bench/models/smollm2-random/, created on first use and reused while the generator and seed match. */
export function ensureSmolRandomModel(log: (msg: string) => void = () => {}): RandomModelInfo {
  const dir = join(MODELS_DIR, 'smollm2-random');
  const src = sharedPath('models', 'smollm2-135m-instruct');
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Json;
  const specs = tensorSpecs(config, EMBED_STD);
  const parameters = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const stamp = JSON.stringify({ generator: GENERATOR_VERSION, seed: SMOL_RANDOM_SEED, embedStd: EMBED_STD, qk: QK_GAIN, config });
  const stampFile = join(dir, 'bench-stamp.json');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && existsSync(join(dir, 'model.safetensors'))) {
    return { dir, created: false, parameters };
  }
  log(`writing random SmolLM2-135M-shape weights (${(parameters / 1e6).toFixed(1)}M parameters, seed ${SMOL_RANDOM_SEED}) to ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, torch_dtype: 'float32' }, null, 2));
  copyFileSync(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const tmp = join(dir, 'model.safetensors.tmp');
  writeRandomSafetensors(tmp, specs, new Rng(SMOL_RANDOM_SEED));
  renameSync(tmp, join(dir, 'model.safetensors'));
  writeFileSync(stampFile, stamp);
  return { dir, created: true, parameters };
}
