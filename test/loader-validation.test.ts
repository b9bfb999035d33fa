/**
 * Loader validation: config fields the graph depends on are checked before anything is built
 * from them, and each bad value is a one-line ModelFileError naming the file and the field.
 * Reproductions of the fuzz findings (rope dimension counts, partial rotary factor, eps, theta,
 * head counts, vocabulary) plus the limits the validation adds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelFileError } from '../src/io/errors.js';
import { GgufFile } from '../src/io/gguf.js';
import { writeGguf, type GgufTensorToWrite } from '../src/io/gguf-write.js';
import type { GgufMetaEntry, GgufMetaType, GgufScalar } from '../src/io/gguf-format.js';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors-write.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { loadModel } from '../src/model/load.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { HookedModel } from '../src/runtime/model.js';
import { SPEC_LIMITS } from '../src/model/validate-spec.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir, writeRandomHfModel, type RandomModel } from './helpers/random-model.js';

/** What the public openModel does (imported module by module to keep this test's imports small). */
const openModel = (p: string, opts: { threads?: number } = {}): HookedModel => new HookedModel(loadModel(p), opts);

let hf: RandomModel;
let baseConfig: Record<string, unknown>;
let ggufMeta: GgufMetaEntry[];
let ggufTensors: GgufTensorToWrite[];
let work: string;
const dirs: string[] = [];

before(() => {
  hf = writeRandomHfModel('llama', { seed: 4, hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, maxPositions: 64 });
  dirs.push(hf.dir);
  baseConfig = JSON.parse(fs.readFileSync(path.join(hf.dir, 'config.json'), 'utf8'));
  work = tempDir('validation');
  dirs.push(work);
  // A GGUF of the same model, taken apart once so each case can rewrite one metadata value.
  const loaded = loadHfDirectory(hf.dir);
  const seed = path.join(work, 'seed.gguf');
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(hf.dir, 'tokenizer.json'), 'utf8'));
  writeModelGguf(seed, loaded.spec, loaded.weights, { tokenizerJson, allowMissingByteTokens: true });
  const g = GgufFile.open(seed);
  ggufMeta = [...g.metadata].map(([key, value]): GgufMetaEntry => {
    const st = g.metadataTypes.get(key)!;
    if (st.type === 'array') {
      const itemType = st.itemType?.type as GgufMetaType;
      return { key, type: 'array', itemType, value: value as GgufScalar[] };
    }
    return { key, type: st.type, value: value as GgufScalar };
  });
  ggufTensors = [...g.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: g.readF32(t.name), type: t.type }));
  g.close();
});
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

let n = 0;

/** A copy of the HF model whose config.json has `changes` applied (undefined removes a key). */
function hfWith(changes: Record<string, unknown>): { dir: string; config: string } {
  const dir = path.join(work, `hf${n++}`);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(hf.dir)) fs.copyFileSync(path.join(hf.dir, f), path.join(dir, f));
  const config: Record<string, unknown> = { ...baseConfig, ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) delete config[k];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return { dir, config: path.join(dir, 'config.json') };
}

/** A GGUF whose metadata `key` is replaced by (or added as) `entry`; null removes it. */
function ggufWith(entries: Record<string, Omit<GgufMetaEntry, 'key'> | null>): string {
  const file = path.join(work, `g${n++}.gguf`);
  const meta = ggufMeta.filter((e) => !(e.key in entries));
  for (const [key, e] of Object.entries(entries)) if (e) meta.push({ key, ...e } as GgufMetaEntry);
  writeGguf(file, meta, ggufTensors);
  return file;
}

/** `fn` must throw a one-line ModelFileError whose message names `file` and contains `field`. */
function rejects(fn: () => unknown, file: string, field: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelFileError, `expected a ModelFileError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.equal(e.file, file, e.message);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    if (typeof field === 'string') assert.ok(e.problem.includes(field), `names ${field}: ${e.message}`);
    else assert.match(e.problem, field);
    return true;
  });
}

describe('GGUF rope.dimension_count', () => {
  // 2147483647 allocated rope tables past 4 GB; 0, 3 and 5 reached ONNX Runtime.
  for (const dim of [2147483647, 0, 3, 5, 10]) {
    test(`${dim} is refused naming the key`, () => {
      const file = ggufWith({ 'llama.rope.dimension_count': { type: 'u32', value: dim } });
      rejects(() => openModel(file, { threads: 1 }), file, '"llama.rope.dimension_count"');
    });
  }

  test('an even count below the head dimension (partial rotary) still loads and runs', async () => {
    const file = ggufWith({ 'llama.rope.dimension_count': { type: 'u32', value: 4 } });
    const model = openModel(file, { threads: 1 });
    assert.equal(model.spec.rope!.dim, 4);
    const out = await model.forward({ tokens: [[1, 2, 3]] });
    assert.ok(out.logits!.every(Number.isFinite));
    await model.dispose();
  });
});

describe('GGUF sizes, heads, eps and vocabulary', () => {
  const cases: [string, Record<string, Omit<GgufMetaEntry, 'key'> | null>, string][] = [
    ['rms eps -1', { 'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: -1 } }, '"llama.attention.layer_norm_rms_epsilon"'],
    ['rms eps NaN', { 'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: Number.NaN } }, '"llama.attention.layer_norm_rms_epsilon"'],
    ['rope base 0', { 'llama.rope.freq_base': { type: 'f32', value: 0 } }, '"llama.rope.freq_base"'],
    ['rope base ∞', { 'llama.rope.freq_base': { type: 'f32', value: Number.POSITIVE_INFINITY } }, '"llama.rope.freq_base"'],
    ['head count not dividing the width', { 'llama.attention.head_count': { type: 'u32', value: 3 }, 'llama.attention.key_length': null }, '"llama.attention.head_count"'],
    ['kv heads not dividing heads', { 'llama.attention.head_count_kv': { type: 'u32', value: 3 } }, '"llama.attention.head_count_kv"'],
    ['kv heads 0', { 'llama.attention.head_count_kv': { type: 'u32', value: 0 } }, '"llama.attention.head_count_kv"'],
    ['block count 2^32-1', { 'llama.block_count': { type: 'u32', value: 0xffffffff } }, '"llama.block_count"'],
    ['context length 2^63', { 'llama.context_length': { type: 'u64', value: 2n ** 63n } }, '"llama.context_length"'],
    ['context length 2^31-1', { 'llama.context_length': { type: 'u32', value: 0x7fffffff } }, '"llama.context_length"'],
    ['fractional block count', { 'llama.block_count': { type: 'f32', value: 1.5 } }, '"llama.block_count"'],
    ['vocab_size not the embedding rows', { 'llama.vocab_size': { type: 'u32', value: 1000 } }, '"llama.vocab_size"'],
    ['BOS id past the vocabulary', { 'tokenizer.ggml.bos_token_id': { type: 'u32', value: 0xffffffff } }, '"tokenizer.ggml.bos_token_id"'],
  ];
  for (const [name, entries, field] of cases) {
    test(name, () => {
      const file = ggufWith(entries);
      rejects(() => loadModel(file), file, field);
    });
  }
});

describe('HF config.json', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    // Was a RangeError (a 4e12-element table).
    ['partial_rotary_factor 1e12', { partial_rotary_factor: 1e12 }, '"partial_rotary_factor"'],
    ['partial_rotary_factor 0', { partial_rotary_factor: 0 }, '"partial_rotary_factor"'],
    ['partial_rotary_factor as a string', { partial_rotary_factor: '0.5' }, '"partial_rotary_factor"'],
    ['partial_rotary_factor giving an odd count', { partial_rotary_factor: 0.375 }, '"partial_rotary_factor"'],
    // Both loaded and gave NaN logits.
    ['rms_norm_eps -1', { rms_norm_eps: -1 }, '"rms_norm_eps"'],
    ['rope_theta 0', { rope_theta: 0 }, '"rope_theta"'],
    ['rms_norm_eps 0', { rms_norm_eps: 0 }, '"rms_norm_eps"'],
    ['rms_norm_eps 1', { rms_norm_eps: 1 }, '"rms_norm_eps"'],
    ['rope_theta -10000', { rope_theta: -10000 }, '"rope_theta"'],
    ['rope_theta as the string "NaN"', { rope_theta: 'NaN' }, '"rope_theta"'],
    ['heads not dividing the hidden size', { num_attention_heads: 5, num_key_value_heads: 5 }, '"hidden_size" (32) is not divisible by "num_attention_heads" (5)'],
    ['kv heads not dividing heads', { num_key_value_heads: 3 }, '"num_key_value_heads"'],
    ['kv heads 0', { num_key_value_heads: 0 }, '"num_key_value_heads"'],
    ['vocab_size not the embedding rows', { vocab_size: 2000 }, '"vocab_size" is 2000 but lm_head.weight'],
    ['hidden_size not the embedding width', { hidden_size: 64, head_dim: 8 }, '"hidden_size" is 64'],
    ['fewer layers than the weights hold', { num_hidden_layers: 1 }, '"num_hidden_layers" is 1 but the weights hold layer 1'],
    ['odd head_dim', { head_dim: 7 }, '"head_dim"'],
    ['max_position_embeddings 1e15', { max_position_embeddings: 1e15 }, '"max_position_embeddings"'],
    ['max_position_embeddings 0', { max_position_embeddings: 0 }, '"max_position_embeddings"'],
    ['num_hidden_layers 2^31-1', { num_hidden_layers: 2 ** 31 - 1 }, '"num_hidden_layers"'],
    ['vocab_size 2^32', { vocab_size: 2 ** 32 }, '"vocab_size"'],
    ['intermediate_size 1e12', { intermediate_size: 1e12 }, '"intermediate_size"'],
    ['linear rope scaling factor 0', { rope_scaling: { type: 'linear', factor: 0 } }, '"rope_scaling.factor"'],
    [
      'llama3 scaling with equal low and high factors',
      { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 32 } },
      '"rope_scaling.high_freq_factor"',
    ],
    ['BOS id past the vocabulary', { bos_token_id: 5000 }, '"bos_token_id"'],
  ];
  for (const [name, changes, field] of cases) {
    test(name, () => {
      const { dir, config } = hfWith(changes);
      rejects(() => openModel(dir, { threads: 1 }), config, field);
    });
  }

  test('a valid partial rotary factor loads and runs with finite logits', async () => {
    const { dir } = hfWith({ partial_rotary_factor: 0.5 });
    const model = openModel(dir, { threads: 1 });
    assert.equal(model.spec.rope!.dim, 4);
    const out = await model.forward({ tokens: [[1, 2, 3]] });
    assert.ok(out.logits!.every(Number.isFinite));
    await model.dispose();
  });

  test('non-finite, absurdly large and integer weights are refused naming the tensor', () => {
    const cases = [['F32', Number.NaN, /non-finite/], ['F32', 3e30, /beyond ±1e\+6/], ['I32', 1, /dtype I32/]] as const;
    for (const [dtype, value, problem] of cases) {
      const { dir } = hfWith({});
      const tensors = new Map<string, TensorToWrite>([...hf.tensors].map(([name, t]): [string, TensorToWrite] => {
        if (name !== 'model.norm.weight') return [name, { ...t, dtype: 'F32' }];
        if (dtype === 'I32') return [name, { shape: t.shape, data: new Int32Array(t.data.length).fill(value), dtype }];
        const data = Float32Array.from(t.data);
        data[3] = value;
        return [name, { shape: t.shape, data, dtype }];
      }));
      const file = path.join(dir, 'model.safetensors');
      writeSafetensors(file, tensors);
      rejects(() => loadModel(dir), file, problem);
      assert.throws(() => loadModel(dir), /model\.norm\.weight/);
    }
  });

  test('the limits are above real models', () => {
    assert.ok(SPEC_LIMITS.vocabSize >= 262_144 && SPEC_LIMITS.maxPositions >= 10_000_000 && SPEC_LIMITS.hiddenSize >= 16_384);
  });
});

describe('data that does not match its header', () => {
  test('GGUF: a tensor type changed in place is refused (data no longer back to back)', () => {
    const file = ggufWith({});
    const bytes = fs.readFileSync(file);
    const name = Buffer.from('blk.0.attn_norm.weight');
    let p = bytes.indexOf(name) + name.length;
    const dims = bytes.readUInt32LE(p);
    p += 4 + 8 * dims;
    assert.equal(bytes.readUInt32LE(p), 0, 'F32 before the change');
    bytes.writeUInt32LE(1, p); // F16: half the bytes, so every later tensor would read shifted data
    fs.writeFileSync(file, bytes);
    rejects(() => loadModel(file), file, /back to back/);
  });

  test('safetensors: trailing bytes after the last tensor (a header length off by some bytes) are refused', () => {
    const { dir } = hfWith({});
    const file = path.join(dir, 'model.safetensors');
    fs.appendFileSync(file, Buffer.alloc(4));
    rejects(() => loadModel(dir), file, /trailing data/);
  });
});

describe('llama2.c header', () => {
  const real = sharedPath('models', 'stories260k', 'stories260K.bin');
  const withHeader = (fields: number[]): string => {
    const dir = path.join(work, `l${n++}`);
    fs.mkdirSync(dir);
    const bytes = fs.readFileSync(real);
    fields.forEach((v, i) => bytes.writeInt32LE(v, 4 * i));
    const file = path.join(dir, 'model.bin');
    fs.writeFileSync(file, bytes);
    fs.copyFileSync(sharedPath('models', 'stories260k', 'tok512.bin'), path.join(dir, 'tok512.bin'));
    return file;
  };
  // Header: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq 512.
  const cases: [string, number[], string][] = [
    ['seq_len 2^31-1', [64, 172, 5, 8, 4, 512, 0x7fffffff], '"seq_len"'],
    ['dim 2^30', [2 ** 30, 172, 5, 8, 4, 512, 512], '"dim"'],
    ['n_layers 2^31-1', [64, 172, 0x7fffffff, 8, 4, 512, 512], '"n_layers"'],
    ['vocab_size 1 (BOS id 1 does not exist)', [64, 172, 5, 8, 4, 1, 512], 'BOS'],
  ];
  for (const [name, fields, field] of cases) {
    test(name, () => {
      const file = withHeader(fields);
      rejects(() => loadModel(file), file, field);
    });
  }

  test('the real checkpoint still loads', () => {
    assert.equal(loadModel(real).spec.maxPositions, 512);
  });
});
