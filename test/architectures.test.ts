import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { GgmlType } from '../src/io/gguf.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { loadGguf } from '../src/model/loaders/gguf.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { HookedModel } from '../src/runtime/model.js';
import { argmax } from '../src/runtime/sampling.js';
import { writeRandomHfModel, type RandomModel, type TestArch } from './helpers/random-model.js';
import { maxAbsDiff, referenceLogits } from './helpers/reference-forward.js';

const IDS = [1, 57, 300, 12, 999, 4, 1500, 77, 3, 640, 18, 2047];
const ARCHS: TestArch[] = ['llama', 'qwen2', 'qwen3', 'gpt2'];
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function open(m: RandomModel | string, gguf = false): HookedModel {
  const dir = typeof m === 'string' ? m : m.dir;
  return new HookedModel(gguf ? loadGguf(dir) : loadHfDirectory(dir), { threads: 1 });
}

async function allLogits(model: HookedModel, ids: readonly number[]): Promise<Float32Array> {
  return (await model.forward({ tokens: [ids], logits: 'all' })).logits!;
}

function relErr(got: Float32Array, want: Float64Array[], V: number): number {
  let scale = 0;
  for (const row of want) for (const v of row) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  want.forEach((row, t) => (err = Math.max(err, maxAbsDiff(got.subarray(t * V, (t + 1) * V), row))));
  return err / scale;
}

describe('architectures against an independent float64 reference', () => {
  for (const arch of ARCHS) {
    test(`${arch}: HF safetensors logits match the reference forward`, async () => {
      const m = writeRandomHfModel(arch, { seed: 7 });
      dirs.push(m.dir);
      const model = open(m);
      const got = await allLogits(model, IDS);
      const want = referenceLogits(m, IDS);
      assert.ok(relErr(got, want, model.spec.vocabSize) < 1e-4, `relative error ${relErr(got, want, model.spec.vocabSize)}`);
      await model.dispose();
    });
  }

  test('untied Llama (separate embed and lm_head) matches the reference', async () => {
    const m = writeRandomHfModel('llama', { seed: 3, tied: false, kvHeads: 4 });
    dirs.push(m.dir);
    const model = open(m);
    assert.ok(model.weights.has('token_embd'));
    const got = await allLogits(model, IDS);
    assert.ok(relErr(got, referenceLogits(m, IDS), model.spec.vocabSize) < 1e-4);
    await model.dispose();
  });

  test('BF16 and F16 safetensors load and stay close to the F32 reference', async () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const m = writeRandomHfModel('llama', { seed: 11, dtype });
      dirs.push(m.dir);
      const model = open(m);
      assert.deepEqual(model.source.dtypes, { [dtype]: m.tensors.size });
      const err = relErr(await allLogits(model, IDS), referenceLogits(m, IDS), model.spec.vocabSize);
      assert.ok(err < (dtype === 'F16' ? 5e-3 : 3e-2), `${dtype} relative error ${err}`);
      assert.ok(err > 1e-7, 'reduced precision should not be bit-exact with F32');
      await model.dispose();
    }
  });
});

describe('GGUF export and load', () => {
  for (const arch of ARCHS) {
    test(`${arch}: same weights from HF and from a written GGUF give the same logits (F32)`, async () => {
      const m = writeRandomHfModel(arch, { seed: 5 });
      dirs.push(m.dir);
      const hf = open(m);
      const file = path.join(m.dir, 'model.gguf');
      const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8'));
      writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, allowMissingByteTokens: true });
      const gg = open(file, true);
      assert.equal(gg.spec.numLayers, hf.spec.numLayers);
      assert.equal(gg.spec.qkNorm, hf.spec.qkNorm);
      assert.equal(gg.spec.attnQkvBias, hf.spec.attnQkvBias);
      const a = await allLogits(hf, IDS);
      const b = await allLogits(gg, IDS);
      assert.ok(maxAbsDiff(a, b) < 1e-4, `max abs diff ${maxAbsDiff(a, b)}`);
      // The GGUF tokenizer reproduces the HF one.
      const text = 'Once upon a time, a little dog named Max found a red ball.';
      assert.deepEqual(gg.tokenizer.encode(text), hf.tokenizer.encode(text));
      await hf.dispose();
      await gg.dispose();
    });
  }

  test('quantized GGUF (F16, Q8_0, Q4_0) stays close to F32, with error growing as bits shrink', async () => {
    const m = writeRandomHfModel('llama', { seed: 9, hidden: 64, intermediate: 128 });
    dirs.push(m.dir);
    const hf = open(m);
    const ref = await allLogits(hf, IDS);
    const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8'));
    const errs: number[] = [];
    for (const type of [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0]) {
      const file = path.join(m.dir, `model-${type}.gguf`);
      writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, type, allowMissingByteTokens: true });
      // The formats' own precision: every weight dequantized to float32 (the packed default,
      // which requantizes F16 to 8 bits, is tested in packed-weights.test.ts).
      const q = new HookedModel(loadGguf(file, { weights: 'f32' }), { threads: 1 });
      errs.push(maxAbsDiff(await allLogits(q, IDS), ref));
      await q.dispose();
    }
    assert.ok(errs[0] < errs[1] && errs[1] < errs[2], `errors ${errs}`);
    let scale = 0;
    for (const v of ref) scale = Math.max(scale, Math.abs(v));
    // Bounds from the formats' precision: F16 ~1e-3, Q8_0 ~1/127 per block, Q4_0 ~1/8.
    assert.ok(errs[0] / scale < 2e-3, `F16 relative error ${errs[0] / scale}`);
    assert.ok(errs[1] / scale < 3e-2, `Q8_0 relative error ${errs[1] / scale}`);
    assert.ok(errs[2] / scale < 0.5, `Q4_0 relative error ${errs[2] / scale}`);
    await hf.dispose();
  });
});

describe('KV cache and batching', () => {
  test('incremental decoding with the KV cache reproduces full-sequence logits', async () => {
    const m = writeRandomHfModel('qwen3', { seed: 13 });
    dirs.push(m.dir);
    const model = open(m);
    const V = model.spec.vocabSize;
    const full = await allLogits(model, IDS);
    const cache = model.createCache(1);
    const first = await model.forward({ tokens: [IDS.slice(0, 5)], cache, logits: 'all' });
    assert.ok(maxAbsDiff(first.logits!, full.subarray(0, 5 * V)) < 5e-5);
    for (let t = 5; t < IDS.length; t++) {
      const step = await model.forward({ tokens: [[IDS[t]]], cache });
      assert.ok(maxAbsDiff(step.logits!, full.subarray(t * V, (t + 1) * V)) < 5e-5, `position ${t}`);
    }
    assert.equal(cache.length, IDS.length);
    await model.dispose();
  });

  test('the cache read in place stays exact as it grows, takes several tokens at once, and forks', async () => {
    const m = writeRandomHfModel('llama', { seed: 19 });
    dirs.push(m.dir);
    const model = open(m);
    const V = model.spec.vocabSize;
    // 100 tokens: the cache starts with room for 3 + 64 slots and must grow (a copy) on the way.
    const ids = Array.from({ length: 100 }, (_, i) => (i * 131 + 7) % V);
    const full = await allLogits(model, ids);
    const cache = model.createCache(1);
    await model.forward({ tokens: [ids.slice(0, 3)], cache });
    for (let t = 3; t < 80; t++) {
      const step = await model.forward({ tokens: [[ids[t]]], cache });
      assert.ok(maxAbsDiff(step.logits!, full.subarray(t * V, (t + 1) * V)) < 5e-5, `position ${t}`);
    }
    // Several new tokens over a long past: causal within them, all of the past before them.
    const chunk = await model.forward({ tokens: [ids.slice(80, 90)], cache, logits: 'all' });
    assert.ok(maxAbsDiff(chunk.logits!, full.subarray(80 * V, 90 * V)) < 5e-5);
    assert.ok(cache.bytes() > 0 && cache.length === 90);
    // Forked rows continue apart, each as a single sequence would.
    const fork = cache.selectRows([0, 0]);
    const other = (ids[90] + 1) % V;
    const forked = await model.forward({ tokens: [[ids[90]], [other]], cache: fork });
    assert.ok(maxAbsDiff(forked.logits!.subarray(0, V), full.subarray(90 * V, 91 * V)) < 5e-5);
    const alt = await allLogits(model, [...ids.slice(0, 90), other]);
    assert.ok(maxAbsDiff(forked.logits!.subarray(V, 2 * V), alt.subarray(90 * V, 91 * V)) < 5e-5);
    // The original cache is untouched by its fork's steps.
    const again = await model.forward({ tokens: [[ids[90]]], cache });
    assert.ok(maxAbsDiff(again.logits!, full.subarray(90 * V, 91 * V)) < 5e-5);
    await model.dispose();
  });

  test('a left-padded batch gives each row the logits it gets alone, prefill and decode', async () => {
    for (const arch of ['llama', 'gpt2'] as const) {
      const m = writeRandomHfModel(arch, { seed: 17 });
      dirs.push(m.dir);
      const model = open(m);
      const V = model.spec.vocabSize;
      const rows = [IDS, IDS.slice(3, 7), IDS.slice(0, 1)];
      const cache = model.createCache(rows.length);
      const batched = await model.forward({ tokens: rows, cache });
      const next = rows.map((_, r) => argmax(batched.logits!.subarray(r * V, (r + 1) * V)));
      const step = await model.forward({ tokens: next.map((id) => [id]), cache });
      for (let r = 0; r < rows.length; r++) {
        const alone = await model.forward({ tokens: [[...rows[r], next[r]]], logits: 'all' });
        const L = rows[r].length;
        assert.ok(maxAbsDiff(batched.logits!.subarray(r * V, (r + 1) * V), alone.logits!.subarray((L - 1) * V, L * V)) < 1e-4, `${arch} row ${r} prefill`);
        assert.ok(maxAbsDiff(step.logits!.subarray(r * V, (r + 1) * V), alone.logits!.subarray(L * V, (L + 1) * V)) < 1e-4, `${arch} row ${r} decode`);
      }
      await model.dispose();
    }
  });

  test('Llama 3 rope scaling is applied (and changes logits at long range)', async () => {
    const scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 };
    const m = writeRandomHfModel('llama', { seed: 19, ropeScaling: scaling });
    dirs.push(m.dir);
    const model = open(m);
    assert.equal(model.spec.rope?.scaling?.type, 'llama3');
    const plain = writeRandomHfModel('llama', { seed: 19 });
    dirs.push(plain.dir);
    const base = open(plain);
    const ids = Array.from({ length: 40 }, (_, i) => (i * 37) % 2048);
    const a = await allLogits(model, ids);
    const b = await allLogits(base, ids);
    assert.ok(maxAbsDiff(a, b) > 1e-3, 'scaled and unscaled RoPE should differ');
    await model.dispose();
    await base.dispose();
  });
});
