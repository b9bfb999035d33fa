import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { logSoftmax } from '../src/runtime/sampling.js';
import { scoreSpans, scoreTokens } from '../src/runtime/score.js';
import { addVector } from '../src/steering/operators.js';
import { sharedPath } from '../src/util/shared-path.js';

/**
 * The 'targets' head (log-softmax and gather in the graph) against the full logits with the
 * log-softmax done here in JavaScript: the same numbers, with padding, a KV cache and hooks.
 */
let model: HookedModel;
before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
});
after(() => model.dispose());

/** log p(row b, position i → target) from 'all' logits, in JavaScript. */
function reference(logits: Float32Array, V: number, b: number, seq: number, pad: number, i: number, target: number): number {
  const row = logits.subarray((b * seq + pad + i) * V, (b * seq + pad + i + 1) * V);
  return logSoftmax(row)[target];
}

describe("logits: 'targets'", () => {
  test('equals log-softmax of the full logits, for a left-padded batch with steering', async () => {
    const a = model.encode('Once upon a time, there was a little girl named Lily.');
    const b = model.encode('The dog ran.');
    const V = model.spec.vocabSize;
    const hooks = [{ kind: 'intervene' as const, at: { layer: 1, site: 'resid_pre' as const }, intervention: addVector(new Float32Array(model.spec.hiddenSize).fill(0.3)) }];
    // Arbitrary targets (not only the next token): any id per position.
    const targets = [a.map((_, i) => (i * 37) % V), b.map((_, i) => (i * 91 + 5) % V)];
    const full = await model.forward({ tokens: [a, b], hooks, logits: 'all' });
    const picked = await model.forward({ tokens: [a, b], targets, hooks, logits: 'targets' });
    assert.equal(picked.logits, undefined, 'no logits leave the graph');
    assert.equal(picked.targetLogprobs!.length, 2 * full.seq);
    let worst = 0;
    [a, b].forEach((ids, row) => {
      ids.forEach((_, i) => {
        const want = reference(full.logits!, V, row, full.seq, full.pad[row], i, targets[row][i]);
        worst = Math.max(worst, Math.abs(picked.targetLogprobs![row * picked.seq + picked.pad[row] + i] - want));
      });
    });
    assert.ok(worst < 1e-4, `largest difference ${worst}`);
  });

  test('with a KV cache, decode steps score their targets like a full pass', async () => {
    const ids = model.encode('Lily saw a big red ball in the park.');
    const V = model.spec.vocabSize;
    const full = await model.forward({ tokens: [ids], logits: 'all' });
    const cache = model.createCache(1);
    const k = 6;
    await model.forward({ tokens: [ids.slice(0, k)], cache, targets: [ids.slice(1, k + 1)], logits: 'targets' });
    for (let i = k; i < ids.length - 1; i++) {
      const step = await model.forward({ tokens: [[ids[i]]], cache, targets: [[ids[i + 1]]], logits: 'targets' });
      assert.ok(Math.abs(step.targetLogprobs![0] - reference(full.logits!, V, 0, full.seq, 0, i, ids[i + 1])) < 1e-4, `position ${i}`);
    }
  });

  test('scoreTokens and scoreSpans agree with the JavaScript log-softmax, windows and batches included', async () => {
    const ids = model.encode('One day, a little boy named Tom went to the park with his mom. He saw a big tree and a bird.');
    const V = model.spec.vocabSize;
    const full = await model.forward({ tokens: [ids], logits: 'all' });
    const want = ids.slice(1).map((t, i) => reference(full.logits!, V, 0, full.seq, 0, i, t));
    // The text fits in one window (512 tokens), so every token has its whole left context.
    const scored = await scoreTokens(model, ids);
    scored.logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - want[i]) < 1e-4, `token ${i + 1}`));
    const spans = [{ ids, from: 5 }, { ids: ids.slice(0, 9), from: 1 }, { ids: ids.slice(0, 3), from: 3 }];
    const per = await scoreSpans(model, spans, { batchSize: 2 });
    assert.equal(per[2].length, 0, 'nothing to score');
    per[0].forEach((lp, k) => assert.ok(Math.abs(lp - want[5 + k - 1]) < 1e-4));
    per[1].forEach((lp, k) => assert.ok(Math.abs(lp - want[k]) < 1e-4));
  });

  test('targets are checked: one list per sequence, same length, ids in the vocabulary', async () => {
    const ids = model.encode('A cat.');
    await assert.rejects(model.forward({ tokens: [ids], logits: 'targets' }), InvalidInputError);
    await assert.rejects(model.forward({ tokens: [ids], targets: [ids.slice(1)], logits: 'targets' }), /targets/);
    await assert.rejects(model.forward({ tokens: [ids], targets: [ids.map(() => model.spec.vocabSize)], logits: 'targets' }), /vocabulary/);
  });
});
