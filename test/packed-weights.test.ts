import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { f32ToF16 } from '../src/io/dtype.js';
import { quantizeQ4_0, quantizeQ8_0 } from '../src/io/ggml-quants.js';
import { GgmlType, GgufFile } from '../src/io/gguf.js';
import { writeGguf, type GgufTensorToWrite } from '../src/io/gguf-write.js';
import { modelGgufMetadata, writeModelGguf } from '../src/model/export-gguf.js';
import type { PackedMatrix } from '../src/model/packed-weights.js';
import type { LoadedModel } from '../src/model/spec.js';
import { loadGguf } from '../src/model/loaders/gguf.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import { argmax } from '../src/runtime/sampling.js';
import { addVector } from '../src/steering/operators.js';
import { tempDir, writeRandomHfModel, type TestArch } from './helpers/random-model.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

const { onnx } = onnxProto;
const IDS = [1, 57, 300, 12, 999, 4, 1500, 77, 3, 640, 18, 2047];
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const cacheRoot = tempDir('packed-cache');
dirs.push(cacheRoot);

/** A random model of `arch` written as a GGUF of `type`. */
function quantizedFile(arch: TestArch, type: GgmlType, seed: number): string {
  const m = writeRandomHfModel(arch, { seed, hidden: 64, intermediate: 128 });
  dirs.push(m.dir);
  const hf = loadHfDirectory(m.dir);
  const file = path.join(m.dir, `model-${type}.gguf`);
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8')) as object;
  writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, type, allowMissingByteTokens: true });
  return file;
}

/**
 * A random model of `arch` exported as float32 GGUF, then rewritten with each linear matrix
 * (2-D `.weight`, not the embedding table) as `matrix` returns it; also gives its number of layers.
 */
function retypedFile(arch: TestArch, dims: { seed: number; hidden: number; intermediate: number }, label: string, matrix: (name: string, shape: readonly number[], data: Float32Array) => GgufTensorToWrite): { file: string; layers: number } {
  const m = writeRandomHfModel(arch, dims);
  dirs.push(m.dir);
  const hf = loadHfDirectory(m.dir);
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8')) as object;
  const f32File = path.join(m.dir, 'model-f32.gguf');
  writeModelGguf(f32File, hf.spec, hf.weights, { tokenizerJson, allowMissingByteTokens: true });
  const src = GgufFile.open(f32File);
  const tensors: GgufTensorToWrite[] = [...src.tensors.values()].map((t) => {
    const data = src.readF32(t.name);
    const linear = /\.weight$/.test(t.name) && t.shape.length === 2 && t.name !== 'token_embd.weight';
    return linear ? matrix(t.name, t.shape, data) : { name: t.name, shape: t.shape, type: GgmlType.F32, data };
  });
  src.close();
  const file = path.join(m.dir, `model-${label}.gguf`);
  writeGguf(file, modelGgufMetadata(hf.spec, { tokenizerJson, allowMissingByteTokens: true }), tensors);
  return { file, layers: hf.spec.numLayers };
}

function scaleOf(a: Float32Array): number {
  let s = 0;
  for (const v of a) s = Math.max(s, Math.abs(v));
  return s;
}

/** Logits at every position of IDS from both loads, and their largest difference relative to the float32 load's. */
async function packedVsF32(packedLoad: LoadedModel, f32Load: LoadedModel): Promise<{ la: Float32Array; lb: Float32Array; rel: number; vocab: number }> {
  const a = new HookedModel(packedLoad, { threads: 1 });
  const b = new HookedModel(f32Load, { threads: 1 });
  try {
    const la = (await a.forward({ tokens: [IDS], logits: 'all' })).logits!;
    const lb = (await b.forward({ tokens: [IDS], logits: 'all' })).logits!;
    return { la, lb, rel: maxAbsDiff(la, lb) / scaleOf(lb), vocab: a.spec.vocabSize };
  } finally {
    await a.dispose();
    await b.dispose();
  }
}

describe('quantized GGUF weights kept packed', () => {
  for (const [arch, type] of [['llama', GgmlType.Q4_0], ['llama', GgmlType.Q8_0], ['gpt2', GgmlType.Q8_0], ['qwen2', GgmlType.Q4_0]] as const) {
    test(`${arch} ${GgmlType[type]}: packed matrices are the file's values exactly, and logits match the float32 load`, async () => {
      const file = quantizedFile(arch, type, 31 + type);
      const packedLoad = loadGguf(file, { cacheRoot });
      const f32Load = loadGguf(file, { weights: 'f32' });
      const packed = packedLoad.packed!;
      assert.ok(packed, 'a quantized file loads packed by default');
      // Every linear weight is packed (and absent from the float32 map); norms stay float32.
      const linear = [...f32Load.weights.keys()].filter((n) => /attn_(q|k|v|output)\.weight|ffn_(gate|up|down)\.weight|^output\.weight$/.test(n));
      assert.ok(linear.length >= 4 * 2);
      for (const name of linear) {
        assert.ok(packed.get(name), `${name} is packed`);
        assert.equal(packedLoad.weights.has(name), false);
        // Same numbers as the float32 loader's dequantization (RoPE row order and the q|k|v split included).
        const dense = packed.dense(name);
        assert.deepEqual(dense.shape, f32Load.weights.get(name)!.shape);
        assert.equal(maxAbsDiff(dense.data, f32Load.weights.get(name)!.data), 0, `${name} differs`);
      }
      assert.ok(packedLoad.weights.has('output_norm.weight'));

      const { la, lb, rel, vocab: V } = await packedVsF32(packedLoad, f32Load);
      // The packed matmuls quantize activations to int8 per block of 32 (as llama.cpp does for
      // quantized weights): a relative error of a few 1e-3, far below Q4_0's own (~1e-1).
      assert.ok(rel < 2e-2, `relative logit error ${rel}`);
      let agree = 0;
      for (let t = 0; t < IDS.length; t++) agree += argmax(la.subarray(t * V, (t + 1) * V)) === argmax(lb.subarray(t * V, (t + 1) * V)) ? 1 : 0;
      assert.ok(agree >= IDS.length - 1, `greedy tokens agree at ${agree} of ${IDS.length} positions`);
    });
  }

  test('Q4_K (float zero points): matrices run without their zero points in MatMulNBits, and logits match the float32 load', async () => {
    // Steerer writes no K-quants, so the matrices of a float32 export become random Q4_K blocks.
    const rng = createRng(5);
    const { file, layers } = retypedFile('llama', { seed: 17, hidden: 256, intermediate: 512 }, 'q4_k', (name, shape) => {
      const blocks = new Uint8Array(((shape[0] * shape[1]) / 256) * 144);
      for (let i = 0; i < blocks.length; i++) blocks[i] = Math.floor(rng.nextFloat() * 256);
      for (let b = 0; b < blocks.length; b += 144) {
        // d and dmin (f16): values d·sc·q − dmin·m with sc, m, q random have std ≈ 255·d.
        const d = f32ToF16((0.5 + rng.nextFloat()) * 2.4e-4);
        const dmin = f32ToF16((0.5 + rng.nextFloat()) * 1.8e-3);
        blocks.set([d & 0xff, d >> 8, dmin & 0xff, dmin >> 8], b);
      }
      return { name, shape, type: GgmlType.Q4_K, bytes: () => blocks };
    });

    const packedLoad = loadGguf(file, { cacheRoot });
    const f32Load = loadGguf(file, { weights: 'f32' });
    const packed = packedLoad.packed!;
    const attnQ = packed.get('blk.0.attn_q.weight');
    assert.ok(attnQ && attnQ.bits === 4 && attnQ.zeros && attnQ.exact, 'Q4_K is kept as 4 bits with float zero points');
    const { rel } = await packedVsF32(packedLoad, f32Load);
    assert.ok(rel < 2e-2, `relative logit error ${rel}`);
    // Float zero points fed to MatMulNBits would make ONNX Runtime dequantize the whole matrix on
    // every call; the graphs pass none (the zero point is corrected by a block-sum product).
    const graphs = fs.readdirSync(packed.dir).filter((f) => f.endsWith('.onnx'));
    assert.ok(graphs.length > 0);
    for (const f of graphs) {
      const nodes = onnx.ModelProto.decode(fs.readFileSync(path.join(packed.dir, f))).graph!.node!;
      const nbits = nodes.filter((n) => n.opType === 'MatMulNBits');
      // q|k|v and gate|up each one product (see the next test), attn_output, ffn_down.
      assert.ok(nbits.length >= 4 * layers);
      for (const n of nbits) assert.equal(n.input!.length, 3, `${n.name} takes zero points`);
    }
  });

  test('a layer\'s q/k/v and gate/up run as one MatMulNBits each where they are packed alike, a product each where not', async () => {
    // Qwen2 (q/k/v biases) with Q8_0 matrices, except one of q/k/v in layer 1 and one of gate/up in
    // layer 0 stored as Q4_0: those groups cannot share a product.
    const q4 = new Set(['blk.1.attn_v.weight', 'blk.0.ffn_up.weight']);
    const { file } = retypedFile('qwen2', { seed: 23, hidden: 64, intermediate: 128 }, 'mixed', (name, shape, data) =>
      q4.has(name) ? { name, shape, type: GgmlType.Q4_0, bytes: () => quantizeQ4_0(data) } : { name, shape, type: GgmlType.Q8_0, bytes: () => quantizeQ8_0(data) },
    );

    const packedLoad = loadGguf(file, { cacheRoot });
    const packed = packedLoad.packed!;
    const at = (name: string): PackedMatrix => packed.get(name)!;
    // Stored side by side: each region of k starts where q's ends, v's where k's ends.
    for (const [a, b] of [['blk.0.attn_q', 'blk.0.attn_k'], ['blk.0.attn_k', 'blk.0.attn_v'], ['blk.1.ffn_gate', 'blk.1.ffn_up']]) {
      for (const r of ['q', 'scales'] as const) assert.equal(at(`${b}.weight`)[r].offset, at(`${a}.weight`)[r].offset + at(`${a}.weight`)[r].length, `${b} ${r} follows ${a}`);
    }
    const { la, lb, rel, vocab: V } = await packedVsF32(packedLoad, loadGguf(file, { weights: 'f32' }));
    assert.ok(rel < 2e-2, `relative logit error ${rel}`);
    let agree = 0;
    for (let t = 0; t < IDS.length; t++) agree += argmax(la.subarray(t * V, (t + 1) * V)) === argmax(lb.subarray(t * V, (t + 1) * V)) ? 1 : 0;
    assert.ok(agree >= IDS.length - 1, `greedy tokens agree at ${agree} of ${IDS.length} positions`);

    const graphs = fs.readdirSync(packed.dir).filter((f) => f.endsWith('.onnx'));
    assert.ok(graphs.length > 0);
    for (const f of graphs) {
      const nbits = new Map(
        onnx.ModelProto.decode(fs.readFileSync(path.join(packed.dir, f))).graph!.node!
          .filter((n) => n.opType === 'MatMulNBits')
          .map((n) => [n.output![0], Number(n.attribute!.find((a) => a.name === 'N')!.i)]),
      );
      const out = (name: string): number => at(`${name}.weight`).out;
      assert.equal(nbits.get('blk.0.attn_qkv'), out('blk.0.attn_q') + out('blk.0.attn_k') + out('blk.0.attn_v'));
      assert.equal(nbits.get('blk.1.ffn_gate_up'), out('blk.1.ffn_gate') + out('blk.1.ffn_up'));
      for (const one of ['blk.1.attn_q', 'blk.1.attn_k', 'blk.1.attn_v', 'blk.0.ffn_gate', 'blk.0.ffn_up']) assert.equal(nbits.get(one), out(one), `${one} alone`);
      assert.equal(nbits.has('blk.1.attn_qkv') || nbits.has('blk.0.ffn_gate_up'), false);
    }
  });

  test('F16 weights are requantized to 8 bits within half a step, and logits stay close to the float32 load', async () => {
    const file = quantizedFile('llama', GgmlType.F16, 41);
    const packedLoad = loadGguf(file, { cacheRoot });
    const f32Load = loadGguf(file, { weights: 'f32' });
    const packed = packedLoad.packed!;
    const linear = [...f32Load.weights.keys()].filter((n) => /attn_(q|k|v|output)\.weight|ffn_(gate|up|down)\.weight|^output\.weight$/.test(n));
    for (const name of linear) {
      const m = packed.get(name);
      assert.ok(m && m.bits === 8 && !m.exact && m.sourceType === 'F16', `${name} is kept as 8 bits`);
      const dense = packed.dense(name).data;
      const want = f32Load.weights.get(name)!.data;
      // Blocks run along each output row's inputs: [in, out] stores input k of output r at k·out + r.
      const [inputs, outputs] = f32Load.weights.get(name)!.shape;
      for (let r = 0; r < outputs; r += 7) {
        for (let b = 0; b < inputs / 32; b++) {
          let amax = 0;
          for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(want[(b * 32 + j) * outputs + r]));
          for (let j = 0; j < 32; j++) {
            const at = (b * 32 + j) * outputs + r;
            assert.ok(Math.abs(dense[at] - want[at]) <= (0.5 * amax) / 127 + 1e-6 * amax, `${name} row ${r} block ${b}`);
          }
        }
      }
    }
    const { rel } = await packedVsF32(packedLoad, f32Load);
    // The weights' 8-bit rounding plus the int8 activations: what a Q8_0 file of this model costs
    // (architectures.test.ts bounds the first at 3e-2, the Q8_0 test above the second at 2e-2).
    assert.ok(rel < 5e-2, `relative logit error ${rel}`);
  });

  test('hooks and steering work on packed weights as on float32 ones', async () => {
    const file = quantizedFile('llama', GgmlType.Q8_0, 5);
    const a = new HookedModel(loadGguf(file, { cacheRoot }), { threads: 1 });
    const b = new HookedModel(loadGguf(file, { weights: 'f32' }), { threads: 1 });
    const D = a.spec.hiddenSize;
    const v = Float32Array.from({ length: D }, (_, i) => Math.sin(i + 1));
    const hooks = [
      { kind: 'capture' as const, at: { layer: 0, site: 'resid_post' as const } },
      { kind: 'intervene' as const, at: { layer: 1, site: 'resid_pre' as const }, intervention: addVector(v, { scale: 3 }) },
    ];
    const ra = await a.forward({ tokens: [IDS], hooks, logits: 'last' });
    const rb = await b.forward({ tokens: [IDS], hooks, logits: 'last' });
    const ca = ra.captures.get('blocks.0.hook_resid_post')!.data;
    const cb = rb.captures.get('blocks.0.hook_resid_post')!.data;
    assert.ok(maxAbsDiff(ca, cb) / scaleOf(cb) < 2e-2, 'captured activations match');
    // The intervention moves the logits by the same amount on both.
    const plainA = (await a.forward({ tokens: [IDS], logits: 'last' })).logits!;
    const plainB = (await b.forward({ tokens: [IDS], logits: 'last' })).logits!;
    const shiftA = ra.logits!.map((x, i) => x - plainA[i]);
    const shiftB = rb.logits!.map((x, i) => x - plainB[i]);
    assert.ok(scaleOf(shiftB) > 0.1, 'steering moves the logits');
    assert.ok(maxAbsDiff(shiftA, shiftB) / scaleOf(shiftB) < 5e-2, 'by the same amount');
    await a.dispose();
    await b.dispose();
  });

  test('more hook plans than packed sessions are kept: evicted plans come back with the same results', async () => {
    const file = quantizedFile('llama', GgmlType.Q4_0, 12);
    assert.throws(() => new HookedModel(loadGguf(file, { cacheRoot }), { threads: 1, maxPackedSessions: 0 }), /maxPackedSessions/);
    const m = new HookedModel(loadGguf(file, { cacheRoot }), { threads: 1, maxPackedSessions: 3 });
    const D = m.spec.hiddenSize;
    // Five distinct plans (each a session holding its own prepacked weights; 3 are kept here).
    const plans: Hook[][] = [0, 1].flatMap((layer) => (['resid_post', 'resid_mid'] as const).map((site): Hook[] => [{ kind: 'capture', at: { layer, site } }]));
    plans.push([{ kind: 'intervene', at: { layer: 0, site: 'resid_post' }, intervention: addVector(new Float32Array(D).fill(0.5)) }]);
    const first: Float32Array[] = [];
    for (const hooks of plans) first.push((await m.forward({ tokens: [IDS], hooks, logits: 'last' })).logits!.slice());
    for (const [i, hooks] of plans.entries()) {
      const again = (await m.forward({ tokens: [IDS], hooks, logits: 'last' })).logits!;
      assert.equal(maxAbsDiff(again, first[i]), 0, `plan ${i} after eviction`);
    }
    await m.dispose();
  });

  test('the cache is reused, and a damaged entry is rebuilt, never trusted', () => {
    const file = quantizedFile('llama', GgmlType.Q4_0, 8);
    const root = tempDir('packed-cache-reuse');
    dirs.push(root);
    const first = loadGguf(file, { cacheRoot: root }).packed!;
    const stat1 = fs.statSync(first.file);
    const second = loadGguf(file, { cacheRoot: root }).packed!;
    assert.equal(second.dir, first.dir);
    assert.equal(fs.statSync(second.file).mtimeMs, stat1.mtimeMs, 'not rewritten');
    // Truncate it: the next load packs again instead of reading short data.
    fs.truncateSync(first.file, 100);
    const third = loadGguf(file, { cacheRoot: root }).packed!;
    assert.equal(fs.statSync(third.file).size, stat1.size);
    assert.deepEqual(third.dense('blk.0.ffn_up.weight').data, first.dense('blk.0.ffn_up.weight').data);
    // No temporary directory is left behind.
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.endsWith('.tmp')), []);
    // Once its source file is gone, an entry is pruned when another file is packed.
    fs.rmSync(file);
    const other = loadGguf(quantizedFile('llama', GgmlType.Q8_0, 10), { cacheRoot: root }).packed!;
    assert.deepEqual(fs.readdirSync(root), [path.basename(other.dir)]);
  });

  test('a cache directory that cannot be written is a clear error that says what to do', () => {
    const file = quantizedFile('llama', GgmlType.Q4_0, 13);
    // A path under a regular file can never be a directory.
    const blocker = path.join(path.dirname(file), 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    assert.throws(() => loadGguf(file, { cacheRoot: path.join(blocker, 'cache') }), /cannot write its packed weights .*STEERER_CACHE_DIR.*STEERER_WEIGHTS=f32/);
  });

  test('a NaN block scale is a clear error naming the tensor, and leaves no cache entry', () => {
    const file = quantizedFile('llama', GgmlType.Q8_0, 9);
    const root = tempDir('packed-cache-nan');
    dirs.push(root);
    // Set the f16 scale of blk.0.ffn_down.weight's first block to NaN (0x7e00).
    const bytes = fs.readFileSync(file);
    const offset = tensorOffset(file, 'blk.0.ffn_down.weight');
    bytes[offset] = 0x00;
    bytes[offset + 1] = 0x7e;
    const bad = path.join(path.dirname(file), 'nan.gguf');
    fs.writeFileSync(bad, bytes);
    assert.throws(() => loadGguf(bad, { cacheRoot: root }), /blk\.0\.ffn_down\.weight has non-finite block scales/);
    assert.deepEqual(fs.existsSync(root) ? fs.readdirSync(root) : [], []);
  });
});

/** The absolute file offset of a tensor's first byte. */
function tensorOffset(file: string, name: string): number {
  const g = GgufFile.open(file);
  try {
    return g.tensors.get(name)!.offset;
  } finally {
    g.close();
  }
}
