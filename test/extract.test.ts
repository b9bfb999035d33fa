import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import type { ContrastDataset, ContrastPair } from '../src/steering/contrast-dataset.js';
import { auroc, directionFor, firstPrincipalComponent } from '../src/steering/directions.js';
import { extractVector } from '../src/steering/extract.js';
import { writeRandomHfModel } from './helpers/random-model.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const cos = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

describe('direction methods on hand-made data', () => {
  test('PCA finds the axis of largest variance', async () => {
    // Points along (3, 4)/5 with alternating small noise on the orthogonal axis.
    const rows = [-2, -1, 0, 1, 2].flatMap((t, i) => {
      const e = i % 2 === 0 ? 0.01 : -0.01;
      return [0.6 * t - 0.8 * e, 0.8 * t + 0.6 * e];
    });
    const pc = await firstPrincipalComponent(Float64Array.from(rows), 5, 2);
    assert.ok(Math.abs(Math.abs(cos(pc, [0.6, 0.8])) - 1) < 1e-6);
  });

  test('diffmean is the difference of means; every method is scaled to it', async () => {
    const P = Float32Array.from([2, 1, 4, 1, 3, 1]);
    const N = Float32Array.from([0, 1, 1, 1, 2, 1]);
    assert.deepEqual(Array.from(await directionFor('diffmean', P, N, 2)), [2, 0]);
    for (const m of ['pca_diff', 'pca_center', 'probe'] as const) {
      const d = await directionFor(m, P, N, 2);
      assert.ok(Math.abs(d[0] - 2) < 1e-3 && Math.abs(d[1]) < 1e-3, `${m}: ${Array.from(d)}`);
    }
  });

  test('AUROC counts ranked pairs', () => {
    assert.equal(auroc([3, 4], [1, 2]), 1);
    assert.equal(auroc([1], [2]), 0);
    assert.equal(auroc([1, 3], [2, 2]), 0.5);
  });
});

describe('planted direction', () => {
  test('each method recovers a direction planted in the model (cosine > 0.99)', async () => {
    const m = writeRandomHfModel('llama', { seed: 21, hidden: 64 });
    dirs.push(m.dir);
    const loaded = loadHfDirectory(m.dir);
    const D = 64;
    const V = loaded.spec.vocabSize;
    const rng = createRng(5);
    const planted = Float32Array.from({ length: D }, () => rng.nextFloat() - 0.5);
    // A nuisance direction orthogonal to the planted one, varying across pairs on both sides.
    const nuisance = Float32Array.from({ length: D }, () => rng.nextFloat() - 0.5);
    const pn = nuisance.reduce((a, x, d) => a + x * planted[d], 0) / planted.reduce((a, x) => a + x * x, 0);
    nuisance.forEach((x, d) => (nuisance[d] = x - pn * planted[d]));
    // Tied model: the embedding of token t is column t of output.weight [D, V]. Negatives end in
    // token 500+i = b + r_i·nuisance, positives in token 1000+i = that + s_i·planted (s_i varies so
    // PCA sees the axis).
    const W = loaded.weights.get('output.weight')!.data;
    const base = Array.from({ length: D }, (_, d) => W[d * V + 500]);
    const pairs: ContrastPair[] = [];
    for (let i = 0; i < 60; i++) {
      const pos = 1000 + i;
      const neg = 500 + i;
      const s = 1 + rng.nextFloat();
      const r = 2 * rng.nextFloat() - 1;
      for (let d = 0; d < D; d++) {
        W[d * V + neg] = base[d] + r * nuisance[d];
        W[d * V + pos] = W[d * V + neg] + s * planted[d];
      }
      const prefix = [1, 10 + ((i * 7) % 300), 20 + ((i * 13) % 400)];
      const ex = (last: number): ContrastPair['positive'] => ({ ids: [...prefix, last], completionStart: 3, answerIndex: 3, text: `pair ${i}` });
      pairs.push({ positive: ex(pos), negative: ex(neg) });
    }
    const model = new HookedModel(loaded, { threads: 1 });
    const dataset: ContrastDataset = { pairs, source: 'planted', hash: 'planted' };
    for (const method of ['diffmean', 'pca_diff', 'pca_center', 'probe'] as const) {
      const v = await extractVector(model, dataset, { method, layers: [0], site: 'resid_pre', read: 'last' });
      const c = cos(v.directions.get(0)!, planted);
      assert.ok(c > 0.99, `${method}: cosine ${c}`);
      const diag = v.meta.diagnostics![0];
      assert.equal(diag.accuracy, 1);
      assert.equal(diag.auroc, 1);
      assert.equal(diag.heldOut, 12);
    }
    // Deeper layers see the planted difference transformed, but still separate the sets.
    const deep = await extractVector(model, dataset, { layers: [0, 1], site: 'resid_post' });
    assert.deepEqual([...deep.directions.keys()], [0, 1]);
    assert.ok(deep.meta.diagnostics!.every((d) => (d.auroc ?? 0) > 0.9));
    await model.dispose();
  });
});

describe('read positions', () => {
  test("'all' reads every completion token: diffmean is the difference of the token means", async () => {
    const { loadModel } = await import('../src/model/load.js');
    const { sharedPath } = await import('../src/util/shared-path.js');
    const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
    const ex = (text: string): ContrastPair['positive'] => {
      const ids = model.encode(text);
      return { ids, completionStart: 1, answerIndex: ids.length - 1, text };
    };
    const pairs: ContrastPair[] = [
      { positive: ex('Tom was sad and cried.'), negative: ex('Tom was happy and smiled.') },
      { positive: ex('The dog felt alone.'), negative: ex('The dog felt loved by everyone.') },
    ];
    const v = await extractVector(model, { pairs, source: 'inline', hash: 'x' }, { read: 'all', layers: [1], validationFraction: 0 });
    const D = 128;
    const sideMean = async (side: 'positive' | 'negative'): Promise<Float64Array> => {
      const m = new Float64Array(D);
      let rows = 0;
      for (const p of pairs) {
        const out = await model.forward({ tokens: [p[side].ids], hooks: [{ kind: 'capture', at: 'blocks.1.hook_resid_post' }], logits: 'none' });
        const data = out.captures.get('blocks.1.hook_resid_post')!.data;
        for (let t = 1; t < p[side].ids.length; t++, rows++) for (let d = 0; d < D; d++) m[d] += data[t * D + d];
      }
      return m.map((x) => x / rows);
    };
    const [mp, mn] = [await sideMean('positive'), await sideMean('negative')];
    v.directions.get(1)!.forEach((x, d) => assert.ok(Math.abs(x - (mp[d] - mn[d])) < 1e-3, `dim ${d}`));
    await assert.rejects(extractVector(model, { pairs, source: 'inline', hash: 'x' }, { read: 'all', method: 'pca_diff' }), /paired reads/);
    await model.dispose();
  });
});
