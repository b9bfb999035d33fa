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

describe("logits: 'hidden' and 'kl'", () => {
  test("'hidden' is the LM head's input: times the output matrix it gives the logits", async () => {
    const ids = model.encode('The little bird sang a song.');
    const V = model.spec.vocabSize;
    const D = model.spec.hiddenSize;
    const full = await model.forward({ tokens: [ids], logits: 'all' });
    const hidden = (await model.forward({ tokens: [ids], logits: 'hidden' })).finalHidden!;
    assert.equal(hidden.length, ids.length * D);
    const w = model.denseWeight('output.weight')!; // [D, V]
    let worst = 0;
    for (const i of [0, ids.length - 1]) {
      for (const v of [0, 17, V - 1]) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += hidden[i * D + d] * w.data[d * V + v];
        worst = Math.max(worst, Math.abs(dot - full.logits![i * V + v]));
      }
    }
    assert.ok(worst < 1e-3, `logits from the hidden states differ by ${worst}`);
  });

  test("'kl' gives both runs' target log-probs and their KL, against JavaScript from two full runs", async () => {
    const a = model.encode('Once upon a time, there was a kind old man.');
    const b = model.encode('Sue had a dog.');
    const V = model.spec.vocabSize;
    const hooks = [{ kind: 'intervene' as const, at: { layer: 1, site: 'resid_pre' as const }, intervention: addVector(new Float32Array(model.spec.hiddenSize).fill(0.5)) }];
    const targets = [a.map((_, i) => a[i + 1] ?? 0), b.map((_, i) => b[i + 1] ?? 0)];
    const ref = await model.forward({ tokens: [a, b], logits: 'hidden' });
    const out = await model.forward({ tokens: [a, b], targets, hooks, logits: 'kl', referenceHidden: ref.finalHidden });
    const p = await model.forward({ tokens: [a, b], hooks, logits: 'all' });
    const q = await model.forward({ tokens: [a, b], logits: 'all' });
    let worst = 0;
    let moved = 0;
    [a, b].forEach((ids, row) => {
      const pad = out.pad[row];
      for (let i = 0; i + 1 < ids.length; i++) {
        const lp = logSoftmax(p.logits!.subarray((row * p.seq + pad + i) * V, (row * p.seq + pad + i + 1) * V));
        const lq = logSoftmax(q.logits!.subarray((row * q.seq + pad + i) * V, (row * q.seq + pad + i + 1) * V));
        let kl = 0;
        for (let v = 0; v < V; v++) kl += Math.exp(lp[v]) * (lp[v] - lq[v]);
        const at = row * out.seq + pad + i;
        worst = Math.max(worst, Math.abs(out.kl![at] - kl), Math.abs(out.targetLogprobs![at] - lp[ids[i + 1]]), Math.abs(out.referenceTargetLogprobs![at] - lq[ids[i + 1]]));
        moved = Math.max(moved, kl);
      }
    });
    assert.ok(moved > 1e-3, 'the steering moves the distribution');
    assert.ok(worst < 1e-4, `differs by ${worst}`);
    // Without the reference's hidden states (or with the wrong size) it is refused before running.
    await assert.rejects(model.forward({ tokens: [a], targets: [targets[0]], logits: 'kl' }), /reference run's final hidden states/);
    await assert.rejects(model.forward({ tokens: [a], targets: [targets[0]], logits: 'kl', referenceHidden: new Float32Array(3) }), InvalidInputError);
  });
});
