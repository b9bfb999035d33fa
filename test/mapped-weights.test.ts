import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ModelFileError } from '../src/io/errors.js';
import { GgmlType, GgufFile } from '../src/io/gguf.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { loadGguf } from '../src/model/loaders/gguf.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { HookedModel } from '../src/runtime/model.js';
import { addVector } from '../src/steering/operators.js';
import { tempDir, writeRandomHfModel, type TestArch } from './helpers/random-model.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

/**
 * Float32 GGUF weights are read by ONNX Runtime in place from the file (hard-linked into the
 * cache, multiplied as stored [out, in] rows): they must give what the float32 load gives, where
 * JavaScript reads, transposes and feeds every weight.
 */

const IDS = [1, 57, 300, 12, 999, 4, 1500, 77, 3, 640, 18, 2047];
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const cacheRoot = tempDir('mapped-cache');
dirs.push(cacheRoot);

function f32File(arch: TestArch, seed: number, tied = true): string {
  const m = writeRandomHfModel(arch, { seed, hidden: 64, intermediate: 128, tied });
  dirs.push(m.dir);
  const hf = loadHfDirectory(m.dir);
  const file = path.join(m.dir, 'model-f32.gguf');
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8')) as object;
  writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, type: GgmlType.F32, allowMissingByteTokens: true });
  return file;
}

const LINEAR = /attn_(q|k|v|output)\.weight|ffn_(gate|up|down)\.weight|^output\.weight$|^token_embd$/;

describe('float32 GGUF weights read in place', () => {
  for (const [arch, tied] of [['llama', true], ['llama', false], ['gpt2', true], ['qwen2', true]] as const) {
    test(`${arch}${tied ? '' : ' (untied)'}: mapped matrices are the file's values, and logits and hooks match the float32 load`, async () => {
      const file = f32File(arch, 40 + arch.length, tied);
      const mappedLoad = loadGguf(file, { cacheRoot });
      const f32Load = loadGguf(file, { weights: 'f32' });
      const packed = mappedLoad.packed!;
      assert.ok(packed, 'a float32 file is mapped by default');
      assert.equal(packed.matrices.size, 0, 'nothing is repacked');
      assert.equal(fs.statSync(packed.sourceFile).ino, fs.statSync(file).ino, 'the cache holds a hard link, not a copy');
      const linear = [...f32Load.weights.keys()].filter((n) => LINEAR.test(n));
      assert.ok(linear.length >= 4 * 2);
      for (const name of linear) {
        assert.ok(packed.mapped.has(name), `${name} is mapped`);
        assert.equal(mappedLoad.weights.has(name), false, `${name} is not also held in memory`);
        // RoPE row order and the GPT-2 q|k|v split give the same canonical matrix.
        const dense = packed.dense(name);
        assert.deepEqual(dense.shape, f32Load.weights.get(name)!.shape);
        assert.equal(maxAbsDiff(dense.data, f32Load.weights.get(name)!.data), 0, `${name} differs`);
      }

      const a = new HookedModel(mappedLoad, { threads: 1 });
      const b = new HookedModel(f32Load, { threads: 1 });
      const la = (await a.forward({ tokens: [IDS, IDS.slice(3)], logits: 'all' })).logits!;
      const lb = (await b.forward({ tokens: [IDS, IDS.slice(3)], logits: 'all' })).logits!;
      assert.ok(maxAbsDiff(la, lb) < 1e-4, `logits differ by ${maxAbsDiff(la, lb)}`);

      // A JavaScript hook (the pass split in two sessions) and a compiled vector see and do the same.
      const D = a.spec.hiddenSize;
      const v = Float32Array.from({ length: D }, (_, i) => Math.sin(i));
      const run = async (m: HookedModel): Promise<{ seen: Float32Array; logits: Float32Array }> => {
        let seen = new Float32Array(0);
        const out = await m.forward({
          tokens: [IDS],
          logits: 'last',
          hooks: [
            { kind: 'edit', at: { layer: 0, site: 'resid_post' }, fn: (x) => void (seen = Float32Array.from(x.data)) },
            { kind: 'intervene', at: { layer: 1, site: 'resid_pre' }, intervention: addVector(v, { scale: 2 }) },
          ],
        });
        return { seen, logits: out.logits! };
      };
      const [ra, rb] = [await run(a), await run(b)];
      assert.equal(ra.seen.length, IDS.length * D);
      assert.ok(maxAbsDiff(ra.seen, rb.seen) < 1e-5);
      assert.ok(maxAbsDiff(ra.logits, rb.logits) < 1e-4);
      await a.dispose();
      await b.dispose();
    });
  }

  test('a second load reuses the entry; a vanished link is remade', () => {
    const file = f32File('llama', 61);
    const root = tempDir('mapped-reuse');
    dirs.push(root);
    const first = loadGguf(file, { cacheRoot: root }).packed!;
    const second = loadGguf(file, { cacheRoot: root }).packed!;
    assert.equal(second.dir, first.dir);
    fs.rmSync(first.sourceFile);
    const third = loadGguf(file, { cacheRoot: root }).packed!;
    assert.equal(fs.statSync(third.sourceFile).ino, fs.statSync(file).ino);
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.endsWith('.tmp')), []);
  });

  test('where no link can be made, the weights are read into memory instead, with the same results', async () => {
    const file = f32File('qwen2', 62);
    const blocker = path.join(path.dirname(file), 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    const loaded = loadGguf(file, { cacheRoot: path.join(blocker, 'cache') });
    assert.equal(loaded.packed, undefined);
    assert.ok(loaded.weights.has('blk.0.attn_q.weight'));
    const mapped = new HookedModel(loadGguf(file, { cacheRoot }), { threads: 1 });
    const inMemory = new HookedModel(loaded, { threads: 1 });
    const la = (await mapped.forward({ tokens: [IDS], logits: 'last' })).logits!;
    const lb = (await inMemory.forward({ tokens: [IDS], logits: 'last' })).logits!;
    assert.ok(maxAbsDiff(la, lb) < 1e-4);
    await mapped.dispose();
    await inMemory.dispose();
  });

  test('a NaN weight is a clear error naming the tensor, and leaves no cache entry', () => {
    const file = f32File('llama', 63);
    const root = tempDir('mapped-nan');
    dirs.push(root);
    const bytes = fs.readFileSync(file);
    const g = GgufFile.open(file);
    const offset = g.tensors.get('blk.1.ffn_down.weight')!.offset;
    g.close();
    bytes.writeFloatLE(Number.NaN, offset + 4 * 17);
    const bad = path.join(path.dirname(file), 'nan.gguf');
    fs.writeFileSync(bad, bytes);
    assert.throws(() => loadGguf(bad, { cacheRoot: root }), (e: unknown) => e instanceof ModelFileError && /blk\.1\.ffn_down\.weight.*non-finite/.test(e.message));
    assert.deepEqual(fs.readdirSync(root).filter((f) => !f.startsWith('.')), []);
  });
});
