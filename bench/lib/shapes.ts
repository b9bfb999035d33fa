import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GgmlType, modelGgufMetadata, sharedPath, writeGguf, type GgufMetaEntry, type GgufTensorToWrite, type ModelSpec } from './steerer.js';
import { MODELS_DIR } from './paths.js';

/**
 * Random-initialised GGUF files of published model shapes, for speed and memory benchmarks
 * (the values are noise; only sizes, layouts and types matter). Configs are written from the
 * published architectures (config.json of each model on the Hugging Face hub); RoPE scaling is
 * left out (it changes no cost). The vocabulary is SmolLM2's tokenizer padded to the shape's
 * vocabulary size, so both engines tokenize and every id of a prompt is valid.
 *
 * Files are written one tensor at a time (an 8B model never exists as float32 in memory): each
 * quantized tensor is random blocks made directly in its format.
 */

export interface Shape {
  readonly label: string;
  readonly arch: 'llama' | 'qwen2';
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly intermediate: number;
  readonly vocab: number;
  readonly tied: boolean;
  readonly ropeTheta: number;
  readonly normEps: number;
}

export const SHAPES: Readonly<Record<string, Shape>> = {
  // HuggingFaceTB/SmolLM2-135M-Instruct
  'smollm2-135m': { label: 'SmolLM2-135M', arch: 'llama', hidden: 576, layers: 30, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, tied: true, ropeTheta: 100000, normEps: 1e-5 },
  // Qwen/Qwen2.5-0.5B
  'qwen2.5-0.5b': { label: 'Qwen2.5-0.5B', arch: 'qwen2', hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, tied: true, ropeTheta: 1000000, normEps: 1e-6 },
  // meta-llama/Llama-3.2-1B
  'llama-3.2-1b': { label: 'Llama-3.2-1B', arch: 'llama', hidden: 2048, layers: 16, heads: 32, kvHeads: 8, intermediate: 8192, vocab: 128256, tied: true, ropeTheta: 500000, normEps: 1e-5 },
  // meta-llama/Llama-3.1-8B
  'llama-3.1-8b': { label: 'Llama-3.1-8B', arch: 'llama', hidden: 4096, layers: 32, heads: 32, kvHeads: 8, intermediate: 14336, vocab: 128256, tied: false, ropeTheta: 500000, normEps: 1e-5 },
};

function specOf(s: Shape): ModelSpec {
  const hd = s.hidden / s.heads;
  return {
    architecture: s.arch,
    family: 'llama',
    vocabSize: s.vocab,
    hiddenSize: s.hidden,
    numLayers: s.layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    headDim: hd,
    intermediateSize: s.intermediate,
    maxPositions: 4096,
    norm: 'rms',
    normEps: s.normEps,
    activation: 'silu',
    attnQkvBias: s.arch === 'qwen2',
    attnOutBias: false,
    mlpBias: false,
    qkNorm: false,
    positions: 'rope',
    rope: { theta: s.ropeTheta, dim: hd },
    tiedEmbeddings: s.tied,
    bosTokenId: 1,
    eosTokenIds: [2],
    addBos: false,
  };
}

/** xorshift32: fast noise, reproducible per tensor. */
function noise(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Values per block and bytes per block of the types these files use. */
const BLOCKS: Partial<Record<GgmlType, { readonly blockSize: number; readonly typeSize: number }>> = {
  [GgmlType.F32]: { blockSize: 1, typeSize: 4 },
  [GgmlType.Q8_0]: { blockSize: 32, typeSize: 34 },
  [GgmlType.Q4_0]: { blockSize: 32, typeSize: 18 },
  [GgmlType.Q4_K]: { blockSize: 256, typeSize: 144 },
};

/**
 * Random bytes of the blocks of `numel` values of `type`, with f16 block scales ~ `scale` (bytes 0-1
 * of each block). Q4_K super-blocks also hold dmin (bytes 2-3), the scale of the eight sub-block
 * minimums, set to 7.5 × d so that the random mins cancel the mean of the random nibbles.
 */
function randomBlocks(type: GgmlType, numel: number, seed: number, scale: number): Uint8Array {
  const layout = BLOCKS[type];
  if (!layout) throw new Error(`random blocks of GGML type ${type} are not written`);
  const { blockSize, typeSize } = layout;
  if (numel % blockSize !== 0) throw new Error(`${numel} values do not fill blocks of ${blockSize}`);
  const out = new Uint8Array((numel / blockSize) * typeSize);
  const words = new Uint32Array(out.buffer, 0, Math.floor(out.length / 4));
  const next = noise(seed);
  if (type === GgmlType.F32) {
    const f = new Float32Array(out.buffer);
    for (let i = 0; i < f.length; i++) f[i] = ((next() / 2 ** 32) * 2 - 1) * scale * Math.sqrt(3);
    return out;
  }
  for (let i = 0; i < words.length; i++) words[i] = next();
  // f16 of `scale` for every block (the random quants give the values their spread).
  const h = f16Bits(scale);
  const hMin = f16Bits(7.5 * scale);
  for (let b = 0; b < out.length; b += typeSize) {
    out[b] = h & 0xff;
    out[b + 1] = h >> 8;
    if (type === GgmlType.Q4_K) {
      out[b + 2] = hMin & 0xff;
      out[b + 3] = hMin >> 8;
    }
  }
  return out;
}

function f16Bits(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  return ((u >>> 16) & 0x8000) | (exp << 10) | ((u >>> 13) & 0x3ff);
}

/** The types shape files are written in, by their file-name suffix. */
const SHAPE_TYPES: Partial<Record<GgmlType, 'f32' | 'q8_0' | 'q4_0' | 'q4_k'>> = {
  [GgmlType.F32]: 'f32',
  [GgmlType.Q8_0]: 'q8_0',
  [GgmlType.Q4_0]: 'q4_0',
  [GgmlType.Q4_K]: 'q4_k',
};

/**
 * bench/models/<shape>.<type>.gguf, written if missing: every 2-D weight of `type` (random
 * blocks whose values have a standard deviation near 0.02), norms at 1, biases at 0.
 */
export function ensureShapeGguf(key: string, type: GgmlType, log: (msg: string) => void): string {
  const shape = SHAPES[key];
  if (!shape) throw new Error(`unknown shape ${key} (known: ${Object.keys(SHAPES).join(', ')})`);
  const name = SHAPE_TYPES[type];
  if (!name) throw new Error(`shape files are written as ${Object.values(SHAPE_TYPES).join(', ')}, not GGML type ${type}`);
  const blockSize = BLOCKS[type]?.blockSize ?? 1;
  const rowLengths = [shape.hidden, shape.intermediate];
  if (rowLengths.some((k) => k % blockSize !== 0)) throw new Error(`${shape.label} has rows of ${rowLengths.join(' and ')} values, not whole ${name} blocks of ${blockSize}`);
  const file = join(MODELS_DIR, `${key}.${name}.gguf`);
  if (existsSync(file)) return file;
  const spec = specOf(shape);
  const tokenizerJson = JSON.parse(readFileSync(sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json'), 'utf8')) as object;
  // Steerer exports F32, Q8_0 and Q4_0 itself; a Q4_K file says so in general.file_type
  // (llama.cpp's MOSTLY_Q4_K_S, 14: every matrix Q4_K), the rest of its metadata is the same.
  const meta = modelGgufMetadata(spec, { type: type === GgmlType.Q4_K ? GgmlType.Q4_0 : type, name: `${shape.label} (random)`, tokenizerJson }).map((e): GgufMetaEntry =>
    type === GgmlType.Q4_K && e.key === 'general.file_type' ? { key: e.key, type: 'u32', value: 14 } : e,
  );
  const D = shape.hidden;
  const hd = D / shape.heads;
  // Per-value std 0.02: Q4_0 values (q − 8)·d have std ≈ 4.6 d, Q8_0 values q·d ≈ 74 d, Q4_K values
  // d·sc·q − dmin·m (sc, m uniform in 0..63, dmin = 7.5 d) ≈ 255 d.
  const blockScale = { q4_0: 0.02 / 4.6, q8_0: 0.02 / 74, q4_k: 0.02 / 255, f32: 0.02 }[name];
  let seed = 1;
  const matrix = (n: string, rows: number, cols: number): GgufTensorToWrite => {
    const s = seed++;
    return { name: n, shape: [rows, cols], type, bytes: () => randomBlocks(type, rows * cols, s, blockScale) };
  };
  const ones = (n: string, len: number): GgufTensorToWrite => ({ name: n, shape: [len], type: GgmlType.F32, data: new Float32Array(len).fill(1) });
  const zeros = (n: string, len: number): GgufTensorToWrite => ({ name: n, shape: [len], type: GgmlType.F32, data: new Float32Array(len) });
  const tensors: GgufTensorToWrite[] = [matrix('token_embd.weight', shape.vocab, D), ones('output_norm.weight', D)];
  if (!shape.tied) tensors.push(matrix('output.weight', shape.vocab, D));
  for (let l = 0; l < shape.layers; l++) {
    const b = `blk.${l}.`;
    tensors.push(
      ones(`${b}attn_norm.weight`, D),
      matrix(`${b}attn_q.weight`, shape.heads * hd, D),
      matrix(`${b}attn_k.weight`, shape.kvHeads * hd, D),
      matrix(`${b}attn_v.weight`, shape.kvHeads * hd, D),
      matrix(`${b}attn_output.weight`, D, shape.heads * hd),
      ones(`${b}ffn_norm.weight`, D),
      matrix(`${b}ffn_gate.weight`, shape.intermediate, D),
      matrix(`${b}ffn_up.weight`, shape.intermediate, D),
      matrix(`${b}ffn_down.weight`, D, shape.intermediate),
    );
    if (shape.arch === 'qwen2') tensors.push(zeros(`${b}attn_q.bias`, shape.heads * hd), zeros(`${b}attn_k.bias`, shape.kvHeads * hd), zeros(`${b}attn_v.bias`, shape.kvHeads * hd));
  }
  log(`writing ${file} (${shape.label}, ${name}, one tensor at a time)`);
  // Atomic (temporary file + rename): an interrupted write leaves no file to trust.
  writeGguf(file, meta, tensors);
  log(`  ${(statSync(file).size / 2 ** 30).toFixed(2)} GiB`);
  return file;
}
