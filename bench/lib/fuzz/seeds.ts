/**
 * Small valid files the loader fuzzer mutates: Hugging Face model directories, GGUF models,
 * llama2.c checkpoints, steering vectors (native, plain and GGUF control vectors) and SAEs
 * (Steerer, SAELens and sparsify layouts). Every seed loads (and runs) cleanly; the fuzzer
 * checks that before mutating it.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  exportControlVectorGguf,
  exportSaeLens,
  GgmlType,
  loadHfDirectory,
  saveSae,
  saveVector,
  sharedPath,
  writeModelGguf,
  writeSafetensors,
  type Sae,
  type SteeringVector,
  type TensorToWrite,
} from './api.js';
import { writeHfModel, type HfModelShape } from '../../../test/helpers/hf-model-writer.js';
import { buildLlama2c, buildSafetensors, f32Bytes } from './formats.js';
import { Prng } from './prng.js';

export type FileKind = 'hf' | 'gguf' | 'llama2c' | 'vector' | 'sae';
export const FILE_KINDS: readonly FileKind[] = ['hf', 'gguf', 'llama2c', 'vector', 'sae'];

export interface SeedInfo {
  readonly name: string;
  readonly kind: FileKind;
  /** What the loader is given, relative to the case folder. */
  readonly target: string;
  /** Relative path in the case folder → seed file on disk. */
  readonly files: Readonly<Record<string, string>>;
}

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// A tiny byte-level BPE tokenizer (GPT-2 style), so most model seeds have a 265-token vocabulary.

function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

function byteLevelTokenizer(): { json: Json; config: Json; vocab: number; special: number } {
  const chars = bytesToUnicode();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const merges = ['Ġ t', 'h e', 'Ġt he', 'o n', 'Ġ a', 'i n', 'e r', 'a n', 'Ġ s', 'o u'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const special = Object.keys(vocab).length;
  const json: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: special, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab: { ...vocab, '<|endoftext|>': special }, merges,
    },
  };
  const config: Json = { add_bos_token: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', clean_up_tokenization_spaces: false };
  return { json, config, vocab: special + 1, special };
}

// ---------------------------------------------------------------------------------------------
// Random HF checkpoints, written by the test suite's writer (weights uniform in ±std around the mean)

function writeHfSeed(dir: string, shape: HfModelShape, rng: Prng, tokenizer: { json: Json; config: Json }): void {
  writeHfModel(dir, shape, () => rng.sym(1), {
    'tokenizer.json': JSON.stringify(tokenizer.json),
    'tokenizer_config.json': JSON.stringify(tokenizer.config),
    'generation_config.json': JSON.stringify({ bos_token_id: shape.bos, eos_token_id: shape.eos }),
  });
}

function filesOf(dir: string, names: readonly string[], prefix = ''): Record<string, string> {
  return Object.fromEntries(names.map((n) => [`${prefix}${n}`, join(dir, n)]));
}

const HF_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

function randArray(rng: Prng, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.sym(scale);
  return a;
}

/** Writes every seed under `root` and returns their descriptions. */
export function buildSeeds(root: string): SeedInfo[] {
  const rng = new Prng(20261202);
  const seeds: SeedInfo[] = [];
  const bl = byteLevelTokenizer();
  const spm = {
    json: JSON.parse(readFileSync(sharedPath('models', 'tinystories-656k', 'tokenizer.json'), 'utf8')) as Json,
    config: JSON.parse(readFileSync(sharedPath('models', 'tinystories-656k', 'tokenizer_config.json'), 'utf8')) as Json,
  };
  const base = { hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, maxPositions: 64 };
  const hfSeeds: [string, HfModelShape, { json: Json; config: Json }][] = [
    ['hf-llama-spm', { arch: 'llama', ...base, vocab: 2048, tied: true, bos: 1, eos: 2 }, spm],
    ['hf-llama', { arch: 'llama', ...base, vocab: bl.vocab, tied: false, bos: bl.special, eos: bl.special, extraConfig: { rope_scaling: { type: 'linear', factor: 2 } } }, bl],
    ['hf-llama3-scaling', { arch: 'llama', ...base, vocab: bl.vocab, tied: true, bos: bl.special, eos: bl.special, extraConfig: { partial_rotary_factor: 0.5, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 } } }, bl],
    ['hf-qwen2-bf16', { arch: 'qwen2', ...base, vocab: bl.vocab, tied: true, bos: bl.special, eos: bl.special, dtype: 'BF16' }, bl],
    ['hf-qwen3', { arch: 'qwen3', ...base, vocab: bl.vocab, tied: true, bos: bl.special, eos: bl.special }, bl],
    ['hf-gpt2', { arch: 'gpt2', ...base, kvHeads: 4, vocab: bl.vocab, tied: true, bos: bl.special, eos: bl.special }, bl],
  ];
  const hfDirs = new Map<string, string>();
  for (const [name, opts, tok] of hfSeeds) {
    const dir = join(root, name);
    writeHfSeed(dir, opts, rng, tok);
    hfDirs.set(name, dir);
    seeds.push({ name, kind: 'hf', target: '.', files: filesOf(dir, HF_FILES) });
  }

  // GGUF models, written by Steerer's exporter from the HF seeds (the layout llama.cpp reads).
  const ggufSeeds: [string, string, GgmlType][] = [
    ['gguf-llama', 'hf-llama-spm', GgmlType.F32],
    ['gguf-llama-q8', 'hf-llama-spm', GgmlType.Q8_0],
    ['gguf-qwen2-f16', 'hf-qwen2-bf16', GgmlType.F16],
    ['gguf-qwen3', 'hf-qwen3', GgmlType.F32],
    ['gguf-gpt2', 'hf-gpt2', GgmlType.F32],
  ];
  for (const [name, from, type] of ggufSeeds) {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const hf = loadHfDirectory(hfDirs.get(from)!);
    const tokenizerJson = JSON.parse(readFileSync(join(hfDirs.get(from)!, 'tokenizer.json'), 'utf8')) as object;
    writeModelGguf(join(dir, 'model.gguf'), hf.spec, hf.weights, { tokenizerJson, type, allowMissingByteTokens: true, name });
    seeds.push({ name, kind: 'gguf', target: 'model.gguf', files: filesOf(dir, ['model.gguf']) });
  }

  // llama2.c checkpoints with the real 512-token tokenizer of stories260K.
  const tok = sharedPath('models', 'stories260k', 'tok512.bin');
  const l2c: [string, boolean, 0 | 1][] = [['l2c-legacy-shared', true, 0], ['l2c-legacy-separate', false, 0], ['l2c-v1', true, 1]];
  for (const [name, shared, version] of l2c) {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const bytes = buildLlama2c({ dim: 32, hidden: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 512, seq: 64, shared, version }, (n, s) => randArray(rng, n, s));
    writeFileSync(join(dir, 'model.bin'), bytes);
    copyFileSync(tok, join(dir, 'tok512.bin'));
    seeds.push({ name, kind: 'llama2c', target: 'model.bin', files: filesOf(dir, ['model.bin', 'tok512.bin']) });
  }

  // Steering vectors.
  const hidden = 32;
  const vector: SteeringVector = {
    directions: new Map([[1, randArray(rng, hidden, 1)], [2, randArray(rng, hidden, 1)]]),
    means: new Map([[1, randArray(rng, hidden, 1)]]),
    meta: {
      format: 'steerer.vector/v1',
      model: { name: 'fuzz-model', architecture: 'llama', hiddenSize: hidden, numLayers: 4 },
      method: 'diffmean',
      site: 'resid_post',
      readPosition: 'last',
      dataset: { source: 'fuzz', size: 12, hash: 'abc123' },
      diagnostics: [{ layer: 1, accuracy: 0.9, auroc: 0.95, fisher: 2.5, relativeNorm: 0.3, heldOut: 6 }],
      recommended: { layers: [1], coefficient: 4 },
      createdAt: '2026-12-02T00:00:00.000Z',
      description: 'fuzz seed',
    },
  };
  {
    const dir = join(root, 'vectors');
    mkdirSync(dir, { recursive: true });
    saveVector(join(dir, 'native.safetensors'), vector);
    seeds.push({ name: 'vec-native', kind: 'vector', target: 'vector.safetensors', files: { 'vector.safetensors': join(dir, 'native.safetensors') } });
    writeSafetensors(join(dir, 'plain.safetensors'), new Map<string, TensorToWrite>([
      ['layers.1', { shape: [hidden], data: vector.directions.get(1)!, dtype: 'F16' }],
      ['layers.2', { shape: [hidden], data: vector.directions.get(2)!, dtype: 'F16' }],
      ['mean.1', { shape: [hidden], data: vector.means!.get(1)!, dtype: 'F32' }],
    ]));
    seeds.push({ name: 'vec-plain', kind: 'vector', target: 'vector.safetensors', files: { 'vector.safetensors': join(dir, 'plain.safetensors') } });
    exportControlVectorGguf(join(dir, 'control.gguf'), vector, 'llama');
    seeds.push({ name: 'vec-gguf', kind: 'vector', target: 'vector.gguf', files: { 'vector.gguf': join(dir, 'control.gguf') } });
  }

  // SAEs.
  {
    const dir = join(root, 'saes');
    mkdirSync(dir, { recursive: true });
    const dIn = 32;
    const dSae = 64;
    const weights = { wEnc: randArray(rng, dIn * dSae, 0.2), bEnc: randArray(rng, dSae, 0.1), wDec: randArray(rng, dSae * dIn, 0.2), bDec: randArray(rng, dIn, 0.1) };
    const cfg = { dIn, dSae, hook: { layer: 1, site: 'resid_post' as const }, applyBDecToInput: true, inputScale: 1, format: 'steerer' as const, modelName: 'fuzz-model' };
    const topk: Sae = {
      cfg: { ...cfg, activation: { kind: 'topk', k: 8 }, training: { tokens: 1000, steps: 10, fvu: 0.2, l0: 8, deadFraction: 0.01 } },
      weights,
    };
    saveSae(join(dir, 'topk.safetensors'), topk);
    seeds.push({ name: 'sae-steerer-topk', kind: 'sae', target: 'sae.safetensors', files: { 'sae.safetensors': join(dir, 'topk.safetensors') } });
    const jump: Sae = { cfg: { ...cfg, activation: { kind: 'jumprelu' } }, weights: { ...weights, threshold: Float32Array.from(randArray(rng, dSae, 0.1), Math.abs) } };
    saveSae(join(dir, 'jump.safetensors'), jump);
    seeds.push({ name: 'sae-steerer-jumprelu', kind: 'sae', target: 'sae.safetensors', files: { 'sae.safetensors': join(dir, 'jump.safetensors') } });
    exportSaeLens(join(dir, 'saelens'), jump);
    seeds.push({ name: 'sae-saelens', kind: 'sae', target: 'sae', files: filesOf(join(dir, 'saelens'), ['cfg.json', 'sae_weights.safetensors'], 'sae/') });
    const sparse = join(dir, 'sparsify', 'layers.1');
    mkdirSync(sparse, { recursive: true });
    writeFileSync(join(sparse, 'cfg.json'), JSON.stringify({ activation: 'topk', expansion_factor: 2, normalize_decoder: true, num_latents: dSae, k: 8, multi_topk: false, skip_connection: false, transcode: false, d_in: dIn }));
    const enc = new Float32Array(dSae * dIn);
    for (let i = 0; i < dIn; i++) for (let j = 0; j < dSae; j++) enc[j * dIn + i] = weights.wEnc[i * dSae + j];
    writeFileSync(join(sparse, 'sae.safetensors'), buildSafetensors([
      { name: 'encoder.weight', dtype: 'F32', shape: [dSae, dIn], bytes: f32Bytes(enc) },
      { name: 'encoder.bias', dtype: 'F32', shape: [dSae], bytes: f32Bytes(weights.bEnc) },
      { name: 'W_dec', dtype: 'F32', shape: [dSae, dIn], bytes: f32Bytes(weights.wDec) },
      { name: 'b_dec', dtype: 'F32', shape: [dIn], bytes: f32Bytes(weights.bDec) },
    ]));
    seeds.push({ name: 'sae-sparsify', kind: 'sae', target: 'layers.1', files: filesOf(sparse, ['cfg.json', 'sae.safetensors'], 'layers.1/') });
  }
  return seeds;
}
