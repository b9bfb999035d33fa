import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { directionLogits } from '../src/explore/direction-logits.js';
import { logitLens } from '../src/explore/logit-lens.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { sharedPath } from '../src/util/shared-path.js';
import { writeRandomHfModel, type RandomModel, type TestArch } from './helpers/random-model.js';
import { skipUnlessShared } from './helpers/shared.js';

/**
 * The logit lens against plain JavaScript written from the Hugging Face tensors (RMSNorm or
 * LayerNorm with the file's final norm, then lm_head / the tied wte), and the identity that the
 * last layer's lens is the model's own next-token distribution.
 */

const TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play.';
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** HF-side final norm and unembedding of a random model, as float64 in plain JS. */
function hfHead(m: RandomModel): { D: number; V: number; logits(x: ArrayLike<number>): Float64Array; direct(v: ArrayLike<number>): Float64Array } {
  const t = (name: string): Float32Array => m.tensors.get(name)!.data;
  const gpt2 = m.arch === 'gpt2';
  const c = m.config as Record<string, number>;
  const D = gpt2 ? c.n_embd : c.hidden_size;
  const V = c.vocab_size;
  const eps = gpt2 ? c.layer_norm_epsilon : c.rms_norm_eps;
  const g = t(gpt2 ? 'transformer.ln_f.weight' : 'model.norm.weight');
  const b = gpt2 ? t('transformer.ln_f.bias') : new Float32Array(D);
  const W = t(gpt2 ? 'transformer.wte.weight' : 'lm_head.weight'); // [V, D]
  const unembed = (h: Float64Array): Float64Array => {
    const out = new Float64Array(V);
    for (let v = 0; v < V; v++) for (let d = 0; d < D; d++) out[v] += W[v * D + d] * h[d];
    return out;
  };
  const mean = (x: ArrayLike<number>): number => (gpt2 ? Array.from(x).reduce((a, y) => a + y, 0) / D : 0);
  return {
    D,
    V,
    logits(x) {
      const mu = mean(x);
      let ss = 0;
      for (let d = 0; d < D; d++) ss += (x[d] - mu) ** 2;
      const r = 1 / Math.sqrt(ss / D + eps);
      return unembed(Float64Array.from({ length: D }, (_, d) => (x[d] - mu) * r * g[d] + b[d]));
    },
    direct(v) {
      const mu = mean(v);
      return unembed(Float64Array.from({ length: D }, (_, d) => (v[d] - mu) * g[d]));
    },
  };
}

function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Float64Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i] - max));
  const s = e.reduce((a, x) => a + x, 0);
  return e.map((x) => x / s);
}

for (const arch of ['llama', 'gpt2'] as TestArch[]) {
  describe(`logit lens on a random ${arch} model`, () => {
    let m: RandomModel;
    let model: HookedModel;
    before(() => {
      m = writeRandomHfModel(arch, { seed: 5, layers: 3 });
      dirs.push(m.dir);
      model = new HookedModel(loadHfDirectory(m.dir), { threads: 1 });
    });
    after(() => model.dispose());

    test("each layer's cells are the plain-JS norm + unembedding of its residual, every token ranked", async () => {
      const ids = model.encode(TEXT).slice(0, 8);
      const positions = [0, 3, 7];
      const lens = await logitLens(model, ids, { positions, top: 4 });
      assert.deepEqual(lens.rows.map((r) => r.hook), ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
      const ref = hfHead(m);
      const points = lens.rows.map((r) => r.hook);
      const out = await model.forward({ tokens: [ids], hooks: points.map((at) => ({ kind: 'capture' as const, at })), logits: 'none' });
      lens.rows.forEach((row, r) => {
        const act = out.captures.get(points[r])!.data;
        positions.forEach((p, j) => {
          const logits = ref.logits(act.subarray(p * ref.D, (p + 1) * ref.D));
          const probs = softmax(logits);
          const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
          row.cells[j].forEach((t, k) => {
            assert.equal(t.id, order[k], `${row.label} position ${p} rank ${k}`);
            assert.ok(Math.abs(t.prob - probs[t.id]) < 1e-5, `${row.label} p=${t.prob} vs ${probs[t.id]}`);
            assert.ok(Math.abs(t.logit - logits[t.id]) < 1e-3 * Math.max(1, Math.abs(logits[t.id])), `${row.label} logit ${t.logit} vs ${logits[t.id]}`);
          });
        });
      });
    });

    test("the last layer's lens is the model's next-token distribution, all of it", async () => {
      const ids = model.encode(TEXT).slice(0, 6);
      const V = model.spec.vocabSize;
      const lens = await logitLens(model, ids, { top: V, layers: [model.spec.numLayers - 1], embeddings: false });
      const logits = (await model.forward({ tokens: [ids], logits: 'all' })).logits!;
      lens.rows[0].cells.forEach((cell, p) => {
        assert.equal(cell.length, V);
        const probs = softmax(logits.subarray(p * V, (p + 1) * V));
        let err = 0;
        for (const t of cell) err = Math.max(err, Math.abs(t.prob - probs[t.id]), Math.abs(t.logit - logits[p * V + t.id]));
        assert.ok(err < 1e-5, `position ${p}: max difference ${err}`);
      });
    });

    test('direction logits are (v ⊙ g)·W_U (v centred under LayerNorm), per layer of a vector', async () => {
      const ref = hfHead(m);
      const dir = (seed: number): Float32Array => Float32Array.from({ length: ref.D }, (_, i) => Math.sin(seed * 7.3 + i * 1.7));
      const vector: SteeringVector = {
        directions: new Map([[0, dir(1)], [2, dir(2)]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'x', architecture: 'x', hiddenSize: ref.D, numLayers: 3 }, method: 'diffmean', site: 'resid_post', createdAt: '' },
      };
      const got = await directionLogits(model, vector, { top: 5 });
      assert.deepEqual(got.map((g) => g.layer), [0, 2]);
      for (const g of got) {
        const w = ref.direct(vector.directions.get(g.layer!)!);
        const order = [...w.keys()].sort((a, b) => w[b] - w[a]);
        g.promoted.forEach((t, k) => {
          assert.equal(t.id, order[k], `layer ${g.layer} promoted rank ${k}`);
          assert.ok(Math.abs(t.weight - w[t.id]) < 1e-4 * Math.max(1, Math.abs(w[t.id])));
        });
        g.suppressed.forEach((t, k) => assert.equal(t.id, order[order.length - 1 - k], `layer ${g.layer} suppressed rank ${k}`));
      }
      const [one] = await directionLogits(model, vector, { layer: 2, top: 1 });
      assert.equal(one.layer, 2);
      await assert.rejects(directionLogits(model, vector, { layer: 1 }), InvalidInputError);
      await assert.rejects(directionLogits(model, new Float32Array(3)), InvalidInputError);
      if (arch === 'gpt2') {
        // LayerNorm removes the mean: a constant direction moves no logit.
        const [flat] = await directionLogits(model, new Float32Array(ref.D).fill(3), { top: 1 });
        assert.ok(Math.abs(flat.promoted[0].weight) < 1e-5 && Math.abs(flat.suppressed[0].weight) < 1e-5);
      }
    });
  });
}

describe('logit lens on TinyStories-656K', { skip: skipUnlessShared(sharedPath('models', 'tinystories-656k', 'model.safetensors')) }, () => {
  let model: HookedModel;
  before(() => {
    model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  });
  after(() => model.dispose());

  test('last layer = the model output at the chosen positions; the embedding row decodes the token itself (tied)', async () => {
    const ids = model.encode(TEXT);
    const lens = await logitLens(model, TEXT, { positions: [2, -1], top: 3 });
    assert.deepEqual(lens.positions, [2, ids.length - 1]);
    const V = model.spec.vocabSize;
    const logits = (await model.forward({ tokens: [ids], logits: 'all' })).logits!;
    const last = lens.rows.at(-1)!;
    lens.positions.forEach((p, j) => {
      const probs = softmax(logits.subarray(p * V, (p + 1) * V));
      const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
      last.cells[j].forEach((t, k) => {
        assert.equal(t.id, order[k]);
        assert.ok(Math.abs(t.prob - probs[t.id]) < 1e-5);
      });
      assert.equal(lens.rows[0].cells[j][0].id, ids[p], 'embed row: the input token');
    });
    await assert.rejects(logitLens(model, TEXT, { positions: [ids.length] }), /outside the text/);
    await assert.rejects(logitLens(model, TEXT, { layers: [2] }), /does not exist/);
  });
});
