import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { PREFILL_CHUNK } from '../src/runtime/prefill-chunks.js';
import { createRng } from '../src/runtime/rng.js';
import { addVector } from '../src/steering/operators.js';
import { TEST_VOCAB, writeRandomHfModel } from './helpers/random-model.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

const m = writeRandomHfModel('llama', { seed: 23, maxPositions: 2048 });
after(() => fs.rmSync(m.dir, { recursive: true, force: true }));
const model = new HookedModel(loadHfDirectory(m.dir), { threads: 1 });
after(() => model.dispose());
// Learned positions (GPT-2) and biased q/k/v (Qwen2) take the same chunks.
const others = (['gpt2', 'qwen2'] as const).map((arch) => {
  const w = writeRandomHfModel(arch, { seed: 29, maxPositions: 2048 });
  after(() => fs.rmSync(w.dir, { recursive: true, force: true }));
  const other = new HookedModel(loadHfDirectory(w.dir), { threads: 1 });
  after(() => other.dispose());
  return other;
});
const rng = createRng(4);
// Three chunks: two whole ones and a short last one.
const PROMPT = Array.from({ length: 2 * PREFILL_CHUNK + 76 }, () => 3 + Math.floor(rng.nextFloat() * (TEST_VOCAB - 3)));
const D = model.spec.hiddenSize;
const vector = Float32Array.from({ length: D }, () => rng.nextFloat() - 0.5);
const READ = 'blocks.1.hook_resid_post';

function lastRow(logits: Float32Array): Float32Array {
  return logits.subarray(logits.length - TEST_VOCAB);
}

function scale(a: Float32Array): number {
  return a.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
}

describe('long prompts into a cache run in chunks', () => {
  for (const hm of [model, ...others]) {
    test(`${hm.spec.architecture}: the same logits, captures and positions as one pass over the whole prompt, steering by prompt position included`, async () => {
      // Steered on the prompt's last 600 tokens: positions that span the chunks, found from the whole prompt's length.
      const hooks: Hook[] = [
        { kind: 'intervene', at: 'blocks.0.hook_resid_post', intervention: addVector(vector, { scale: 4, positions: { last: 600 } }) },
        { kind: 'capture', at: READ },
      ];
      const whole = await hm.forward({ tokens: [PROMPT], hooks, logits: 'all' });
      const cache = hm.createCache(1);
      const chunked = await hm.forward({ tokens: [PROMPT], cache, hooks, logits: 'last' });
      assert.equal(chunked.seq, PROMPT.length);
      assert.deepEqual(Array.from(chunked.positions), PROMPT.map((_, i) => i));
      assert.equal(cache.length, PROMPT.length);
      assert.deepEqual(cache.promptLengths, [PROMPT.length]);
      const want = lastRow(whole.logits!);
      assert.ok(maxAbsDiff(chunked.logits!, want) <= 1e-4 * scale(want), `logits differ by ${maxAbsDiff(chunked.logits!, want)}`);
      const a = chunked.captures.get(READ)!;
      const b = whole.captures.get(READ)!;
      assert.equal(a.seq, PROMPT.length);
      assert.equal(a.data.length, b.data.length);
      assert.ok(maxAbsDiff(a.data, b.data) <= 1e-4 * scale(b.data), `captures differ by ${maxAbsDiff(a.data, b.data)}`);
      // The steering mattered: without it the last logits move.
      const plain = await hm.forward({ tokens: [PROMPT], logits: 'last' });
      assert.ok(maxAbsDiff(plain.logits!, want) > 100 * maxAbsDiff(chunked.logits!, want));
    });
  }

  test('decoding goes on from the chunked cache as after one pass', async () => {
    const hooks: Hook[] = [{ kind: 'intervene', at: 'blocks.1.hook_resid_pre', intervention: addVector(vector, { scale: 2 }) }];
    const cache = model.createCache(1);
    const first = await model.forward({ tokens: [PROMPT], cache, hooks, logits: 'last' });
    const next = first.logits!.indexOf(Math.max(...first.logits!));
    const step = await model.forward({ tokens: [[next]], cache, hooks, logits: 'last' });
    const whole = await model.forward({ tokens: [[...PROMPT, next]], hooks, logits: 'last' });
    assert.ok(maxAbsDiff(step.logits!, whole.logits!) <= 1e-4 * scale(whole.logits!), `logits differ by ${maxAbsDiff(step.logits!, whole.logits!)}`);
  });

  test('a bad token in a later chunk is refused before the cache takes any', async () => {
    const cache = model.createCache(1);
    const bad = [...PROMPT.slice(0, -1), TEST_VOCAB + 5];
    await assert.rejects(model.forward({ tokens: [bad], cache, logits: 'last' }), (e: unknown) => e instanceof InvalidInputError && /outside the vocabulary/.test(e.message));
    assert.equal(cache.length, 0);
  });

  test('a JavaScript edit still sees the whole prompt at once', async () => {
    const seen: number[] = [];
    const cache = model.createCache(1);
    await model.forward({ tokens: [PROMPT], cache, hooks: [{ kind: 'edit', at: 'blocks.0.hook_resid_post', fn: (act) => void seen.push(act.seq) }], logits: 'last' });
    assert.deepEqual(seen, [PROMPT.length]);
  });
});
