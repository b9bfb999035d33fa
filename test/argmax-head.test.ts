import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { generate } from '../src/decoding/generate.js';
import { GgmlType } from '../src/io/gguf.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { loadGguf } from '../src/model/loaders/gguf.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel, type ForwardInput } from '../src/runtime/model.js';
import { PREFILL_CHUNK } from '../src/runtime/prefill-chunks.js';
import { createRng } from '../src/runtime/rng.js';
import { argmax, Sampler } from '../src/runtime/sampling.js';
import { addVector } from '../src/steering/operators.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir, TEST_VOCAB, writeRandomHfModel } from './helpers/random-model.js';

/**
 * Forward logits 'argmax': the graph's ArgMax of the last position's logits, fetched instead of
 * the logits, against the argmax taken in JavaScript of the logits themselves (the sampler's).
 */

const dirs: string[] = [];
const models: HookedModel[] = [];
after(async () => {
  for (const m of models) await m.dispose();
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

function open(loaded: ReturnType<typeof loadModel>): HookedModel {
  const m = new HookedModel(loaded, { threads: 1 });
  models.push(m);
  return m;
}

const stories = open(loadModel(sharedPath('models', 'tinystories-656k')));

/** A random llama written as a Q4_0 GGUF and loaded packed (its matmuls run in MatMulNBits). */
function packedQ4(): HookedModel {
  const m = writeRandomHfModel('llama', { seed: 41, hidden: 64, intermediate: 128 });
  dirs.push(m.dir);
  const hf = loadHfDirectory(m.dir);
  const file = path.join(m.dir, 'model-q4_0.gguf');
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(m.dir, 'tokenizer.json'), 'utf8')) as object;
  writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, type: GgmlType.Q4_0, allowMissingByteTokens: true });
  const cacheRoot = tempDir('argmax-cache');
  dirs.push(cacheRoot);
  const loaded = loadGguf(file, { cacheRoot });
  assert.ok(loaded.packed, 'the Q4_0 file loads packed');
  return open(loaded);
}

/** Each row's JS argmax of the last-position logits of `input`. */
async function argmaxOfLogits(model: HookedModel, input: ForwardInput): Promise<number[]> {
  const out = await model.forward({ ...input, logits: 'last' });
  const V = model.spec.vocabSize;
  return Array.from({ length: out.batch }, (_, b) => argmax(out.logits!.subarray(b * V, (b + 1) * V)));
}

describe("forward logits 'argmax'", () => {
  test('TinyStories, a ragged batch, plain and steered: the argmax of the logits, and no logits', async () => {
    const tokens = ['Once upon a time', 'The dog', 'Lily and Ben went to the park. They'].map((t) => stories.encode(t));
    const rng = createRng(3);
    const v = Float32Array.from({ length: stories.spec.hiddenSize }, () => rng.nextFloat() - 0.5);
    const steer: Hook[] = [{ kind: 'intervene', at: 'blocks.1.hook_resid_post', intervention: addVector(v, { scale: 200 }) }];
    for (const hooks of [undefined, steer]) {
      const out = await stories.forward({ tokens, hooks, logits: 'argmax' });
      assert.equal(out.logits, undefined);
      const want = await argmaxOfLogits(stories, { tokens, hooks });
      assert.deepEqual(Array.from(out.argmax!), want);
    }
    // The steering moved at least one row's choice, so the hooks ran on the argmax path.
    const plain = (await stories.forward({ tokens, logits: 'argmax' })).argmax!;
    const steered = (await stories.forward({ tokens, hooks: steer, logits: 'argmax' })).argmax!;
    assert.notDeepEqual(Array.from(plain), Array.from(steered));
  });

  test('packed Q4_0 weights: a cached greedy decode takes the same tokens as argmax over returned logits', async () => {
    const model = packedQ4();
    const decode = async (prompt: readonly number[], mode: 'argmax' | 'last'): Promise<number[]> => {
      const cache = model.createCache(1);
      const ids: number[] = [];
      let out = await model.forward({ tokens: [prompt], cache, logits: mode });
      for (let i = 0; i < 12; i++) {
        ids.push(mode === 'argmax' ? out.argmax![0] : argmax(out.logits!));
        out = await model.forward({ tokens: [[ids[ids.length - 1]]], cache, logits: mode });
      }
      return ids;
    };
    const seen = new Set<number>();
    for (const prompt of [[1, 57, 300, 12, 999, 4, 1500, 77], [1, 640, 18, 2047], [1, 3, 3, 3, 800]]) {
      const viaGraph = await decode(prompt, 'argmax');
      assert.deepEqual(viaGraph, await decode(prompt, 'last'));
      viaGraph.forEach((id) => seen.add(id));
    }
    assert.ok(seen.size > 1, 'the decodes are not all one repeated token');
  });

  test('a long prompt prefilled in chunks gives the argmax of its last logits', async () => {
    const m = writeRandomHfModel('llama', { seed: 43, maxPositions: 2048 });
    dirs.push(m.dir);
    const model = open(loadHfDirectory(m.dir));
    const rng = createRng(5);
    const prompt = Array.from({ length: PREFILL_CHUNK + 100 }, () => 3 + Math.floor(rng.nextFloat() * (TEST_VOCAB - 3)));
    const out = await model.forward({ tokens: [prompt], cache: model.createCache(1), logits: 'argmax' });
    assert.equal(out.seq, prompt.length);
    assert.deepEqual(Array.from(out.argmax!), await argmaxOfLogits(model, { tokens: [prompt] }));
  });
});

describe('greedy generation fetches only the argmax', () => {
  /** The `logits` modes generate() asked its forwards for. */
  async function modesOf(opts: Parameters<typeof generate>[2]): Promise<{ modes: Set<string>; tokens: readonly number[] }> {
    const modes = new Set<string>();
    const forward = stories.forward.bind(stories);
    stories.forward = (input) => {
      modes.add(input.logits ?? 'last');
      return forward(input);
    };
    try {
      const r = await generate(stories, 'Tom had a red', { maxTokens: 10, stopTokens: [], ...opts });
      return { modes, tokens: r.tokens };
    } finally {
      stories.forward = forward;
    }
  }

  test('temperature 0 alone: argmax forwards, the same tokens as from the logits', async () => {
    const greedy = await modesOf({ temperature: 0 });
    assert.deepEqual([...greedy.modes], ['argmax']);
    // topK 1 samples from the logits, and draws their argmax too.
    const fromLogits = await modesOf({ temperature: 1, topK: 1, seed: 1 });
    assert.deepEqual([...fromLogits.modes], ['last']);
    assert.deepEqual(greedy.tokens, fromLogits.tokens);
  });

  test('anything that edits the logits first keeps them', async () => {
    for (const opts of [{ repetitionPenalty: 1.3 }, { presencePenalty: 0.5 }, { frequencyPenalty: 0.5 }, { logitBias: new Map([[5, 2]]) }]) {
      assert.equal(new Sampler({ temperature: 0, ...opts }).argmaxOnly, false, JSON.stringify(opts));
      const run = await modesOf({ temperature: 0, ...opts });
      assert.deepEqual([...run.modes], ['last'], JSON.stringify(opts));
    }
    assert.equal(new Sampler({ temperature: 0 }).argmaxOnly, true);
    assert.equal(new Sampler({ temperature: 0.7 }).argmaxOnly, false);
  });
});
