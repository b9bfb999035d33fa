import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { interleavedToHalfSplitRows } from '../rope-permute.js';
import { ModelFileError } from '../../io/errors.js';
import type { LoadedModel, ModelSpec, WeightMap } from '../spec.js';
import { tensor, transpose2d } from '../tensor.js';
import { validateModelSpec, type SpecFieldNames } from '../validate-spec.js';
import { checkWeightValues } from '../weight-values.js';
import { readLlama2cTokenizer } from '../tokenizers/llama2c-tokenizer.js';

/** "ak42" little-endian: the magic of llama2.c's versioned export (export.py version1_export). */
const MAGIC_AK42 = 0x616b3432;
const LEGACY_HEADER_BYTES = 7 * 4;
const V1_HEADER_BYTES = 256;

interface Llama2cHeader {
  readonly version: 0 | 1;
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly shared: boolean;
  readonly headerBytes: number;
}

function readHeader(path: string, fd: number, fileSize: number): Llama2cHeader {
  if (fileSize < LEGACY_HEADER_BYTES) {
    throw new ModelFileError(path, `file is ${fileSize} bytes, too short for a llama2.c header (${LEGACY_HEADER_BYTES} bytes)`);
  }
  const head = Buffer.alloc(Math.min(fileSize, V1_HEADER_BYTES));
  readFully(fd, head, 0);
  const ints = (at: number): number[] => Array.from({ length: 7 }, (_, i) => head.readInt32LE(at + 4 * i));

  let version: 0 | 1 = 0;
  let fields: number[];
  let shared: boolean;
  let headerBytes = LEGACY_HEADER_BYTES;
  if (head.readUInt32LE(0) === MAGIC_AK42) {
    if (fileSize < V1_HEADER_BYTES) {
      throw new ModelFileError(path, `file is ${fileSize} bytes, too short for a llama2.c version header (${V1_HEADER_BYTES} bytes)`);
    }
    const v = head.readInt32LE(4);
    if (v === 2) throw new ModelFileError(path, 'llama2.c version 2 (int8 Q8_0) checkpoints are not supported; export with --version 0 or 1');
    if (v !== 1) throw new ModelFileError(path, `unknown llama2.c checkpoint version ${v}`);
    version = 1;
    fields = ints(8);
    shared = head.readUInt8(36) !== 0;
    headerBytes = V1_HEADER_BYTES;
  } else {
    fields = ints(0);
    // Legacy format: a negative vocab_size flags an unshared classifier.
    shared = fields[5] > 0;
    fields[5] = Math.abs(fields[5]);
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen] = fields;
  const named: [string, number][] = [
    ['dim', dim],
    ['hidden_dim', hiddenDim],
    ['n_layers', nLayers],
    ['n_heads', nHeads],
    ['n_kv_heads', nKvHeads],
    ['vocab_size', vocabSize],
    ['seq_len', seqLen],
  ];
  for (const [name, value] of named) {
    if (!(value > 0)) throw new ModelFileError(path, `header has non-positive ${name} (${value}): not a llama2.c checkpoint`);
  }
  if (dim % nHeads !== 0) throw new ModelFileError(path, `dim ${dim} is not divisible by n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) throw new ModelFileError(path, `n_heads ${nHeads} is not divisible by n_kv_heads ${nKvHeads}`);
  if ((dim / nHeads) % 2 !== 0) throw new ModelFileError(path, `head size ${dim / nHeads} is odd; RoPE needs an even head size`);
  return { version, dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, shared, headerBytes };
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

type Section = 'emb' | 'rmsAtt' | 'wq' | 'wk' | 'wv' | 'wo' | 'rmsFfn' | 'w1' | 'w2' | 'w3' | 'rmsFinal' | 'freqs' | 'wcls';

/** Float32 counts of each stored array, in file order for the header's version. */
function layout(h: Llama2cHeader): [Section, number][] {
  const { dim: D, hiddenDim: F, nLayers: L, vocabSize: V } = h;
  const hd = D / h.nHeads;
  const kv = h.nKvHeads * hd;
  const cls: [Section, number][] = h.shared ? [] : [['wcls', V * D]];
  const linears: [Section, number][] = [
    ['wq', L * D * D],
    ['wk', L * kv * D],
    ['wv', L * kv * D],
    ['wo', L * D * D],
  ];
  const ffn: [Section, number][] = [
    ['w1', L * F * D],
    ['w2', L * D * F],
    ['w3', L * F * D],
  ];
  if (h.version === 1) {
    return [['rmsAtt', L * D], ['rmsFfn', L * D], ['rmsFinal', D], ['emb', V * D], ...linears, ...ffn, ...cls];
  }
  // Legacy: freq_cis_real and freq_cis_imag ([seq_len, head_size/2] each) precede the classifier.
  return [['emb', V * D], ['rmsAtt', L * D], ...linears, ['rmsFfn', L * D], ...ffn, ['rmsFinal', D], ['freqs', h.seqLen * hd], ...cls];
}

/** Default tokenizer: tok{vocab}.bin, tokenizer.bin, or the single tok*.bin beside the checkpoint. */
function findTokenizer(checkpointPath: string, vocabSize: number): string {
  const dir = dirname(checkpointPath);
  for (const name of [`tok${vocabSize}.bin`, 'tokenizer.bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  let found: string[] = [];
  try {
    found = readdirSync(dir).filter((f) => /^tok.*\.bin$/i.test(f) && join(dir, f) !== checkpointPath).sort();
  } catch {
    // unreadable directory: reported below as "no tokenizer"
  }
  if (found.length === 1) return join(dir, found[0]);
  if (found.length > 1) {
    throw new ModelFileError(checkpointPath, `several tokenizers beside the checkpoint (${found.join(', ')}); pass one explicitly`);
  }
  throw new ModelFileError(checkpointPath, `no llama2.c tokenizer (tok${vocabSize}.bin or tokenizer.bin) beside the checkpoint; pass its path`);
}

/** Header fields by the names llama2.c's Config uses. */
const HEADER_NAMES: SpecFieldNames = {
  vocabSize: 'header "vocab_size"',
  hiddenSize: 'header "dim"',
  numLayers: 'header "n_layers"',
  numHeads: 'header "n_heads"',
  numKvHeads: 'header "n_kv_heads"',
  headDim: 'head size (header "dim" / "n_heads")',
  intermediateSize: 'header "hidden_dim"',
  maxPositions: 'header "seq_len"',
  'rope.dim': 'head size (header "dim" / "n_heads")',
  bosTokenId: 'BOS token id (1 in llama2.c)',
  eosTokenIds: 'EOS token id (2 in llama2.c)',
};

function specFromHeader(h: Llama2cHeader): ModelSpec {
  const headDim = h.dim / h.nHeads;
  return {
    architecture: 'llama2.c',
    family: 'llama',
    vocabSize: h.vocabSize,
    hiddenSize: h.dim,
    numLayers: h.nLayers,
    numHeads: h.nHeads,
    numKvHeads: h.nKvHeads,
    headDim,
    intermediateSize: h.hiddenDim,
    maxPositions: h.seqLen,
    norm: 'rms',
    normEps: 1e-5,
    activation: 'silu',
    attnQkvBias: false,
    attnOutBias: false,
    mlpBias: false,
    qkNorm: false,
    positions: 'rope',
    rope: { theta: 10000, dim: headDim },
    tiedEmbeddings: h.shared,
    bosTokenId: 1,
    eosTokenIds: [2],
    addBos: true,
  };
}

/**
 * Load a llama2.c checkpoint (legacy "version 0" or "ak42" version 1, float32) into the canonical
 * layout: linear weights transposed to [in, out], q/k rows permuted to half-split RoPE.
 */
export function loadLlama2c(checkpointPath: string, tokenizerPath?: string): LoadedModel {
  let fd: number;
  try {
    fd = openSync(checkpointPath, 'r');
  } catch (e) {
    throw new ModelFileError(checkpointPath, `cannot open checkpoint (${(e as Error).message})`, { cause: e });
  }
  let h: Llama2cHeader;
  const weights: WeightMap = new Map();
  try {
    const fileSize = fstatSync(fd).size;
    h = readHeader(checkpointPath, fd, fileSize);
    // Sizes bounded before anything is computed or allocated from them.
    validateModelSpec(specFromHeader(h), checkpointPath, HEADER_NAMES);
    const sections = layout(h);
    const expected = h.headerBytes + 4 * sections.reduce((s, [, n]) => s + n, 0);
    if (fileSize !== expected) {
      const dims =
        `dim ${h.dim}, hidden ${h.hiddenDim}, ${h.nLayers} layers, ${h.nHeads} heads, ${h.nKvHeads} kv heads, ` +
        `vocab ${h.vocabSize}, seq ${h.seqLen}, ${h.shared ? 'shared' : 'separate'} classifier`;
      const what = fileSize < expected ? 'truncated' : `${fileSize - expected} bytes of trailing data`;
      throw new ModelFileError(checkpointPath, `file is ${fileSize} bytes but its header (${dims}) implies ${expected}: ${what}`);
    }
    const offsets = new Map<Section, number>();
    let off = h.headerBytes;
    for (const [name, n] of sections) {
      offsets.set(name, off);
      off += 4 * n;
    }
    const swap = endianness() === 'BE';
    /** Read `count` float32 values starting `index` values into a section. */
    const read = (section: Section, index: number, count: number): Float32Array => {
      const out = new Float32Array(count);
      const bytes = new Uint8Array(out.buffer);
      readFully(fd, bytes, offsets.get(section)! + 4 * index);
      if (swap) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
      return checkWeightValues(out, checkpointPath, section);
    };

    const { dim: D, hiddenDim: F, nLayers: L, vocabSize: V, nHeads: H, nKvHeads: Hkv } = h;
    const hd = D / H;
    const kv = Hkv * hd;
    const emb = read('emb', 0, V * D);
    if (!h.shared) weights.set('token_embd', tensor(emb, [V, D]));
    // Tied: only `output` is stored; the graph reads the embedding from it.
    const cls = h.shared ? emb : read('wcls', 0, V * D);
    /** [out, in] slice of layer l → canonical [in, out]. */
    const linear = (section: Section, l: number, out: number, inp: number, ropeHeads?: number): Float32Array => {
      let w = read(section, l * out * inp, out * inp);
      if (ropeHeads !== undefined) w = interleavedToHalfSplitRows(w, ropeHeads, hd, inp);
      return transpose2d(w, out, inp);
    };
    for (let l = 0; l < L; l++) {
      const p = `blk.${l}.`;
      weights.set(p + 'attn_norm.weight', tensor(read('rmsAtt', l * D, D), [D]));
      weights.set(p + 'attn_q.weight', tensor(linear('wq', l, D, D, H), [D, D]));
      weights.set(p + 'attn_k.weight', tensor(linear('wk', l, kv, D, Hkv), [D, kv]));
      weights.set(p + 'attn_v.weight', tensor(linear('wv', l, kv, D), [D, kv]));
      weights.set(p + 'attn_output.weight', tensor(linear('wo', l, D, D), [D, D]));
      weights.set(p + 'ffn_norm.weight', tensor(read('rmsFfn', l * D, D), [D]));
      weights.set(p + 'ffn_gate.weight', tensor(linear('w1', l, F, D), [D, F]));
      weights.set(p + 'ffn_down.weight', tensor(linear('w2', l, D, F), [F, D]));
      weights.set(p + 'ffn_up.weight', tensor(linear('w3', l, F, D), [D, F]));
    }
    weights.set('output_norm.weight', tensor(read('rmsFinal', 0, D), [D]));
    weights.set('output.weight', tensor(transpose2d(cls, V, D), [D, V]));
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(checkpointPath, `cannot read checkpoint (${(e as Error).message})`, { cause: e });
  } finally {
    closeSync(fd);
  }

  const tokenizer = readLlama2cTokenizer(tokenizerPath ?? findTokenizer(checkpointPath, h.vocabSize), h.vocabSize);
  const spec = specFromHeader(h);
  return {
    spec,
    weights,
    tokenizer,
    specialTokens: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' },
    source: {
      format: 'llama2c',
      path: checkpointPath,
      name: basename(checkpointPath, extname(checkpointPath)),
      dtypes: { F32: weights.size },
    },
  };
}
