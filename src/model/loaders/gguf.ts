import path from 'node:path';
import { ModelFileError } from '../../io/errors.js';
import { GgufFile, ggmlTypeName } from '../../io/gguf.js';
import { interleavedToHalfSplitRows } from '../rope-permute.js';
import type { ArchFamily, LoadedModel, ModelSpec, RopeScaling, WeightMap } from '../spec.js';
import { readTransposed, transpose2d, type HostTensor } from '../tensor.js';
import { tokenizerFromGgufVocab } from '../tokenizers/gguf-vocab.js';

/**
 * GGUF (llama.cpp) files: metadata → spec, tensors dequantized to F32, tokenizer and chat
 * template from tokenizer.ggml.* metadata.
 */

/** GGUF architectures and the rope convention llama.cpp stores their q/k in. */
const ARCHS: Record<string, { family: ArchFamily; interleavedQk: boolean }> = {
  llama: { family: 'llama', interleavedQk: true },
  mistral: { family: 'llama', interleavedQk: true },
  qwen2: { family: 'llama', interleavedQk: false },
  qwen3: { family: 'llama', interleavedQk: false },
  gpt2: { family: 'gpt2', interleavedQk: false },
};

export function loadGguf(file: string): LoadedModel {
  const gguf = GgufFile.open(file);
  try {
    const arch = gguf.getString('general.architecture');
    if (!arch) throw new ModelFileError(file, 'general.architecture is missing');
    const info = ARCHS[arch];
    if (!info) throw new ModelFileError(file, `architecture "${arch}" is not supported (supported: ${Object.keys(ARCHS).join(', ')})`);

    const tokens = stringArray(gguf, 'tokenizer.ggml.tokens', file);
    const num = (key: string, fallback?: number): number => {
      const v = gguf.getNumber(`${arch}.${key}`);
      if (v === undefined) {
        if (fallback === undefined) throw new ModelFileError(file, `${arch}.${key} is missing`);
        return fallback;
      }
      return v;
    };
    const D = num('embedding_length');
    const H = num('attention.head_count');
    const Hkv = num('attention.head_count_kv', H);
    const hd = num('attention.key_length', D / H);
    if (!Number.isInteger(hd) || H % Hkv !== 0) throw new ModelFileError(file, `inconsistent head counts (embedding ${D}, heads ${H}, kv heads ${Hkv})`);
    const bosId = gguf.getNumber('tokenizer.ggml.bos_token_id');
    const eosId = gguf.getNumber('tokenizer.ggml.eos_token_id');
    const tokenizerModel = gguf.getString('tokenizer.ggml.model') ?? 'llama';
    const addBos = (gguf.get('tokenizer.ggml.add_bos_token') as boolean | undefined) ?? tokenizerModel === 'llama';
    const embd = gguf.tensors.get('token_embd.weight');
    if (!embd) throw new ModelFileError(file, 'tensor token_embd.weight is missing');

    const qkvBias = gguf.tensors.has('blk.0.attn_q.bias') || gguf.tensors.has('blk.0.attn_qkv.bias');
    const spec: ModelSpec = {
      architecture: arch,
      family: info.family,
      vocabSize: embd.shape[0],
      hiddenSize: D,
      numLayers: num('block_count'),
      numHeads: H,
      numKvHeads: Hkv,
      headDim: hd,
      intermediateSize: num('feed_forward_length'),
      maxPositions: num('context_length', 2048),
      norm: info.family === 'gpt2' ? 'layer' : 'rms',
      normEps: info.family === 'gpt2' ? num('attention.layer_norm_epsilon', 1e-5) : num('attention.layer_norm_rms_epsilon', 1e-6),
      activation: info.family === 'gpt2' ? 'gelu_tanh' : 'silu',
      attnQkvBias: qkvBias,
      attnOutBias: gguf.tensors.has('blk.0.attn_output.bias'),
      mlpBias: gguf.tensors.has('blk.0.ffn_up.bias'),
      qkNorm: gguf.tensors.has('blk.0.attn_q_norm.weight'),
      positions: info.family === 'gpt2' ? 'learned' : 'rope',
      rope:
        info.family === 'gpt2'
          ? undefined
          : { theta: num('rope.freq_base', 10000), dim: num('rope.dimension_count', hd), scaling: ropeScaling(gguf, arch, file) },
      tiedEmbeddings: !gguf.tensors.has('output.weight'),
      bosTokenId: bosId,
      eosTokenIds: eosId === undefined ? [] : [eosId],
      padTokenId: gguf.getNumber('tokenizer.ggml.padding_token_id'),
      addBos,
    };
    if (tokens.length !== spec.vocabSize) {
      throw new ModelFileError(file, `tokenizer has ${tokens.length} tokens but token_embd has ${spec.vocabSize} rows`);
    }

    const tokenizer = tokenizerFromGgufVocab(
      {
        model: tokenizerModel,
        pre: gguf.getString('tokenizer.ggml.pre'),
        tokens,
        scores: numberArray(gguf, 'tokenizer.ggml.scores'),
        tokenTypes: numberArray(gguf, 'tokenizer.ggml.token_type'),
        merges: gguf.getArray('tokenizer.ggml.merges') as string[] | undefined,
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

    return {
      spec,
      weights: readWeights(gguf, spec, info.interleavedQk, file),
      tokenizer,
      chatTemplate: gguf.getString('tokenizer.chat_template'),
      specialTokens,
      source: { format: 'gguf', path: file, name: gguf.getString('general.name') ?? path.basename(file, '.gguf'), dtypes },
    };
  } finally {
    gguf.close();
  }
}

function readWeights(gguf: GgufFile, spec: ModelSpec, interleavedQk: boolean, file: string): WeightMap {
  const { hiddenSize: D, vocabSize: V, intermediateSize: F, headDim: hd, numHeads: H, numKvHeads: Hkv } = spec;
  const check = (name: string, shape: readonly number[]): void => {
    const t = gguf.tensors.get(name);
    if (!t) throw new ModelFileError(file, `tensor ${name} is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(file, `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  };
  const read = (name: string, shape: readonly number[]): Float32Array => {
    check(name, shape);
    return gguf.readF32(name);
  };
  /** GGUF stores linear weights [out, in] (numpy order); canonical is [in, out]. */
  const linear = (name: string, out: number, inp: number, heads?: number): HostTensor => {
    if (heads !== undefined && interleavedQk) {
      const w = interleavedToHalfSplitRows(read(name, [out, inp]), heads, hd, inp);
      return { data: transpose2d(w, out, inp), shape: [inp, out] };
    }
    // Dequantized and transposed a block of rows at a time: no second full copy.
    check(name, [out, inp]);
    return { data: readTransposed(gguf, name, out, inp), shape: [inp, out] };
  };
  const vector = (name: string, n: number, heads?: number): HostTensor => {
    let v = read(name, [n]);
    if (heads !== undefined && interleavedQk) v = interleavedToHalfSplitRows(v, heads, hd, 1);
    return { data: v, shape: [n] };
  };
  const has = (name: string): boolean => gguf.tensors.has(name);

  const w: WeightMap = new Map();
  if (has('output.weight')) {
    w.set('token_embd', { data: read('token_embd.weight', [V, D]), shape: [V, D] });
    w.set('output.weight', linear('output.weight', V, D));
  } else {
    w.set('output.weight', linear('token_embd.weight', V, D));
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
      const qkv = read(`${b}attn_qkv.weight`, [D + 2 * Hkv * hd, D]);
      const bias = has(`${b}attn_qkv.bias`) ? read(`${b}attn_qkv.bias`, [D + 2 * Hkv * hd]) : undefined;
      const sizes = { q: H * hd, k: Hkv * hd, v: Hkv * hd };
      let row = 0;
      for (const [name, n] of Object.entries(sizes)) {
        w.set(`${b}attn_${name}.weight`, { data: transpose2d(qkv.slice(row * D, (row + n) * D), n, D), shape: [D, n] });
        if (bias) w.set(`${b}attn_${name}.bias`, { data: bias.slice(row, row + n), shape: [n] });
        row += n;
      }
    } else {
      w.set(`${b}attn_q.weight`, linear(`${b}attn_q.weight`, H * hd, D, H));
      w.set(`${b}attn_k.weight`, linear(`${b}attn_k.weight`, Hkv * hd, D, Hkv));
      w.set(`${b}attn_v.weight`, linear(`${b}attn_v.weight`, Hkv * hd, D));
      opt('attn_q.bias', H * hd, H);
      opt('attn_k.bias', Hkv * hd, Hkv);
      opt('attn_v.bias', Hkv * hd);
    }
    opt('attn_q_norm.weight', hd);
    opt('attn_k_norm.weight', hd);
    w.set(`${b}attn_output.weight`, linear(`${b}attn_output.weight`, D, H * hd));
    opt('attn_output.bias', D);
    w.set(`${b}ffn_norm.weight`, vector(`${b}ffn_norm.weight`, D));
    opt('ffn_norm.bias', D);
    if (spec.family === 'llama') w.set(`${b}ffn_gate.weight`, linear(`${b}ffn_gate.weight`, F, D));
    w.set(`${b}ffn_up.weight`, linear(`${b}ffn_up.weight`, F, D));
    opt('ffn_up.bias', F);
    w.set(`${b}ffn_down.weight`, linear(`${b}ffn_down.weight`, D, F));
    opt('ffn_down.bias', D);
  }
  return w;
}

function ropeScaling(gguf: GgufFile, arch: string, file: string): RopeScaling | undefined {
  if (gguf.tensors.has('rope_freqs.weight')) return { type: 'factors', factors: Array.from(gguf.readF32('rope_freqs.weight')) };
  const type = gguf.getString(`${arch}.rope.scaling.type`);
  if (!type || type === 'none') return undefined;
  const factor = gguf.getNumber(`${arch}.rope.scaling.factor`);
  if (type === 'linear' && factor) return { type: 'linear', factor };
  throw new ModelFileError(file, `rope scaling "${type}" is not supported`);
}

function stringArray(gguf: GgufFile, key: string, file: string): string[] {
  const a = gguf.getArray(key);
  if (!a) throw new ModelFileError(file, `${key} is missing`);
  if (!a.every((x) => typeof x === 'string')) throw new ModelFileError(file, `${key} must be an array of strings`);
  return a as string[];
}

function numberArray(gguf: GgufFile, key: string): number[] | undefined {
  const a = gguf.getArray(key);
  return a?.map((x) => Number(x));
}
