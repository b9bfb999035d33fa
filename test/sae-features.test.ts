import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hookName, type HookPoint } from '../src/graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { ActivationStore } from '../src/sae/activation-store.js';
import { collectActivationStore } from '../src/sae/activation-store-writer.js';
import type { CorpusDocument } from '../src/sae/corpus.js';
import { featureCard, renderFeatureCardsHtml, renderFeatureCardText, type FeatureCard } from '../src/sae/feature-card.js';
import { encodeText, featureActivationsOnText, tokenStrings } from '../src/sae/feature-activations.js';
import { loadFeatureIndex, saveFeatureIndex, type FeatureIndex } from '../src/sae/feature-index.js';
import { buildFeatureIndex, windowRows } from '../src/sae/feature-index-builder.js';
import { contrastFeatures, featuresNearVector } from '../src/sae/feature-search.js';
import { featureLogitBias, featureLogitEffects } from '../src/sae/logit-lens.js';
import { decoderRow, type Sae, type SaeActivation } from '../src/sae/sae.js';
import { sharedPath } from '../src/util/shared-path.js';
import { rng } from './helpers/prng.js';

let model: HookedModel;
let tmp: string;
const D = 128;
const POST: HookPoint = { layer: 0, site: 'resid_post' };
/** Layer 0's input is the token embedding itself: a token's row never depends on its context. */
const EMBED: HookPoint = { layer: 0, site: 'resid_pre' };

const TEXTS = [
  'Once upon a time, there was a little girl named Lily.',
  'The cat sat on the mat.',
  'Tom had a big red ball. He liked to play with it in the park every day with his friends.',
  'Sue was sad.',
  'One day, a bird flew over the tall tree and saw a small boy who was crying.',
];

before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  tmp = fs.mkdtempSync(join(os.tmpdir(), 'steerer-features-'));
});
after(async () => {
  await model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function* docsOf(texts: readonly string[]): AsyncGenerator<CorpusDocument> {
  for (let i = 0; i < texts.length; i++) yield { index: i, text: texts[i] };
}

/** A seeded SAE over the layer-0 residual: Gaussian-ish encoder, unit decoder rows. */
function randomSae(activation: SaeActivation, dSae: number, seed: number, opts: { dead?: number } = {}): Sae {
  const r = rng(seed);
  const gauss = (): number => (r() + r() + r() + r() - 2) * Math.sqrt(3);
  const wEnc = Float32Array.from({ length: D * dSae }, () => gauss() / Math.sqrt(D));
  const bEnc = Float32Array.from({ length: dSae }, () => 0.2 * gauss());
  if (opts.dead !== undefined) bEnc[opts.dead] = -1e6;
  const wDec = new Float32Array(dSae * D);
  for (let f = 0; f < dSae; f++) {
    const row = Array.from({ length: D }, gauss);
    const n = Math.hypot(...row);
    row.forEach((x, d) => (wDec[f * D + d] = x / n));
  }
  const bDec = Float32Array.from({ length: D }, () => 0.05 * gauss());
  return { cfg: { dIn: D, dSae, activation, hook: POST, applyBDecToInput: true, inputScale: 1, format: 'steerer' }, weights: { wEnc, bEnc, wDec, bDec } };
}

/** The SAE's latents for one row, straight from the definition (float64). */
function jsEncode(sae: Sae, x: ArrayLike<number>): Float64Array {
  const { dIn, dSae, activation, applyBDecToInput, inputScale } = sae.cfg;
  const w = sae.weights;
  const z = new Float64Array(dSae);
  for (let f = 0; f < dSae; f++) {
    let pre = w.bEnc[f];
    for (let d = 0; d < dIn; d++) pre += (x[d] * inputScale - (applyBDecToInput ? w.bDec[d] : 0)) * w.wEnc[d * dSae + f];
    z[f] = Math.max(0, pre);
  }
  if (activation.kind === 'topk') {
    const keep = new Set([...z.keys()].sort((a, b) => z[b] - z[a] || a - b).slice(0, activation.k));
    z.forEach((_, f) => {
      if (!keep.has(f)) z[f] = 0;
    });
  }
  return z;
}

const close = (a: number, b: number, tol = 1e-4): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

async function capture(text: string, at: HookPoint): Promise<{ ids: number[]; rows: Float32Array[] }> {
  const ids = model.encode(text);
  const out = await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at }], logits: 'none' });
  const data = out.captures.get(hookName(at))!.data;
  return { ids, rows: ids.map((_, r) => data.slice(r * D, (r + 1) * D)) };
}

/** Embedding row of a token (the model ties it to the unembedding's column). */
function embedding(id: number): Float64Array {
  const out = model.weights.get('output.weight')!;
  const V = out.shape[1];
  return Float64Array.from({ length: D }, (_, d) => out.data[d * V + id]);
}

/**
 * An SAE on the embeddings whose feature j is a detector for token ids[j]: exactly 1 on that
 * token, 0 on every other token of the vocabulary (its bias sits just above the best other
 * token's projection). Returns undefined for a token that no direction can single out.
 */
function detectorSae(ids: readonly number[]): Sae | undefined {
  const dSae = ids.length;
  const V = model.spec.vocabSize;
  const wEnc = new Float32Array(D * dSae);
  const bEnc = new Float32Array(dSae);
  const wDec = new Float32Array(dSae * D);
  for (let j = 0; j < dSae; j++) {
    const e = embedding(ids[j]);
    const n = Math.hypot(...e);
    const u = e.map((x) => x / n);
    let c = -Infinity;
    for (let v = 0; v < V; v++) {
      if (v === ids[j]) continue;
      const ev = embedding(v);
      let p = 0;
      for (let d = 0; d < D; d++) p += ev[d] * u[d];
      c = Math.max(c, p);
    }
    const margin = n - c;
    if (margin < 1e-3 * n) return undefined;
    c += 0.01 * margin;
    const scale = n - c;
    for (let d = 0; d < D; d++) {
      wEnc[d * dSae + j] = u[d] / scale;
      wDec[j * D + d] = u[d];
    }
    bEnc[j] = -c / scale;
  }
  return {
    cfg: { dIn: D, dSae, activation: { kind: 'relu' }, hook: EMBED, applyBDecToInput: false, inputScale: 1, format: 'steerer' },
    weights: { wEnc, bEnc, wDec, bDec: new Float32Array(D) },
  };
}

describe('features on a text', () => {
  const text = 'Once upon a time, there was a little girl named Lily.';

  test('encodeText equals relu((x − b_dec)·W_enc + b_enc), top-k, largest first', async () => {
    const sae = randomSae({ kind: 'topk', k: 4 }, 16, 1);
    const { ids, rows } = await capture(text, POST);
    const got = await encodeText(model, sae, text, { top: 3 });
    assert.deepEqual(got.map((t) => t.id), ids);
    assert.deepEqual(got.map((t) => t.position), ids.map((_, i) => i));
    // Single-token strings keep their spaces: the pieces after BOS spell the text.
    assert.equal(got.slice(1).map((t) => t.token).join(''), ` ${text}`);
    got.forEach((t, r) => {
      const z = jsEncode(sae, rows[r]);
      const want = [...z.keys()].filter((f) => z[f] > 0).sort((a, b) => z[b] - z[a]).slice(0, 3);
      assert.deepEqual(t.features.map((f) => f.feature), want, `token ${r}`);
      t.features.forEach((f) => assert.ok(close(f.activation, z[f.feature]), `token ${r} feature ${f.feature}: ${f.activation} vs ${z[f.feature]}`));
    });
  });

  test('featureActivationsOnText gives one feature at every token', async () => {
    const sae = randomSae({ kind: 'relu' }, 16, 2);
    const { ids, rows } = await capture(text, POST);
    const got = await featureActivationsOnText(model, sae, text, 5);
    assert.deepEqual(got.tokens, tokenStrings(model, ids));
    assert.equal(got.activations.length, ids.length);
    rows.forEach((row, r) => assert.ok(close(got.activations[r], jsEncode(sae, row)[5]), `token ${r}`));
    await assert.rejects(featureActivationsOnText(model, sae, text, 16), InvalidInputError);
  });

  test('a token detector fires on its token only', async () => {
    const ids = model.encode(text);
    const target = ids.find((id, i) => i > 0 && ids.indexOf(id) === i && detectorSae([id]) !== undefined)!;
    const sae = detectorSae([target])!;
    const got = await encodeText(model, sae, text);
    for (const t of got) {
      if (t.id === target) assert.ok(t.features.length === 1 && close(t.features[0].activation, 1), JSON.stringify(t));
      else assert.deepEqual(t.features, []);
    }
  });
});

describe('logit lens', () => {
  const sae = randomSae({ kind: 'relu' }, 16, 3);
  const V = (): number => model.spec.vocabSize;
  const jsWeights = (f: number): Float64Array => {
    const out = model.weights.get('output.weight')!.data;
    const g = model.weights.get('output_norm.weight')!.data;
    const w = new Float64Array(V());
    for (let d = 0; d < D; d++) {
      const a = sae.weights.wDec[f * D + d] * g[d];
      for (let v = 0; v < V(); v++) w[v] += a * out[d * V() + v];
    }
    return w;
  };

  test('weights are (W_dec[f] ⊙ g)·W_U; promoted/suppressed are the true extremes, sorted', async () => {
    const effects = await featureLogitEffects(model, sae, [0, 7], { top: 6 });
    assert.deepEqual(effects.map((e) => e.feature), [0, 7]);
    for (const e of effects) {
      const w = jsWeights(e.feature);
      const order = [...w.keys()].sort((a, b) => w[b] - w[a]);
      assert.equal(e.promoted.length, 6);
      e.promoted.forEach((t, i) => {
        assert.ok(close(t.weight, w[t.id]), `promoted ${t.id}: ${t.weight} vs ${w[t.id]}`);
        assert.ok(close(t.weight, w[order[i]]), `rank ${i}`);
        assert.equal(t.token, tokenStrings(model, [t.id])[0]);
      });
      e.suppressed.forEach((t, i) => {
        assert.ok(close(t.weight, w[t.id]));
        assert.ok(close(t.weight, w[order[order.length - 1 - i]]), `suppressed rank ${i}`);
      });
    }
  });

  test('featureLogitBias scales the top promoted tokens', async () => {
    const w = jsWeights(2);
    const bias = await featureLogitBias(model, sae, 2, -3, { top: 5 });
    assert.equal(bias.size, 5);
    for (const [id, b] of bias) assert.ok(close(b, -3 * w[id]) && w[id] > 0);
    await assert.rejects(featureLogitBias(model, sae, 99, 1), InvalidInputError);
  });
});

describe('feature search', () => {
  const positive = ['The dragon flew over the hill.', 'A big dragon slept in the cave.', 'Lily saw a dragon in the sky.'];
  const neutral = ['The cat sat on the mat.', 'Tom ate an apple in the park.', 'The sun was hot and the sky was blue.'];

  test('contrastFeatures ranks first the feature of a word only the positive texts hold', async () => {
    const content = (t: string): number[] => model.encode(t).slice(1);
    const inAll = (texts: string[], id: number): boolean => texts.every((t) => content(t).includes(id));
    const inAny = (texts: string[], id: number): boolean => texts.some((t) => content(t).includes(id));
    const candidates = [...new Set(positive.flatMap(content))];
    const target = candidates.find((id) => inAll(positive, id) && !inAny(neutral, id) && detectorSae([id]) !== undefined);
    assert.ok(target !== undefined, 'no token is in every positive text and no neutral one');
    const shared = candidates.filter((id) => id !== target && inAny(neutral, id) && detectorSae([id]) !== undefined).slice(0, 5);
    assert.ok(shared.length >= 2);
    // The target sits in the middle so its index is not a default.
    const ids = [...shared.slice(0, 1), target, ...shared.slice(1)];
    const sae = detectorSae(ids)!;
    const got = await contrastFeatures(model, sae, positive, neutral, { batchSize: 2 });
    assert.equal(got[0].feature, 1);
    assert.ok(close(got[0].score, 1) && close(got[0].meanPositive, 1) && got[0].meanNeutral === 0, JSON.stringify(got[0]));
    assert.equal(got[0].freqPositive, 1);
    assert.equal(got[0].freqNeutral, 0);
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].score >= got[i].score);

    // Token pooling: mean over all (non-BOS) tokens of a 0/1 detector = the token's share.
    const tokens = await contrastFeatures(model, sae, positive, neutral, { pool: 'tokens', top: ids.length });
    const mine = tokens.find((m) => m.feature === 1)!;
    const all = positive.flatMap(content);
    const share = all.filter((id) => id === target).length / all.length;
    assert.ok(close(mine.meanPositive, share) && close(mine.freqPositive, share), `${mine.meanPositive} vs ${share}`);
    await assert.rejects(contrastFeatures(model, sae, [], neutral), InvalidInputError);
  });

  test('featuresNearVector: a decoder row finds its own feature with cosine 1', async () => {
    const sae = randomSae({ kind: 'relu' }, 32, 4);
    const got = await featuresNearVector(sae, decoderRow(sae, 3), { top: 5, threads: 1 });
    assert.equal(got[0].feature, 3);
    assert.ok(close(got[0].cosine, 1, 1e-5));
    const v = decoderRow(sae, 3);
    for (const m of got) {
      const row = decoderRow(sae, m.feature);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += row[d] * v[d];
      assert.ok(close(m.cosine, dot / (Math.hypot(...row) * Math.hypot(...v)), 1e-5));
    }
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].cosine >= got[i].cosine);
    await assert.rejects(featuresNearVector(sae, new Float32Array(D - 1)), InvalidInputError);
    await assert.rejects(featuresNearVector(sae, new Float32Array(D)), InvalidInputError);
  });
});

describe('feature index', () => {
  const sae = randomSae({ kind: 'relu' }, 12, 5, { dead: 11 });
  let store: ActivationStore;
  let index: FeatureIndex;
  const all = { acts: [] as Float32Array[], tokens: [] as number[], doc: [] as number[], pos: [] as number[] };
  const progress: [number, number][] = [];

  before(async () => {
    const dir = join(tmp, 'store');
    await collectActivationStore(model, docsOf(TEXTS), { dir, point: POST, contextSize: 16, batchSize: 4, shardRows: 20 });
    store = ActivationStore.open(dir);
    for (let i = 0; i < store.shardCount; i++) {
      const s = store.readShard(i);
      for (let r = 0; r < s.rows; r++) all.acts.push(s.acts.slice(r * D, (r + 1) * D));
      all.tokens.push(...s.tokens);
      all.doc.push(...s.doc);
      all.pos.push(...s.pos);
    }
    index = await buildFeatureIndex(sae, store, {
      decode: (ids) => tokenStrings(model, ids),
      topContexts: 3,
      window: { left: 4, right: 2 },
      threads: 1,
      chunkRows: 7,
      onProgress: (done, total) => progress.push([done, total]),
    });
  });

  test('frequency, mean and max equal a direct computation over the rows', () => {
    assert.ok(store.shardCount >= 2, `${store.shardCount} shards`);
    assert.equal(index.rows, store.rows);
    assert.equal(index.features.length, 12);
    assert.deepEqual(progress.at(-1), [2 * store.rows, 2 * store.rows]);
    const z = all.acts.map((x) => jsEncode(sae, x));
    for (let f = 0; f < 12; f++) {
      const s = index.features[f];
      const vals = z.map((row) => row[f]).filter((v) => v > 0);
      assert.equal(s.feature, f);
      assert.equal(s.frequency, vals.length / store.rows, `feature ${f}`);
      if (vals.length === 0) continue;
      assert.ok(close(s.meanActivation, vals.reduce((a, b) => a + b, 0) / vals.length), `feature ${f} mean`);
      assert.ok(close(s.maxActivation, Math.max(...vals)), `feature ${f} max`);
      assert.equal(s.histogram.edges.length, 25);
      assert.equal(s.histogram.counts.reduce((a, b) => a + b, 0), vals.length);
      assert.ok(close(s.histogram.edges[24], s.maxActivation, 1e-6) && close(s.histogram.edges[0], s.maxActivation / 1000, 1e-6));
      assert.ok(s.histogram.counts[23] >= 1);
    }
    assert.ok(index.features.filter((s) => s.frequency > 0.05).length >= 8, 'most random features fire');
  });

  test('top contexts are the highest rows, with the right neighbours of the same document', () => {
    const z = all.acts.map((x) => jsEncode(sae, x));
    for (let f = 0; f < 11; f++) {
      const s = index.features[f];
      const best = [...z.keys()].filter((r) => z[r][f] > 0).sort((a, b) => z[b][f] - z[a][f]).slice(0, 3);
      assert.equal(s.contexts.length, best.length);
      s.contexts.forEach((c, k) => {
        const r = best[k];
        assert.ok(close(c.activation, z[r][f]), `feature ${f} context ${k}`);
        assert.deepEqual([c.doc, c.pos], [all.doc[r], all.pos[r]]);
        // BOS rows are not stored, so a document's positions are unique.
        const window = [...z.keys()].filter((q) => all.doc[q] === all.doc[r] && all.pos[q] >= all.pos[r] - 4 && all.pos[q] <= all.pos[r] + 2);
        assert.deepEqual(c.tokens, tokenStrings(model, window.map((q) => all.tokens[q])));
        assert.equal(window[c.focus], r);
        c.activations.forEach((a, i) => assert.ok(close(a, z[window[i]][f], 1e-3), `feature ${f} context ${k} token ${i}`));
      });
    }
  });

  test('a silent feature has frequency 0 and no contexts', () => {
    const s = index.features[11];
    assert.deepEqual(s, { feature: 11, frequency: 0, meanActivation: 0, maxActivation: 0, histogram: { edges: [], counts: [] }, contexts: [] });
  });

  test('maxRows limits the rows; a store of another hook is refused', async () => {
    const small = await buildFeatureIndex(sae, store, { decode: (ids) => tokenStrings(model, ids), maxRows: 10, topContexts: 1, threads: 1 });
    assert.equal(small.rows, 10);
    const z = all.acts.slice(0, 10).map((x) => jsEncode(sae, x));
    for (let f = 0; f < 12; f++) assert.equal(small.features[f].frequency, z.filter((row) => row[f] > 0).length / 10);
    const other: Sae = { ...sae, cfg: { ...sae.cfg, hook: { layer: 1, site: 'resid_post' } } };
    await assert.rejects(buildFeatureIndex(other, store, { decode: () => [] }), /blocks\.1\.hook_resid_post/);
  });

  test('windows skip other documents and take the nearest of repeated BOS positions', () => {
    // Document 0 stored with BOS rows: contexts [BOS a b c] [BOS d], then document 1.
    const doc = Int32Array.of(0, 0, 0, 0, 0, 0, 1, 1);
    const pos = Int32Array.of(0, 1, 2, 3, 0, 4, 0, 1);
    assert.deepEqual(windowRows(doc, pos, 5, 4, 2), [4, 1, 2, 3, 5]);
    assert.deepEqual(windowRows(doc, pos, 1, 1, 1), [0, 1, 2]);
    assert.deepEqual(windowRows(doc, pos, 6, 3, 3), [6, 7]);
  });

  test('save and load round-trip; malformed files give clear errors', () => {
    const path = join(tmp, 'index.json');
    saveFeatureIndex(path, index);
    assert.deepEqual(loadFeatureIndex(path), index);
    const bad = join(tmp, 'bad.json');
    const json = JSON.parse(fs.readFileSync(path, 'utf8'));
    json.features[2].frequency = 'often';
    fs.writeFileSync(bad, JSON.stringify(json));
    assert.throws(() => loadFeatureIndex(bad), (e: Error) => e instanceof ModelFileError && e.message.includes(bad) && e.message.includes('features.2.frequency'));
    json.features[2].frequency = 0.5;
    json.features[3].contexts[0].focus = 99;
    fs.writeFileSync(bad, JSON.stringify(json));
    assert.throws(() => loadFeatureIndex(bad), /features\.3\.contexts\.0\.focus 99 is outside/);
    json.features.pop();
    fs.writeFileSync(bad, JSON.stringify(json));
    assert.throws(() => loadFeatureIndex(bad), /holds 11 features but the SAE has 12/);
    fs.writeFileSync(bad, '{"format": "steerer.feature-index/v1", ');
    assert.throws(() => loadFeatureIndex(bad), /not valid JSON/);
    assert.throws(() => loadFeatureIndex(join(tmp, 'missing.json')), ModelFileError);
  });

  test('feature cards: text marks the focus and shows the stats; HTML escapes tokens', async () => {
    const f = index.features.slice(0, 11).reduce((a, b) => (b.frequency > a.frequency ? b : a)).feature;
    const card = await featureCard(model, sae, index, f, { top: 4, label: 'busy' });
    assert.equal(card.promoted.length, 4);
    const text = renderFeatureCardText(card);
    const s = card.summary;
    assert.match(text, new RegExp(`^Feature ${f} — busy\n`));
    assert.ok(text.includes(`fires on ${(s.frequency * 100).toFixed(2)}% of tokens`), text);
    assert.ok(text.includes(`max ${s.maxActivation.toPrecision(4)}`) && text.includes(`mean ${s.meanActivation.toPrecision(4)}`), text);
    assert.equal(text.split('\n').filter((l) => l.includes('«') && l.includes('»')).length, s.contexts.length);
    const focusToken = s.contexts[0].tokens[s.contexts[0].focus];
    assert.ok(text.includes(`«${focusToken}»`), text);
    assert.ok(text.includes('Promoted: ') && text.includes('Suppressed: '));
    for (const line of text.split('\n')) assert.ok(Array.from(line).length <= 100, `too wide: ${line}`);
    const dead = renderFeatureCardText(await featureCard(model, sae, index, 11));
    assert.match(dead, /Never fired/);

    const evil: FeatureCard = {
      ...card,
      label: '<b>bold</b>',
      summary: { ...s, contexts: [{ activation: 2, tokens: ['a', '<script>alert(1)</script>', '"&'], activations: [0, 2, 1], focus: 1, doc: 0, pos: 1 }] },
      promoted: [{ id: 1, token: '</li><script>', weight: 1 }],
    };
    const html = renderFeatureCardsHtml([card, evil], 'Features <of> "test"');
    assert.ok(!html.includes('<script') && !html.includes('<b>bold'), 'unescaped markup');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;') && html.includes('&lt;of&gt;'));
    assert.ok(html.includes('<svg') && html.includes('rgba(232,119,46,'));
    assert.ok(!/\b(src|href)=/.test(html), 'no external assets');
    await assert.rejects(featureCard(model, randomSae({ kind: 'relu' }, 8, 6), index, 0), /feature index is for an SAE/);
  });
});
