import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf, GGMLQuantizationType, GGUFValueType } from '@huggingface/gguf';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { GgmlType, GgufFile } from '../src/io/gguf.js';
import { writeGguf } from '../src/io/gguf-write.js';
import type { GgufMetaEntry } from '../src/io/gguf-format.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors-write.js';
import { exportControlVectorGguf, importControlVectorGguf, loadVector, saveVector } from '../src/steering/vector-file.js';
import { checkVectorFits, VECTOR_FORMAT } from '../src/steering/vector-validation.js';
import type { SteeringVector, VectorMeta } from '../src/steering/vector.js';
import { rng } from './helpers/prng.js';

let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'steerer-vecfile-')); });
after(() => { rmSync(root, { recursive: true, force: true }); });
let counter = 0;
/** A fresh empty directory per case, so "nothing was written" can be checked by listing it. */
function freshDir(): string {
  const d = join(root, `case${counter++}`);
  mkdirSync(d);
  return d;
}


function randomDir(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 4);
}

function baseMeta(hidden: number, numLayers: number, extra: Partial<VectorMeta> = {}): VectorMeta {
  return {
    format: VECTOR_FORMAT,
    model: { name: 'tiny-test', architecture: 'llama', hiddenSize: hidden, numLayers },
    method: 'diffmean',
    site: 'resid_post',
    createdAt: '2025-01-02T03:04:05.000Z',
    ...extra,
  };
}

function vec(hidden: number, numLayers: number, layers: number[], extra: Partial<VectorMeta> = {}, means?: number[]): SteeringVector {
  return {
    directions: new Map(layers.map((l) => [l, randomDir(hidden, 100 + l)])),
    ...(means ? { means: new Map(means.map((l) => [l, randomDir(hidden, 900 + l)])) } : {}),
    meta: baseMeta(hidden, numLayers, extra),
  };
}

function bits(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

function assertSameValues(actual: ReadonlyMap<number, Float32Array> | undefined, expected: ReadonlyMap<number, Float32Array>): void {
  assert.ok(actual);
  assert.deepEqual([...actual.keys()], [...expected.keys()].sort((a, b) => a - b));
  for (const [layer, e] of expected) assert.deepEqual(bits(actual.get(layer)!), bits(e), `layer ${layer}`);
}

const isModelFileError = (re: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof ModelFileError, `expected ModelFileError, got ${String(err)}`);
  assert.match(err.message, re);
  return true;
};
const isInputError = (re: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
  assert.match(err.message, re);
  return true;
};

// ---------------------------------------------------------------------------------------------

describe('native safetensors format', () => {
  test('round trip keeps values bit-identical and meta deep-equal, means included', () => {
    const dir = freshDir();
    const path = join(dir, 'v.safetensors');
    const v = vec(6, 5, [3, 1, 4], {
      readPosition: 'last',
      dataset: { source: 'pairs.jsonl', size: 40, hash: 'abc123' },
      diagnostics: [{ layer: 3, accuracy: 0.9, auroc: 0.95, fisher: 2.5, relativeNorm: 0.1, heldOut: 8 }],
      recommended: { layers: [3, 4], coefficient: 4 },
      description: 'happy minus sad',
    }, [3]);
    // Awkward values survive exactly: negative zero, a subnormal, the extremes of float32.
    const d = v.directions.get(1)!;
    d[0] = -0;
    d[1] = 1e-45;
    d[2] = 3.4028234663852886e38;
    d[3] = -1.1754943508222875e-38;
    saveVector(path, v);
    assert.deepEqual(readdirSync(dir), ['v.safetensors']);

    const back = loadVector(path);
    assertSameValues(back.directions, v.directions);
    assertSameValues(back.means, v.means!);
    assert.deepEqual(back.meta, v.meta);
    assert.ok(Object.is(back.directions.get(1)![0], -0));

    // The layout itself: F32 tensors direction.N / mean.N of shape [hidden], meta under "steerer".
    const f = SafetensorsFile.open(path);
    try {
      assert.deepEqual([...f.entries.keys()], ['direction.1', 'direction.3', 'direction.4', 'mean.3']);
      for (const e of f.entries.values()) {
        assert.equal(e.dtype, 'F32');
        assert.deepEqual(e.shape, [6]);
      }
      assert.deepEqual(JSON.parse(f.metadata.steerer), v.meta);
    } finally {
      f.close();
    }
  });

  test('a vector without means or optional meta round-trips without inventing them', () => {
    const dir = freshDir();
    const path = join(dir, 'v.safetensors');
    const v = vec(3, 2, [0]);
    saveVector(path, v);
    const back = loadVector(path);
    assert.equal(back.means, undefined);
    assert.deepEqual(back.meta, v.meta);
    assertSameValues(back.directions, v.directions);
  });

  test('validation errors throw InvalidInputError and write nothing', () => {
    const good = vec(4, 3, [1, 2], {}, [2]);
    const cases: [string, SteeringVector, RegExp][] = [
      ['wrong length', { ...good, directions: new Map([[1, new Float32Array(5)]]) }, /5 values but the model's hidden size is 4/],
      ['NaN', { ...good, directions: new Map([[1, Float32Array.of(0, NaN, 0, 0)]]) }, /non-finite value \(NaN\) at index 1/],
      ['Infinity', { ...good, directions: new Map([[1, Float32Array.of(0, 0, -Infinity, 0)]]) }, /non-finite/],
      ['layer too big', { ...good, directions: new Map([[3, new Float32Array(4)]]), means: undefined }, /layer 3.*layers 0\.\.2/],
      ['negative layer', { ...good, directions: new Map([[-1, new Float32Array(4)]]), means: undefined }, /layer -1/],
      ['fractional layer', { ...good, directions: new Map([[1.5, new Float32Array(4)]]), means: undefined }, /layer 1\.5/],
      ['no directions', { ...good, directions: new Map(), means: undefined }, /no directions/],
      ['mean without direction', { ...good, means: new Map([[0, new Float32Array(4)]]) }, /mean for layer 0 but no direction/],
      ['mean wrong length', { ...good, means: new Map([[2, new Float32Array(3)]]) }, /mean for layer 2 has 3 values/],
      ['format tag', { ...good, meta: { ...good.meta, format: 'other/v9' as VectorMeta['format'] } }, /meta\.format/],
      ['site', { ...good, meta: { ...good.meta, site: 'nowhere' as VectorMeta['site'] } }, /meta\.site/],
      ['hidden size', { ...good, meta: { ...good.meta, model: { ...good.meta.model, hiddenSize: 0 } } }, /meta\.model\.hiddenSize/],
      ['non-finite diagnostic', { ...good, meta: { ...good.meta, diagnostics: [{ layer: 1, accuracy: 1, auroc: 1, fisher: Infinity, relativeNorm: 1, heldOut: 2 }] } }, /meta\.diagnostics\.0\.fisher/],
      ['recommended layer missing', { ...good, meta: { ...good.meta, recommended: { layers: [0] } } }, /recommended layer 0 has no direction/],
    ];
    for (const [name, v, re] of cases) {
      const dir = freshDir();
      assert.throws(() => saveVector(join(dir, 'v.safetensors'), v), isInputError(re), name);
      assert.deepEqual(readdirSync(dir), [], `${name}: no file and no temp file left`);
    }
    // An existing file is left untouched by a failed save.
    const dir = freshDir();
    const path = join(dir, 'v.safetensors');
    saveVector(path, good);
    const before = readFileSync(path);
    assert.throws(() => saveVector(path, cases[1][1]), InvalidInputError);
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['v.safetensors']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('malformed vector files', () => {
  const meta = JSON.stringify(baseMeta(4, 3));
  const t = (data: number[], shape = [data.length]): TensorToWrite => ({ shape, data: Float32Array.from(data) });

  test('truncated file', () => {
    const path = join(freshDir(), 'v.safetensors');
    saveVector(path, vec(16, 3, [0, 1, 2]));
    truncateSync(path, statSync(path).size - 10);
    assert.throws(() => loadVector(path), isModelFileError(/truncated/));
    truncateSync(path, 20); // header itself cut short
    assert.throws(() => loadVector(path), isModelFileError(/larger than the file/));
  });

  test('wrong tensor sizes', () => {
    const path = join(freshDir(), 'v.safetensors');
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]), 'direction.1': t([1, 2, 3, 4, 5]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/"direction\.1" has shape \[5\], expected \[4\]/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/shape \[2, 4\]/));
  });

  test('NaN values', () => {
    const path = join(freshDir(), 'v.safetensors');
    writeSafetensors(path, { 'direction.0': t([1, NaN, 3, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/non-finite value \(NaN\) at index 1/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]), 'mean.0': t([Infinity, 2, 3, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/"mean\.0" has a non-finite value/));
  });

  test('bad metadata JSON, wrong format tag, invalid meta', () => {
    const path = join(freshDir(), 'v.safetensors');
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]) }, { steerer: '{"format": "steerer.vector/v1",' });
    assert.throws(() => loadVector(path), isModelFileError(/"steerer" metadata is not valid JSON/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]) }, { steerer: JSON.stringify({ ...baseMeta(4, 3), format: 'steerer.vector/v2' }) });
    assert.throws(() => loadVector(path), isModelFileError(/unsupported vector format "steerer\.vector\/v2"/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]) }, { steerer: JSON.stringify({ ...baseMeta(4, 3), site: 'hook_z' }) });
    assert.throws(() => loadVector(path), isModelFileError(/invalid vector metadata: meta\.site/));
  });

  test('inconsistent native files', () => {
    const path = join(freshDir(), 'v.safetensors');
    writeSafetensors(path, { 'direction.3': t([1, 2, 3, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/layer 3, but the model has layers 0\.\.2/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]), 'mean.1': t([1, 2, 3, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/"mean\.1" has no matching "direction\.1"/));
    writeSafetensors(path, { 'direction.0': t([1, 2, 3, 4]), 'bias.0': t([1, 2, 3, 4]) }, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/unexpected tensor "bias\.0"/));
    writeSafetensors(path, {}, { steerer: meta });
    assert.throws(() => loadVector(path), isModelFileError(/no direction tensors/));
  });

  test('not a vector file at all', () => {
    const dir = freshDir();
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'hello, this is not a vector\n');
    assert.throws(() => loadVector(text), isModelFileError(/not a steering vector file/));
    const empty = join(dir, 'empty.safetensors');
    writeFileSync(empty, '');
    assert.throws(() => loadVector(empty), isModelFileError(/not a steering vector file/));
    assert.throws(() => loadVector(join(dir, 'missing.safetensors')), isModelFileError(/file not found/));
    const weights = join(dir, 'model.safetensors');
    writeSafetensors(weights, { 'model.embed_tokens.weight': t([1, 2, 3, 4], [2, 2]) });
    assert.throws(() => loadVector(weights), isModelFileError(/not a steering vector file: tensor "model\.embed_tokens\.weight"/));
    const fakeGguf = join(dir, 'v.gguf');
    writeFileSync(fakeGguf, 'definitely not gguf');
    assert.throws(() => loadVector(fakeGguf), isModelFileError(/not a GGUF file/));
  });
});

// ---------------------------------------------------------------------------------------------

describe('plain (repeng-style) safetensors import', () => {
  test('tensors named N, layers.N or direction.N without our metadata', () => {
    for (const naming of [(l: number) => `${l}`, (l: number) => `layers.${l}`, (l: number) => `direction.${l}`]) {
      const path = join(freshDir(), 'repeng.safetensors');
      const dirs = new Map([[5, randomDir(8, 1)], [2, randomDir(8, 2)], [7, randomDir(8, 3)]]);
      writeSafetensors(path, new Map([...dirs].map(([l, d]) => [naming(l), { shape: [8], data: d }])), { format: 'pt' });
      const v = loadVector(path);
      assertSameValues(v.directions, dirs);
      assert.equal(v.means, undefined);
      assert.equal(v.meta.format, VECTOR_FORMAT);
      assert.equal(v.meta.method, 'imported');
      assert.equal(v.meta.site, 'resid_post');
      assert.deepEqual(v.meta.model, { name: 'unknown', architecture: 'unknown', hiddenSize: 8, numLayers: 8 });
      assert.ok(!Number.isNaN(Date.parse(v.meta.createdAt)));
      // Loaded plain vectors are valid vectors: they can be saved in our format.
      saveVector(`${path}.native.safetensors`, v);
      assert.deepEqual(loadVector(`${path}.native.safetensors`).meta, v.meta);
    }
  });

  test('F16 directions are converted; mismatched sizes, duplicates and NaN are errors', () => {
    const dir = freshDir();
    const path = join(dir, 'p.safetensors');
    writeSafetensors(path, { '0': { shape: [4], data: Float32Array.of(0.5, -1, 2, 0.25), dtype: 'F16' } });
    assert.deepEqual([...loadVector(path).directions.get(0)!], [0.5, -1, 2, 0.25]);
    writeSafetensors(path, { '1': { shape: [4], data: new Float32Array(4) }, '2': { shape: [5], data: new Float32Array(5) } });
    assert.throws(() => loadVector(path), isModelFileError(/sizes differ across layers/));
    writeSafetensors(path, { '1': { shape: [4], data: new Float32Array(4) }, 'layers.1': { shape: [4], data: new Float32Array(4) } });
    assert.throws(() => loadVector(path), isModelFileError(/layer 1 appears twice/));
    writeSafetensors(path, { 'layers.3': { shape: [3], data: Float32Array.of(1, NaN, 2) } });
    assert.throws(() => loadVector(path), isModelFileError(/non-finite value \(NaN\)/));
    writeSafetensors(path, {});
    assert.throws(() => loadVector(path), isModelFileError(/holds no tensors/));
  });
});

// ---------------------------------------------------------------------------------------------

function readF32At(path: string, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, new Uint8Array(out.buffer), 0, count * 4, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

describe('GGUF control vectors', () => {
  test('export is read back identically by our reader and by @huggingface/gguf', async () => {
    const dir = freshDir();
    const path = join(dir, 'happy.gguf');
    const v = vec(8, 6, [5, 1, 2], {}, [2]);
    exportControlVectorGguf(path, v, 'llama');
    assert.deepEqual(readdirSync(dir), ['happy.gguf']);

    const f = GgufFile.open(path);
    try {
      assert.equal(f.getString('general.architecture'), 'controlvector');
      assert.equal(f.getString('controlvector.model_hint'), 'llama');
      assert.equal(f.getNumber('controlvector.layer_count'), 3);
      assert.deepEqual(f.metadataTypes.get('controlvector.layer_count'), { type: 'u32' });
      assert.deepEqual([...f.tensors.keys()], ['direction.1', 'direction.2', 'direction.5']);
      for (const [layer, d] of v.directions) {
        const info = f.tensors.get(`direction.${layer}`)!;
        assert.equal(info.type, GgmlType.F32);
        assert.deepEqual(info.dims, [8]);
        assert.deepEqual(bits(f.readF32(`direction.${layer}`)), bits(d));
      }
    } finally {
      f.close();
    }

    // An independent parser: metadata, types, tensor infos; values read at the offsets it reports.
    const hf = await gguf(path, { allowLocalFile: true, typedMetadata: true });
    const md = hf.typedMetadata;
    assert.equal(md['general.architecture']?.value, 'controlvector');
    assert.equal(md['general.architecture']?.type, GGUFValueType.STRING);
    assert.equal(md['controlvector.model_hint']?.value, 'llama');
    assert.equal(md['controlvector.model_hint']?.type, GGUFValueType.STRING);
    assert.equal(md['controlvector.layer_count']?.value, 3);
    assert.equal(md['controlvector.layer_count']?.type, GGUFValueType.UINT32);
    assert.equal(hf.metadata.tensor_count, 3n);
    assert.deepEqual(hf.tensorInfos.map((ti) => ti.name), ['direction.1', 'direction.2', 'direction.5']);
    for (const ti of hf.tensorInfos) {
      assert.equal(ti.dtype, GGMLQuantizationType.F32);
      assert.equal(ti.n_dims, 1);
      assert.deepEqual(ti.shape, [8n]);
      const layer = Number(ti.name.slice('direction.'.length));
      const values = readF32At(path, Number(hf.tensorDataOffset + ti.offset), 8);
      assert.deepEqual(bits(values), bits(v.directions.get(layer)!));
    }

    const back = importControlVectorGguf(path);
    assertSameValues(back.directions, v.directions);
    assert.equal(back.means, undefined); // the format has no place for means
    assert.equal(back.meta.method, 'imported');
    assert.equal(back.meta.site, 'resid_post');
    assert.deepEqual(back.meta.model, { name: 'unknown', architecture: 'llama', hiddenSize: 8, numLayers: 6 });
    // loadVector detects GGUF by its magic, whatever the file is called.
    const renamed = join(dir, 'happy.vec');
    writeFileSync(renamed, readFileSync(path));
    assertSameValues(loadVector(renamed).directions, v.directions);
    assertSameValues(loadVector(path).directions, v.directions);
  });

  test('layer 0 cannot be exported unless dropped', () => {
    const v = vec(4, 3, [0, 2]);
    const dir = freshDir();
    const path = join(dir, 'v.gguf');
    assert.throws(() => exportControlVectorGguf(path, v, 'llama'), isInputError(/layer 0.*dropLayer0/));
    assert.deepEqual(readdirSync(dir), []);
    exportControlVectorGguf(path, v, 'llama', { dropLayer0: true });
    const back = importControlVectorGguf(path);
    assert.deepEqual([...back.directions.keys()], [2]);
    assert.deepEqual(bits(back.directions.get(2)!), bits(v.directions.get(2)!));
    const f = GgufFile.open(path);
    assert.equal(f.getNumber('controlvector.layer_count'), 1);
    f.close();
    assert.throws(() => exportControlVectorGguf(join(dir, 'w.gguf'), vec(4, 3, [0]), 'llama', { dropLayer0: true }), isInputError(/no directions left/));
  });

  test('only resid_post vectors can be exported; a model hint is required', () => {
    const dir = freshDir();
    for (const site of ['resid_pre', 'attn_out', 'resid_mid', 'mlp_out'] as const) {
      assert.throws(() => exportControlVectorGguf(join(dir, 'v.gguf'), vec(4, 3, [1], { site }), 'llama'), isInputError(new RegExp(`only resid_post.*at ${site}`)));
    }
    assert.throws(() => exportControlVectorGguf(join(dir, 'v.gguf'), vec(4, 3, [1]), ''), isInputError(/model hint/));
    assert.throws(() => exportControlVectorGguf(join(dir, 'v.gguf'), vec(4, 3, [1, 7]), 'llama'), InvalidInputError);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('files written by other tools: i32 layer_count, no model hint, direction.0', () => {
    const path = join(freshDir(), 'other.gguf');
    const d = [randomDir(4, 7), randomDir(4, 8)];
    writeGguf(path, [
      { key: 'general.architecture', type: 'string', value: 'controlvector' },
      { key: 'controlvector.layer_count', type: 'i32', value: 30 },
    ], [
      { name: 'direction.0', shape: [4], data: d[0], type: GgmlType.F32 },
      { name: 'direction.9', shape: [4], data: d[1], type: GgmlType.F32 },
    ]);
    const v = loadVector(path);
    assert.deepEqual([...v.directions.keys()], [0, 9]);
    assert.deepEqual(bits(v.directions.get(9)!), bits(d[1]));
    assert.deepEqual(v.meta.model, { name: 'unknown', architecture: 'unknown', hiddenSize: 4, numLayers: 10 });
  });

  test('malformed control vectors', () => {
    const path = join(freshDir(), 'bad.gguf');
    const arch: GgufMetaEntry = { key: 'general.architecture', type: 'string', value: 'controlvector' };
    const tensor = (name: string, data: number[], shape = [data.length]) => ({ name, shape, data: Float32Array.from(data), type: GgmlType.F32 });

    writeGguf(path, [{ key: 'general.architecture', type: 'string', value: 'llama' }], [tensor('direction.1', [1, 2])]);
    assert.throws(() => loadVector(path), isModelFileError(/not a control vector: general\.architecture is "llama"/));
    writeGguf(path, [arch], [tensor('direction.1', [1, 2]), tensor('direction.2', [1, 2, 3])]);
    assert.throws(() => loadVector(path), isModelFileError(/sizes differ across layers/));
    writeGguf(path, [arch], [tensor('direction.1', [1, NaN])]);
    assert.throws(() => loadVector(path), isModelFileError(/non-finite value \(NaN\)/));
    writeGguf(path, [arch], [tensor('direction.one', [1, 2])]);
    assert.throws(() => loadVector(path), isModelFileError(/not named direction\.N/));
    writeGguf(path, [arch], [tensor('direction.1', [1, 2, 3, 4], [2, 2])]);
    assert.throws(() => loadVector(path), isModelFileError(/must be 1-D/));
    writeGguf(path, [arch], []);
    assert.throws(() => loadVector(path), isModelFileError(/no direction tensors/));
    writeGguf(path, [arch], [tensor('direction.1', Array.from({ length: 64 }, (_, i) => i))]);
    truncateSync(path, statSync(path).size - 8);
    assert.throws(() => loadVector(path), isModelFileError(/truncated/));
  });
});

// ---------------------------------------------------------------------------------------------

describe('checkVectorFits', () => {
  const v = vec(576, 30, [3, 10, 20]);
  test('accepts a fitting model and layers', () => {
    checkVectorFits(v, { hiddenSize: 576, numLayers: 30 });
    checkVectorFits(v, { hiddenSize: 576, numLayers: 30 }, [10, 20]);
    checkVectorFits(v, { hiddenSize: 576, numLayers: 21 }, [3]);
  });
  test('hidden size mismatch', () => {
    assert.throws(() => checkVectorFits(v, { hiddenSize: 128, numLayers: 30 }), isInputError(/^vector has hidden size 576 but the model's is 128$/));
  });
  test('layer missing from the vector or from the model', () => {
    assert.throws(() => checkVectorFits(v, { hiddenSize: 576, numLayers: 30 }, [4]), isInputError(/no direction for layer 4 \(it has layers 3, 10, 20\)/));
    assert.throws(() => checkVectorFits(v, { hiddenSize: 576, numLayers: 30 }, [30]), isInputError(/layer 30 does not exist: the model has layers 0\.\.29/));
    assert.throws(() => checkVectorFits(v, { hiddenSize: 576, numLayers: 12 }), isInputError(/layer 20 does not exist/));
  });
});
