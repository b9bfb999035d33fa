/**
 * What a vector means: library similarity, passages along a direction (against a plain JS
 * reference), `vector info --explain` end to end, and the server's explain route.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildActivationIndex } from '../src/explore/activation-index.js';
import { passagesAlong } from '../src/explore/passages.js';
import { HookedModel } from '../src/runtime/model.js';
import { loadModel } from '../src/model/load.js';
import { similarVectors } from '../src/steering/similar-vectors.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { saveVector } from '../src/steering/vector-file.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { writeHandStore } from './helpers/hand-store.js';
import { rng } from './helpers/prng.js';
import { tempDir } from './helpers/random-model.js';
import { getJson, startServer, TINY } from './helpers/server.js';
import { skipUnlessShared } from './helpers/shared.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const temp = (prefix: string): string => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};

const TINY_ID = { name: 'tinystories-656k', architecture: 'LlamaForCausalLM', hiddenSize: 128, numLayers: 2 };

function vectorOf(directions: Record<number, number[] | Float32Array>, model: { name: string; architecture: string; hiddenSize: number; numLayers: number }): SteeringVector {
  return {
    directions: new Map(Object.entries(directions).map(([l, d]) => [Number(l), Float32Array.from(d)])),
    meta: { format: 'steerer.vector/v1', model, method: 'diffmean', site: 'resid_post', readPosition: 'mean', createdAt: '2026-01-01T00:00:00.000Z' },
  };
}

function gaussians(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

describe('vectors like this one', () => {
  test('ranks a library by the mean cosine over shared layers, lists opposites, says why others are skipped', () => {
    const id = { name: 'm', architecture: 'llama', hiddenSize: 3, numLayers: 4 };
    const target = vectorOf({ 0: [1, 0, 0], 1: [0, 1, 0] }, id);
    const library = [
      { name: 'self', vector: target },
      // layer 0: cos 1/√2, layer 1: cos 1 → mean (1/√2 + 1) / 2
      { name: 'close', vector: vectorOf({ 0: [1, 1, 0], 1: [0, 2, 0] }, id) },
      // layer 0 only: cos −1
      { name: 'opposite', vector: vectorOf({ 0: [-3, 0, 0] }, id) },
      // layer 1 only: cos 0
      { name: 'orthogonal', vector: vectorOf({ 1: [0, 0, 5] }, id) },
      { name: 'elsewhere', vector: vectorOf({ 3: [1, 0, 0] }, id) },
      { name: 'other-model', vector: vectorOf({ 0: [1, 0, 0] }, { ...id, name: 'other', numLayers: 8 }) },
    ];
    const r = similarVectors({ name: 'self', vector: target }, library, 2);
    assert.deepEqual(r.similar.map((v) => v.name), ['close', 'orthogonal']);
    assert.ok(Math.abs(r.similar[0].cosine - (Math.SQRT1_2 + 1) / 2) < 1e-6);
    assert.deepEqual(r.similar[0].layers.map((l) => l.layer), [0, 1]);
    assert.deepEqual(r.opposite.map((v) => [v.name, v.cosine]), [['opposite', -1]]);
    assert.deepEqual(r.skipped.map((s) => s.name).sort(), ['elsewhere', 'other-model']);
    assert.match(r.skipped.find((s) => s.name === 'elsewhere')!.reason, /no layer in common/);
  });
});

describe('passages along a direction', () => {
  test('equal a plain JS reference: mean centred projection over spans inside one document, best non-overlapping first', async () => {
    const dim = 8;
    const rows = 700; // 14 documents of 50 rows
    const data = gaussians(rows * dim, 3);
    // A few planted runs along the direction, one crossing a document boundary (rows 95..104).
    const u = Float32Array.from({ length: dim }, (_, j) => (j === 2 ? 1 : j === 5 ? -1 : 0));
    for (const [from, len, k] of [[10, 6, 3], [95, 10, 4], [400, 4, -5]] as const) {
      for (let r = from; r < from + len; r++) for (let j = 0; j < dim; j++) data[r * dim + j] += k * u[j];
    }
    const dir = temp('steerer-passages-');
    const store = writeHandStore(path.join(dir, 'store'), data, dim, { shardRows: 300 });
    const index = await buildActivationIndex(store, path.join(dir, 'idx'), { decode: (ids) => ids.map((id) => ` t${id}`), threads: 1 });
    const span = 5;
    const k = 4;
    const got = await passagesAlong(index, Float32Array.from(u, (x) => 3 * x), { span, k, window: 2, threads: 1 });

    // Reference: rows minus their mean, projected on the unit direction, averaged over spans.
    const mean = new Float64Array(dim);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) mean[j] += data[r * dim + j] / rows;
    const unit = Array.from(u, (x) => x / Math.SQRT2);
    const proj = Array.from({ length: rows }, (_, r) => unit.reduce((s, x, j) => s + x * (data[r * dim + j] - mean[j]), 0));
    const spans: { doc: number; first: number; score: number }[] = [];
    for (let first = 0; first + span <= rows; first++) {
      const doc = Math.floor(first / 50);
      if (Math.floor((first + span - 1) / 50) !== doc) continue; // a span never crosses documents
      spans.push({ doc, first, score: proj.slice(first, first + span).reduce((a, b) => a + b, 0) / span });
    }
    const pick = (sorted: typeof spans): typeof spans => {
      const out: typeof spans = [];
      for (const s of sorted) if (out.length < k && !out.some((o) => o.doc === s.doc && Math.abs(o.first - s.first) < span)) out.push(s);
      return out;
    };
    const high = pick([...spans].sort((a, b) => b.score - a.score || a.first - b.first));
    const low = pick([...spans].sort((a, b) => a.score - b.score || b.first - a.first));
    for (const [name, mine, ref] of [['highest', got.highest, high], ['lowest', got.lowest, low]] as const) {
      assert.deepEqual(mine.map((p) => [p.doc, p.from, p.to]), ref.map((s) => [s.doc, (s.first % 50) + 1, (s.first % 50) + span]), name);
      mine.forEach((p, i) => assert.ok(Math.abs(p.score - ref[i].score) < 1e-4, `${name} ${i}: ${p.score} vs ${ref[i].score}`));
      for (const p of mine) assert.equal(p.end - p.start, span);
    }
    // The planted runs are found: the one across rows 95..104 as two passages, each inside its own
    // document (positions 46..50 of document 1, 1..5 of document 2), then rows 10..15 of document 0;
    // rows 400..403 (document 8) read lowest.
    const where = got.highest.map((p) => [p.doc, p.from, p.to]);
    assert.deepEqual(where.slice(0, 2).sort(), [[1, 46, 50], [2, 1, 5]]);
    assert.equal(where[2][0], 0);
    assert.ok(where[2][1] >= 11 && where[2][2] <= 16, JSON.stringify(where[2]));
    assert.equal(got.lowest[0].doc, 8);
    // Context: up to 2 tokens each side, the passage's tokens in the middle.
    const p0 = got.highest[0];
    assert.equal(p0.tokens.length, p0.end + (p0.tokens.length - p0.end));
    assert.ok(p0.start <= 2 && p0.tokens.length - p0.end <= 2);
    await assert.rejects(passagesAlong(index, new Float32Array(dim), { span }), /zero/);
    await assert.rejects(passagesAlong(index, u, { span: 0 }), /span must be an integer/);
    await assert.rejects(passagesAlong(index, new Float32Array(dim + 1).fill(1)), /8/);
  });
});

describe('vector info --explain', { skip: skipUnlessShared() }, () => {
  test('logit lens per layer (against a JS reference), passages from an index, similar vectors, clear refusals', async (t) => {
    const dir = temp('steerer-explain-');
    const D = 128;
    const r = gaussians(4 * D, 7);
    const sad = vectorOf({ 0: r.subarray(0, D), 1: r.subarray(D, 2 * D) }, TINY_ID);
    const like = vectorOf({ 1: Float32Array.from(r.subarray(D, 2 * D), (x, j) => x + 0.1 * r[2 * D + j]) }, TINY_ID);
    saveVector(path.join(dir, 'sad.safetensors'), sad);
    saveVector(path.join(dir, 'like.safetensors'), like);
    saveVector(path.join(dir, 'other.safetensors'), vectorOf({ 1: r.subarray(3 * D) }, { ...TINY_ID, name: 'stories260k' }));
    const store = writeHandStore(path.join(dir, 'store'), gaussians(300 * D, 9), D, { model: { name: 'tinystories-656k', hiddenSize: D, numLayers: 2 }, docRows: 60, token: (row) => 300 + (row % 50) });
    const model = new HookedModel(loadModel(TINY), { threads: 1 });
    t.after(() => model.dispose());
    await buildActivationIndex(store, path.join(dir, 'idx'), { decode: (ids) => ids.map((id) => model.tokenizer.decode([id])), threads: 1 });

    const steerer = steererSyncIn(dir);
    const res = steerer('vector', 'info', 'sad.safetensors', '--explain', '-m', TINY, '--index', 'idx', '--library', '.', '--top', '3', '--json', '--html', 'explain.html', '-t', '1');
    assert.equal(res.status, 0, res.stderr);
    const e = (JSON.parse(res.stdout) as { explanation: { logits: { layer: number; promoted: { id: number }[]; suppressed: { id: number }[] }[]; contexts: { span: number; highest: unknown[]; lowest: unknown[] }; similar: { similar: { name: string }[]; skipped: { name: string }[] } } }).explanation;

    // (v ⊙ g) · W_U in plain JS: the top promoted and suppressed token of each layer.
    const W = model.denseWeight('output.weight')!;
    const g = model.weights.get('output_norm.weight')!.data;
    const V = W.shape[1];
    for (const [i, layer] of [0, 1].entries()) {
      const v = sad.directions.get(layer)!;
      const w = new Float64Array(V);
      for (let d = 0; d < D; d++) for (let tok = 0; tok < V; tok++) w[tok] += v[d] * g[d] * W.data[d * V + tok];
      const order = [...w.keys()].sort((a, b) => w[b] - w[a]);
      assert.equal(e.logits[i].layer, layer);
      assert.deepEqual(e.logits[i].promoted.map((x) => x.id), order.slice(0, 3), `layer ${layer} promoted`);
      assert.deepEqual(e.logits[i].suppressed.map((x) => x.id), order.slice(-3).reverse(), `layer ${layer} suppressed`);
    }
    assert.equal(e.contexts.span, 16, 'a vector read as a mean is explained by passages');
    assert.equal(e.contexts.highest.length, 3);
    assert.deepEqual(e.similar.similar.map((v) => v.name), ['like.safetensors']);
    assert.deepEqual(e.similar.skipped.map((v) => v.name), ['other.safetensors']);
    assert.match(fs.readFileSync(path.join(dir, 'explain.html'), 'utf8'), /Tokens it promotes and suppresses[\s\S]*Passages of 16 tokens reading highest/);

    const text = steerer('vector', 'info', 'sad.safetensors', '--explain', '-m', TINY, '--top', '2', '-t', '1');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /logit lens[\s\S]*layer 1  \+[\s\S]*contexts: none \(no activation index given\)/);

    const refusals: [string[], RegExp][] = [
      [['--index', 'idx'], /--index goes with --explain/],
      [['--explain'], /--explain needs the model/],
      [['--explain', '-m', TINY, '--top', '0'], /--top must be an integer >= 1/],
    ];
    for (const [args, message] of refusals) {
      const bad = steerer('vector', 'info', 'sad.safetensors', ...args);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, message);
    }
    const other = steerer('vector', 'info', 'other.safetensors', '--explain', '-m', TINY, '-t', '1');
    assert.equal(other.status, 1);
    assert.match(other.stderr, /made on stories260k/);
  });
});

describe('GET /v1/vectors/:name/explain', { skip: skipUnlessShared() }, () => {
  test('explains a registry vector with an index from the data directory and the registry as library', async (t) => {
    const server = await startServer();
    t.after(() => server.close());
    const D = 128;
    const r = gaussians(3 * D, 11);
    const upload = async (name: string, directions: Record<string, number[]>): Promise<void> => {
      const res = await fetch(`${server.url}/v1/vectors`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, directions }) });
      assert.equal(res.status, 201, await res.text());
    };
    await upload('mood', { 1: Array.from(r.subarray(0, D)) });
    await upload('anti', { 1: Array.from(r.subarray(0, D), (x) => -x) });
    interface Explained {
      index?: string;
      logits: unknown[];
      contexts?: { highest: unknown[] };
      contextsSkipped?: string;
      similar: { opposite: { name: string; cosine: number }[] };
    }
    const res = await getJson<Explained>(`${server.url}/v1/vectors/mood/explain`);
    assert.equal(res.status, 200);
    const body = res.json;
    assert.equal(body.logits.length, 1);
    assert.equal(body.contextsSkipped, 'no activation index given');
    assert.deepEqual(body.similar.opposite.map((v) => [v.name, Math.round(v.cosine * 1000) / 1000]), [['anti', -1]]);

    // An index in DATA_DIR/indexes is found by itself.
    const store = writeHandStore(path.join(server.dataDir, 'indexes', 'stories', 'store'), gaussians(200 * D, 5), D, { model: { name: 'tinystories-656k', hiddenSize: D, numLayers: 2 } });
    await buildActivationIndex(store, path.join(server.dataDir, 'indexes', 'stories'), { decode: (ids) => ids.map((id) => `t${id}`), threads: 1 });
    const list = await getJson<{ data: { name: string; rows: number }[] }>(`${server.url}/v1/indexes`);
    assert.deepEqual(list.json.data.map((x) => [x.name, x.rows]), [['stories', 200]]);
    const withIndex = (await getJson<Explained>(`${server.url}/v1/vectors/mood/explain?top=2`)).json;
    assert.equal(withIndex.index, 'stories');
    assert.equal(withIndex.contexts?.highest.length, 2);

    for (const [url, status] of [['/v1/vectors/nope/explain', 404], ['/v1/vectors/mood/explain?index=missing', 400], ['/v1/vectors/mood/explain?top=1000', 400], ['/v1/vectors/mood/explain?index=..%2Fx', 400]] as const) {
      const bad = await getJson(`${server.url}${url}`);
      assert.equal(bad.status, status, `${url}: ${JSON.stringify(bad.json)}`);
    }
  });
});
