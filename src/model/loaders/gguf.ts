import path from 'node:path';
import { ModelFileError } from '../../io/errors.js';
import { GgmlType, GgufFile, ggmlTypeName } from '../../io/gguf.js';
import { NBITS_BLOCK } from '../../io/nbits-repack.js';
import { canMapSource, packGgufWeights, packable, type PackPlanEntry } from '../packed-weights.js';
import { interleavedToHalfSplitOrder, interleavedToHalfSplitRows } from '../rope-permute.js';
import type { ArchFamily, LoadedModel, ModelSpec, RopeScaling, WeightMap } from '../spec.js';
import { readTransposed, transpose2d, type HostTensor } from '../tensor.js';
import { tokenizerFromGgufVocab } from '../tokenizers/gguf-vocab.js';
import { showValue, validateModelSpec } from '../validate-spec.js';
import { checkWeightValues } from '../weight-values.js';

/**
 * GGUF (llama.cpp) files: metadata → spec; linear weights that ONNX Runtime reads from files
 * itself (../packed-weights.ts: quantized ones repacked, float32 ones in place in the GGUF) or,
 * with `weights: 'f32'`, every tensor expanded to float32 in memory; tokenizer and chat template
 * from tokenizer.ggml.* metadata.
 */

export interface GgufLoadOptions {
  /**
   * 'packed' (default): quantized linear weights stay block-quantized in memory and float32 ones
   * are read in place from the file; 'f32': every weight is expanded to float32 in memory (exact
   * arithmetic for quantized files, 4-8× the memory).
   */
  readonly weights?: 'packed' | 'f32';
  /** Cache directory for packed weights (default: cacheDir('packed')). */
  readonly cacheRoot?: string;
}

/** GGUF architectures and the rope convention llama.cpp stores their q/k in. */
const ARCHS: Record<string, { family: ArchFamily; interleavedQk: boolean }> = {
  llama: { family: 'llama', interleavedQk: true },
  mistral: { family: 'llama', interleavedQk: true },
  qwen2: { family: 'llama', interleavedQk: false },
  qwen3: { family: 'llama', interleavedQk: false },
  gpt2: { family: 'gpt2', interleavedQk: false },
};

export function loadGguf(file: string, opts: GgufLoadOptions = {}): LoadedModel {
  const gguf = GgufFile.open(file);
  try {
    const arch = gguf.getString('general.architecture');
    if (!arch) throw new ModelFileError(file, 'general.architecture is missing');
    const info = ARCHS[arch];
    if (!info) throw new ModelFileError(file, `architecture "${arch}" is not supported (supported: ${Object.keys(ARCHS).join(', ')})`);

    const tokens = stringArray(gguf, 'tokenizer.ggml.tokens', file);
    const key = (k: string): string => `${arch}.${k}`;
    /** A positive integer (a size or count) under `${arch}.k`; its range is checked by validateModelSpec. */
    const count = (k: string, fallback?: number): number => {
      const v = gguf.getNumber(key(k));
      if (v === undefined) {
        if (fallback === undefined) throw new ModelFileError(file, `metadata "${key(k)}" is missing`);
        return fallback;
      }
      if (!Number.isSafeInteger(v) || v < 1) throw new ModelFileError(file, `metadata "${key(k)}" must be a positive integer, got ${showValue(v)}`);
      return v;
    };
    /** A float under `${arch}.k` (NaN and ±∞ are refused by validateModelSpec, with the key's name). */
    const real = (k: string, fallback: number): number => gguf.getNumber(key(k)) ?? fallback;
    /** An optional token id (range checked against the vocabulary by validateModelSpec). */
    const tokenId = (k: string): number | undefined => {
      const v = gguf.getNumber(k);
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new ModelFileError(file, `metadata "${k}" must be a token id, got ${showValue(v)}`);
      return v;
    };
    const D = count('embedding_length');
    const H = count('attention.head_count');
    const Hkv = count('attention.head_count_kv', H);
    const hasKeyLength = gguf.get(key('attention.key_length')) !== undefined;
    if (!hasKeyLength && D % H !== 0) {
      throw new ModelFileError(file, `metadata "${key('embedding_length')}" (${D}) is not divisible by "${key('attention.head_count')}" (${H})`);
    }
    const hd = hasKeyLength ? count('attention.key_length') : D / H;
    if (info.interleavedQk && hd % 2 !== 0) {
      throw new ModelFileError(file, `head dimension ${hd} ("${hasKeyLength ? key('attention.key_length') : `${key('embedding_length')} / ${key('attention.head_count')}`}") is odd; the interleaved RoPE layout of "${arch}" needs an even one`);
    }
    const bosId = tokenId('tokenizer.ggml.bos_token_id');
    const eosId = tokenId('tokenizer.ggml.eos_token_id');
    const tokenizerModel = gguf.getString('tokenizer.ggml.model') ?? 'llama';
    const addBos = gguf.getBool('tokenizer.ggml.add_bos_token') ?? tokenizerModel === 'llama';
    const embd = gguf.tensors.get('token_embd.weight');
    if (!embd) throw new ModelFileError(file, 'tensor token_embd.weight is missing');
    if (embd.shape.length !== 2 || embd.shape[1] !== D) {
      throw new ModelFileError(file, `tensor token_embd.weight has shape [${embd.shape.join(', ')}], expected [vocab, ${D}] ("${key('embedding_length')}" ${D})`);
    }
    const declaredVocab = gguf.getNumber(key('vocab_size'));
    if (declaredVocab !== undefined && declaredVocab !== embd.shape[0]) {
      throw new ModelFileError(file, `metadata "${key('vocab_size')}" is ${showValue(declaredVocab)} but token_embd.weight has ${embd.shape[0]} rows`);
    }

    const qkvBias = gguf.tensors.has('blk.0.attn_q.bias') || gguf.tensors.has('blk.0.attn_qkv.bias');
    const spec: ModelSpec = {
      architecture: arch,
      family: info.family,
      vocabSize: embd.shape[0],
      hiddenSize: D,
      numLayers: count('block_count'),
      numHeads: H,
      numKvHeads: Hkv,
      headDim: hd,
      intermediateSize: count('feed_forward_length'),
      maxPositions: count('context_length', 2048),
      norm: info.family === 'gpt2' ? 'layer' : 'rms',
      normEps: info.family === 'gpt2' ? real('attention.layer_norm_epsilon', 1e-5) : real('attention.layer_norm_rms_epsilon', 1e-6),
      activation: info.family === 'gpt2' ? 'gelu_tanh' : 'silu',
      attnQkvBias: qkvBias,
      attnOutBias: gguf.tensors.has('blk.0.attn_output.bias'),
      mlpBias: gguf.tensors.has('blk.0.ffn_up.bias'),
      qkNorm: gguf.tensors.has('blk.0.attn_q_norm.weight'),
      positions: info.family === 'gpt2' ? 'learned' : 'rope',
      rope:
        info.family === 'gpt2'
          ? undefined
          : { theta: real('rope.freq_base', 10000), dim: count('rope.dimension_count', hd), scaling: ropeScaling(gguf, arch, file) },
      tiedEmbeddings: !gguf.tensors.has('output.weight'),
      bosTokenId: bosId,
      eosTokenIds: eosId === undefined ? [] : [eosId],
      padTokenId: tokenId('tokenizer.ggml.padding_token_id'),
      addBos,
    };
    const meta = (k: string): string => `metadata "${key(k)}"`;
    // Before the tokenizer or any weight is built from it.
    validateModelSpec(spec, file, {
      vocabSize: 'vocabulary size (rows of token_embd.weight)',
      hiddenSize: meta('embedding_length'),
      numLayers: meta('block_count'),
      numHeads: meta('attention.head_count'),
      numKvHeads: meta('attention.head_count_kv'),
      headDim: hasKeyLength ? meta('attention.key_length') : `head dimension (${meta('embedding_length')} / "${key('attention.head_count')}")`,
      intermediateSize: meta('feed_forward_length'),
      maxPositions: meta('context_length'),
      normEps: info.family === 'gpt2' ? meta('attention.layer_norm_epsilon') : meta('attention.layer_norm_rms_epsilon'),
      'rope.theta': meta('rope.freq_base'),
      'rope.dim': meta('rope.dimension_count'),
      'rope.scaling.factor': meta('rope.scaling.factor'),
      'rope.scaling.factors': 'tensor "rope_freqs.weight"',
      bosTokenId: 'metadata "tokenizer.ggml.bos_token_id"',
      eosTokenIds: 'metadata "tokenizer.ggml.eos_token_id"',
      padTokenId: 'metadata "tokenizer.ggml.padding_token_id"',
    });
    if (tokens.length !== spec.vocabSize) {
      throw new ModelFileError(file, `tokenizer has ${tokens.length} tokens but token_embd has ${spec.vocabSize} rows`);
    }

    const tokenizer = tokenizerFromGgufVocab(
      {
        model: tokenizerModel,
        pre: gguf.getString('tokenizer.ggml.pre'),
        tokens,
        scores: numberArray(gguf, 'tokenizer.ggml.scores', file),
        tokenTypes: numberArray(gguf, 'tokenizer.ggml.token_type', file),
        merges: gguf.get('tokenizer.ggml.merges') === undefined ? undefined : stringArray(gguf, 'tokenizer.ggml.merges', file),
        bosId,
        eosId,
        unkId: gguf.getNumber('tokenizer.ggml.unknown_token_id'),
        padId: spec.padTokenId,
        addBos,
        addSpacePrefix: gguf.get('tokenizer.ggml.add_space_prefix') as boolean | undefined,
      },
      file,
    );

    const dtypes: Record<string, number> = {};
    for (const t of gguf.tensors.values()) dtypes[ggmlTypeName(t.type)] = (dtypes[ggmlTypeName(t.type)] ?? 0) + 1;
    const specialTokens: Record<string, string> = {};
    if (bosId !== undefined && tokens[bosId] !== undefined) specialTokens.bos_token = tokens[bosId];
    if (eosId !== undefined && tokens[eosId] !== undefined) specialTokens.eos_token = tokens[eosId];

    const plan: PackPlanEntry[] = [];
    const packing = opts.weights === 'f32' ? undefined : { plan, mapF32: canMapSource(file, { root: opts.cacheRoot }) };
    const weights = readWeights(gguf, spec, info.interleavedQk, file, packing);
    return {
      spec,
      weights,
      ...(plan.length ? { packed: packGgufWeights(gguf, file, plan, { root: opts.cacheRoot }) } : {}),
      tokenizer,
      chatTemplate: gguf.getString('tokenizer.chat_template'),
      specialTokens,
      source: { format: 'gguf', path: file, name: gguf.getString('general.name') ?? path.basename(file, '.gguf'), dtypes },
    };
  } finally {
    gguf.close();
  }
}

/**
 * The float32 weights; with `packing` given, quantized linear weights (and float32 ones, when they
 * can be mapped) are planned into it instead (canonical name, source rows, RoPE row order) and
 * left out of the map.
 */
function readWeights(gguf: GgufFile, spec: ModelSpec, interleavedQk: boolean, file: string, packing?: { plan: PackPlanEntry[]; mapF32: boolean }): WeightMap {
  const { hiddenSize: D, vocabSize: V, intermediateSize: F, headDim: hd, numHeads: H, numKvHeads: Hkv } = spec;
  const check = (name: string, shape: readonly number[]): void => {
    const t = gguf.tensors.get(name);
    if (!t) throw new ModelFileError(file, `tensor ${name} is missing`);
    if (INTEGER_TYPES.has(t.type)) throw new ModelFileError(file, `tensor ${name} has type ${ggmlTypeName(t.type)}; model weights must be floating point or quantized`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(file, `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  };
  const read = (name: string, shape: readonly number[]): Float32Array => {
    check(name, shape);
    return checkWeightValues(gguf.readF32(name), file, name);
  };
  /** Plans a packed matrix when the tensor is quantized (or a mapped one when it is float32) and packing is on. */
  const pack = (as: string, name: string, rowStart: number, rows: number, cols: number, heads?: number): boolean => {
    const t = gguf.tensors.get(name);
    if (!packing || !t) return false;
    const mapped = packing.mapF32 && t.type === GgmlType.F32;
    if (!mapped && (!packable(t.type) || cols % NBITS_BLOCK !== 0)) return false;
    const perm = heads !== undefined && interleavedQk ? { perm: interleavedToHalfSplitOrder(heads, hd) } : {};
    packing.plan.push({ name: as, tensor: name, rowStart, rows, cols, ...perm, ...(mapped ? { mapped } : {}) });
    return true;
  };
  /** GGUF stores linear weights [out, in] (numpy order); canonical is [in, out]. */
  const linear = (name: string, out: number, inp: number, heads?: number): HostTensor => {
    if (heads !== undefined && interleavedQk) {
      const w = interleavedToHalfSplitRows(read(name, [out, inp]), heads, hd, inp);
      return { data: transpose2d(w, out, inp), shape: [inp, out] };
    }
    // Dequantized and transposed a block of rows at a time: no second full copy.
    check(name, [out, inp]);
    return { data: checkWeightValues(readTransposed(gguf, name, out, inp), file, name), shape: [inp, out] };
  };
  const vector = (name: string, n: number, heads?: number): HostTensor => {
    let v = read(name, [n]);
    if (heads !== undefined && interleavedQk) v = interleavedToHalfSplitRows(v, heads, hd, 1);
    return { data: v, shape: [n] };
  };
  const has = (name: string): boolean => gguf.tensors.has(name);

  const w: WeightMap = new Map();
  /** A linear weight under its canonical name: planned for packing, or read as float32. */
  const setLinear = (as: string, name: string, out: number, inp: number, heads?: number): void => {
    check(name, [out, inp]);
    if (!pack(as, name, 0, out, inp, heads)) w.set(as, linear(name, out, inp, heads));
  };
  if (has('output.weight')) {
    check('token_embd.weight', [V, D]);
    if (!pack('token_embd', 'token_embd.weight', 0, V, D)) w.set('token_embd', { data: read('token_embd.weight', [V, D]), shape: [V, D] });
    setLinear('output.weight', 'output.weight', V, D);
  } else {
    setLinear('output.weight', 'token_embd.weight', V, D);
  }
  w.set('output_norm.weight', vector('output_norm.weight', D));
  if (has('output_norm.bias')) w.set('output_norm.bias', vector('output_norm.bias', D));
  if (spec.positions === 'learned') w.set('pos_embd', { data: read('position_embd.weight', [spec.maxPositions, D]), shape: [spec.maxPositions, D] });

  for (let l = 0; l < spec.numLayers; l++) {
    const b = `blk.${l}.`;
    const opt = (name: string, n: number, heads?: number): void => {
      if (has(b + name)) w.set(b + name, vector(b + name, n, heads));
    };
    w.set(`${b}attn_norm.weight`, vector(`${b}attn_norm.weight`, D));
    opt('attn_norm.bias', D);
    if (has(`${b}attn_qkv.weight`)) {
      // Fused q|k|v rows (GPT-2): split, then store each as [in, out].
      check(`${b}attn_qkv.weight`, [(H + 2 * Hkv) * hd, D]);
      const bias = has(`${b}attn_qkv.bias`) ? read(`${b}attn_qkv.bias`, [(H + 2 * Hkv) * hd]) : undefined;
      const sizes = { q: H * hd, k: Hkv * hd, v: Hkv * hd };
      // One tensor, so all three are packed or none is.
      const qkvPacked = pack(`${b}attn_q.weight`, `${b}attn_qkv.weight`, 0, sizes.q, D);
      if (qkvPacked) {
        pack(`${b}attn_k.weight`, `${b}attn_qkv.weight`, sizes.q, sizes.k, D);
        pack(`${b}attn_v.weight`, `${b}attn_qkv.weight`, sizes.q + sizes.k, sizes.v, D);
      }
      const qkv = qkvPacked ? undefined : read(`${b}attn_qkv.weight`, [(H + 2 * Hkv) * hd, D]);
      let row = 0;
      for (const [name, n] of Object.entries(sizes)) {
        if (qkv) w.set(`${b}attn_${name}.weight`, { data: transpose2d(qkv.slice(row * D, (row + n) * D), n, D), shape: [D, n] });
        if (bias) w.set(`${b}attn_${name}.bias`, { data: bias.slice(row, row + n), shape: [n] });
        row += n;
      }
    } else {
      setLinear(`${b}attn_q.weight`, `${b}attn_q.weight`, H * hd, D, H);
      setLinear(`${b}attn_k.weight`, `${b}attn_k.weight`, Hkv * hd, D, Hkv);
      setLinear(`${b}attn_v.weight`, `${b}attn_v.weight`, Hkv * hd, D);
      opt('attn_q.bias', H * hd, H);
      opt('attn_k.bias', Hkv * hd, Hkv);
      opt('attn_v.bias', Hkv * hd);
    }
    if (spec.qkNorm) {
      // Decided from layer 0; the graph needs them in every layer.
      w.set(`${b}attn_q_norm.weight`, vector(`${b}attn_q_norm.weight`, hd));
      w.set(`${b}attn_k_norm.weight`, vector(`${b}attn_k_norm.weight`, hd));
    }
    setLinear(`${b}attn_output.weight`, `${b}attn_output.weight`, D, H * hd);
    opt('attn_output.bias', D);
    w.set(`${b}ffn_norm.weight`, vector(`${b}ffn_norm.weight`, D));
    opt('ffn_norm.bias', D);
    if (spec.family === 'llama') setLinear(`${b}ffn_gate.weight`, `${b}ffn_gate.weight`, F, D);
    setLinear(`${b}ffn_up.weight`, `${b}ffn_up.weight`, F, D);
    opt('ffn_up.bias', F);
    setLinear(`${b}ffn_down.weight`, `${b}ffn_down.weight`, D, F);
    opt('ffn_down.bias', D);
  }
  return w;
}

/** ggml's integer tensor types: never a weight. */
const INTEGER_TYPES: ReadonlySet<number> = new Set([GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64]);

/** Scaling as stored; its values are range-checked by validateModelSpec. */
function ropeScaling(gguf: GgufFile, arch: string, file: string): RopeScaling | undefined {
  const freqs = gguf.tensors.get('rope_freqs.weight');
  if (freqs) {
    // Its length is checked against the rotary dimensions by validateModelSpec.
    if (freqs.dims.length !== 1) throw new ModelFileError(file, `tensor rope_freqs.weight has shape [${freqs.shape.join(', ')}], expected one dimension`);
    return { type: 'factors', factors: Array.from(gguf.readF32('rope_freqs.weight')) };
  }
  const type = gguf.getString(`${arch}.rope.scaling.type`);
  if (!type || type === 'none') return undefined;
  if (type === 'linear') {
    const factor = gguf.getNumber(`${arch}.rope.scaling.factor`);
    if (factor === undefined) throw new ModelFileError(file, `metadata "${arch}.rope.scaling.factor" is missing (needed by linear rope scaling)`);
    return { type: 'linear', factor };
  }
  throw new ModelFileError(file, `rope scaling "${type}" is not supported`);
}

function stringArray(gguf: GgufFile, key: string, file: string): string[] {
  const a = gguf.getArray(key);
  if (!a) throw new ModelFileError(file, `${key} is missing`);
  if (!a.every((x) => typeof x === 'string')) throw new ModelFileError(file, `${key} must be an array of strings`);
  return a as string[];
}

function numberArray(gguf: GgufFile, key: string, file: string): number[] | undefined {
  const a = gguf.getArray(key);
  if (a === undefined) return undefined;
  const out = a.map((x) => (typeof x === 'bigint' ? Number(x) : x));
  if (!out.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new ModelFileError(file, `metadata "${key}" must be an array of finite numbers`);
  return out as number[];
}
