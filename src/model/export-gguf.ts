import { InvalidInputError } from '../io/errors.js';
import { GgmlType } from '../io/gguf.js';
import { writeGguf, type GgufTensorToWrite } from '../io/gguf-write.js';
import type { GgufMetaEntry } from '../io/gguf-format.js';
import { halfSplitToInterleavedRows } from './rope-permute.js';
import type { ModelSpec, WeightMap } from './spec.js';
import { transpose2d } from './tensor.js';

/**
 * Writes a model as a GGUF file laid out the way llama.cpp's converter lays it out (tensor
 * names, [out, in] order, interleaved q/k rows for the "llama" architecture, tokenizer
 * metadata), so llama.cpp can load what Steerer wrote. Used for parity checks and benchmarks.
 */

type Json = Record<string, unknown>;

/** llama.cpp's general.file_type for a uniform weight type. */
const FILE_TYPE: Partial<Record<GgmlType, number>> = {
  [GgmlType.F32]: 0,
  [GgmlType.F16]: 1,
  [GgmlType.Q4_0]: 2,
  [GgmlType.Q8_0]: 7,
  [GgmlType.BF16]: 32,
};

export interface GgufExportOptions {
  /** Type of 2-D weight matrices (norms and biases stay F32, as llama.cpp requires). */
  readonly type?: GgmlType;
  readonly name?: string;
  /** The Hugging Face tokenizer.json object to embed as tokenizer.ggml.* metadata. */
  readonly tokenizerJson: object;
  /**
   * Write a SentencePiece-style vocabulary that lacks the 256 <0xNN> byte tokens anyway.
   * llama.cpp's tokenizer aborts on characters outside such a vocabulary (Steerer's maps them
   * to <unk>), so this is for files used with token ids, e.g. parity checks.
   */
  readonly allowMissingByteTokens?: boolean;
  readonly chatTemplate?: string;
}

function ggufArchitecture(spec: ModelSpec): 'llama' | 'qwen2' | 'qwen3' | 'gpt2' {
  if (spec.family === 'gpt2') return 'gpt2';
  if (spec.qkNorm) return 'qwen3';
  if (spec.attnQkvBias) return 'qwen2';
  return 'llama';
}

export function writeModelGguf(file: string, spec: ModelSpec, weights: WeightMap, opts: GgufExportOptions): void {
  const type = opts.type ?? GgmlType.F32;
  writeGguf(file, modelGgufMetadata(spec, opts), exportTensors(spec, weights, type, ggufArchitecture(spec) === 'llama'));
}

/** The metadata llama.cpp needs for a model of `spec` (architecture, sizes, tokenizer), weights aside. */
export function modelGgufMetadata(spec: ModelSpec, opts: GgufExportOptions): GgufMetaEntry[] {
  const type = opts.type ?? GgmlType.F32;
  const fileType = FILE_TYPE[type];
  if (fileType === undefined) throw new InvalidInputError(`cannot export weights as GGML type ${type}`);
  const arch = ggufArchitecture(spec);
  if (spec.rope?.scaling) throw new InvalidInputError('exporting models with RoPE scaling is not supported');
  const u32 = (key: string, value: number): GgufMetaEntry => ({ key, type: 'u32', value });
  const f32 = (key: string, value: number): GgufMetaEntry => ({ key, type: 'f32', value });
  const meta: GgufMetaEntry[] = [
    { key: 'general.architecture', type: 'string', value: arch },
    { key: 'general.name', type: 'string', value: opts.name ?? 'steerer-export' },
    u32('general.file_type', fileType),
    u32(`${arch}.context_length`, spec.maxPositions),
    u32(`${arch}.embedding_length`, spec.hiddenSize),
    u32(`${arch}.block_count`, spec.numLayers),
    u32(`${arch}.feed_forward_length`, spec.intermediateSize),
    u32(`${arch}.attention.head_count`, spec.numHeads),
    u32(`${arch}.attention.head_count_kv`, spec.numKvHeads),
    u32(`${arch}.vocab_size`, spec.vocabSize),
  ];
  if (spec.family === 'gpt2') {
    meta.push(f32(`${arch}.attention.layer_norm_epsilon`, spec.normEps));
  } else {
    meta.push(
      f32(`${arch}.attention.layer_norm_rms_epsilon`, spec.normEps),
      f32(`${arch}.rope.freq_base`, spec.rope!.theta),
      u32(`${arch}.rope.dimension_count`, spec.rope!.dim),
      u32(`${arch}.attention.key_length`, spec.headDim),
      u32(`${arch}.attention.value_length`, spec.headDim),
    );
  }
  meta.push(...tokenizerMetadata(opts.tokenizerJson, spec, opts.allowMissingByteTokens === true));
  if (opts.chatTemplate) meta.push({ key: 'tokenizer.chat_template', type: 'string', value: opts.chatTemplate });
  return meta;
}

/** A tensor to write from float32 values. */
type DenseTensor = Extract<GgufTensorToWrite, { readonly data: Float32Array }>;

function exportTensors(spec: ModelSpec, weights: WeightMap, type: GgmlType, interleaveQk: boolean): DenseTensor[] {
  const out: DenseTensor[] = [];
  const { headDim: hd } = spec;
  for (const [name, t] of weights) {
    const ggufName = name === 'token_embd' ? 'token_embd.weight' : name === 'pos_embd' ? 'position_embd.weight' : name;
    if (t.shape.length === 1) {
      let data = t.data;
      const heads = /attn_q\.bias$/.test(name) ? spec.numHeads : /attn_k\.bias$/.test(name) ? spec.numKvHeads : 0;
      if (interleaveQk && heads) data = halfSplitToInterleavedRows(data, heads, hd, 1);
      out.push({ name: ggufName, shape: t.shape, data, type: GgmlType.F32 });
      continue;
    }
    if (name === 'token_embd' || name === 'pos_embd') {
      out.push({ name: ggufName, shape: t.shape, data: t.data, type: name === 'pos_embd' ? GgmlType.F32 : type });
      continue;
    }
    // Canonical [in, out] → GGUF [out, in].
    const [inp, outDim] = t.shape;
    let data = transpose2d(t.data, inp, outDim);
    const heads = /attn_q\.weight$/.test(name) ? spec.numHeads : /attn_k\.weight$/.test(name) ? spec.numKvHeads : 0;
    if (interleaveQk && heads) data = halfSplitToInterleavedRows(data, heads, hd, inp);
    if (name === 'output.weight' && !weights.has('token_embd')) {
      // Tied: llama.cpp reads the embedding table and reuses it as the output matrix.
      out.push({ name: 'token_embd.weight', shape: [outDim, inp], data, type });
      continue;
    }
    out.push({ name, shape: [outDim, inp], data, type });
  }
  if (spec.family === 'gpt2') return fuseQkv(spec, out);
  return out;
}

/** GPT-2 in llama.cpp keeps q|k|v fused as attn_qkv. */
function fuseQkv(spec: ModelSpec, tensors: DenseTensor[]): DenseTensor[] {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = tensors.filter((t) => !/attn_[qkv]\.(weight|bias)$/.test(t.name));
  for (let l = 0; l < spec.numLayers; l++) {
    for (const kind of ['weight', 'bias'] as const) {
      const parts = ['q', 'k', 'v'].map((p) => byName.get(`blk.${l}.attn_${p}.${kind}`)!);
      const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
      let at = 0;
      for (const p of parts) {
        data.set(p.data, at);
        at += p.data.length;
      }
      const rows = parts.reduce((n, p) => n + p.shape[0], 0);
      out.push({ name: `blk.${l}.attn_qkv.${kind}`, shape: kind === 'weight' ? [rows, spec.hiddenSize] : [rows], data, type: parts[0].type });
    }
  }
  return out;
}

/**
 * tokenizer.ggml.* from a tokenizer.json. Byte-level BPE becomes llama.cpp's "gpt2" model
 * with merges; SentencePiece-style BPE (▁ pieces, byte fallback) becomes its "llama" model,
 * with scores that reproduce the merge order (earlier merge, higher score).
 */
function tokenizerMetadata(tokenizerJson: object, spec: ModelSpec, allowMissingByteTokens = false): GgufMetaEntry[] {
  const tj = tokenizerJson as Json;
  const model = tj.model as Json | undefined;
  if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object' || model.vocab === null) {
    throw new InvalidInputError('GGUF export supports BPE tokenizers (tokenizer.json model.type "BPE")');
  }
  const vocab = model.vocab as Record<string, number>;
  const added = Array.isArray(tj.added_tokens) ? (tj.added_tokens as Json[]) : [];
  const tokens: string[] = new Array(spec.vocabSize).fill('');
  for (const [piece, id] of Object.entries(vocab)) if (id < spec.vocabSize) tokens[id] = piece;
  const special = new Set<number>();
  for (const a of added) {
    if (typeof a.id === 'number' && typeof a.content === 'string' && a.id < spec.vocabSize) {
      tokens[a.id] = a.content;
      if (a.special === true) special.add(a.id);
    }
  }
  tokens.forEach((t, i) => {
    if (t === '') tokens[i] = `[PAD${i}]`;
  });
  const merges = (Array.isArray(model.merges) ? model.merges : []).map((m: unknown) => (Array.isArray(m) ? m.join(' ') : String(m)));
  const spm = model.byte_fallback === true || tokens.some((t) => t.startsWith('▁'));
  const meta: GgufMetaEntry[] = [];
  const ids = (key: string, id: number | undefined): void => {
    if (id !== undefined) meta.push({ key, type: 'u32', value: id });
  };
  if (spm) {
    const byteTokens = tokens.filter((t) => /^<0x[0-9A-F]{2}>$/.test(t)).length;
    if (byteTokens < 256 && !allowMissingByteTokens) {
      throw new InvalidInputError(
        `this SentencePiece-style vocabulary has ${byteTokens} of the 256 <0xNN> byte tokens; llama.cpp aborts on text it cannot cover, so the GGUF would only be safe with token ids (pass allowMissingByteTokens to write it anyway)`,
      );
    }
    const rank = new Map<string, number>();
    merges.forEach((m: string, i: number) => {
      const merged = m.replace(' ', '');
      if (!rank.has(merged)) rank.set(merged, i);
    });
    const types = tokens.map((t, i) => (special.has(i) ? (t === '<unk>' ? 2 : 3) : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1));
    meta.push(
      { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
      { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: tokens },
      { key: 'tokenizer.ggml.scores', type: 'array', itemType: 'f32', value: tokens.map((t) => (rank.has(t) ? -rank.get(t)! : 0)) },
      { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: types },
    );
    const unk = tokens.indexOf('<unk>');
    ids('tokenizer.ggml.unknown_token_id', unk >= 0 ? unk : undefined);
  } else {
    meta.push(
      { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
      { key: 'tokenizer.ggml.pre', type: 'string', value: byteLevelPre(tj) },
      { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: tokens },
      { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: tokens.map((_, i) => (special.has(i) ? 3 : 1)) },
      { key: 'tokenizer.ggml.merges', type: 'array', itemType: 'string', value: merges },
    );
  }
  ids('tokenizer.ggml.bos_token_id', spec.bosTokenId);
  ids('tokenizer.ggml.eos_token_id', spec.eosTokenIds[0]);
  ids('tokenizer.ggml.padding_token_id', spec.padTokenId);
  meta.push({ key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: spec.addBos });
  return meta;
}

/** llama.cpp's name for a byte-level BPE pre-tokenizer, read off tokenizer.json's pre_tokenizer. */
function byteLevelPre(tj: Json): string {
  const patterns: string[] = [];
  let digits = false;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Json;
      if (o.type === 'Digits' && o.individual_digits === true) digits = true;
      if (typeof o.Regex === 'string') patterns.push(o.Regex);
      Object.values(o).forEach(walk);
    }
  };
  walk(tj.pre_tokenizer);
  if (digits) return 'smollm';
  if (patterns.some((p) => p.includes('\\p{N}{1,3}'))) return 'llama-bpe';
  if (patterns.some((p) => p.includes('\\p{L}+|\\p{N}'))) return 'qwen2';
  return 'gpt-2';
}
