import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { ActivationIndex, buildActivationIndex } from '../src/explore/activation-index.js';
import { exactSearch, INDEX_METRICS, type IndexMetric } from '../src/explore/exact-search.js';
import { searchIndex } from '../src/explore/index-search.js';
import { matrixRows } from '../src/explore/row-source.js';
import { ModelFileError } from '../src/io/errors.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';
import { ActivationStore } from '../src/sae/activation-store.js';
import { saveSae } from '../src/sae/sae-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { rng } from './helpers/prng.js';
import { tempDir } from './helpers/random-model.js';
import { losslessSae } from './helpers/sae.js';
import { skipUnlessShared } from './helpers/shared.js';
import { writeHandStore } from './helpers/hand-store.js';

const MODEL = sharedPath('models', 'tinystories-656k');

function temp(t: TestContext, prefix: string): string {
  const dir = tempDir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Clustered random rows with a shared offset (like residual activations' mean), [rows, dim]. */
function randomRows(rows: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: 40 }, () => Float32Array.from({ length: dim }, () => 2 * gauss()));
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const c = centres[Math.floor(r() * centres.length)];
    for (let j = 0; j < dim; j++) out[i * dim + j] = 3 + c[j] + gauss();
  }
  return out;
}

const decode = (ids: number[]): string[] => ids.map((id) => ` t${id}`);

/** Score of row x for query q by `metric`, in float64 (x already centred when the index is). */
function score(metric: IndexMetric, q: ArrayLike<number>, x: ArrayLike<number>): number {
  let dot = 0;
  let qq = 0;
  let xx = 0;
  let l2 = 0;
  let l1 = 0;
  for (let j = 0; j < q.length; j++) {
    dot += q[j] * x[j];
    qq += q[j] ** 2;
    xx += x[j] ** 2;
    l2 += (q[j] - x[j]) ** 2;
    l1 += Math.abs(q[j] - x[j]);
  }
  return { cosine: dot / Math.sqrt(qq * xx), ip: dot, l2: Math.sqrt(l2), l1 }[metric];
}

/** Hand-computed brute force: every row scored, sorted (ties: lower row first). */
function bruteForce(data: Float32Array, dim: number, q: Float32Array, metric: IndexMetric, k: number, farthest = false, center?: Float32Array): { rows: number[]; scores: number[] } {
  const n = data.length / dim;
  const higher = (metric === 'cosine' || metric === 'ip') !== farthest;
  const all = Array.from({ length: n }, (_, r) => {
    const x = Array.from(data.subarray(r * dim, (r + 1) * dim), (v, j) => v - (center?.[j] ?? 0));
    return { r, s: score(metric, q, x) };
  }).sort((a, b) => (higher ? b.s - a.s : a.s - b.s) || a.r - b.r);
  return { rows: all.slice(0, k).map((e) => e.r), scores: all.slice(0, k).map((e) => e.s) };
}

function meanOf(data: Float32Array, dim: number): Float32Array {
  const m = new Float64Array(dim);
  for (let i = 0; i < data.length; i++) m[i % dim] += data[i];
  return Float32Array.from(m, (v) => v / (data.length / dim));
}

describe('exact search (ORT)', () => {
  const D = 24;
  const data = randomRows(700, D, 1);
  const queries = randomRows(3, D, 2);
  for (const metric of INDEX_METRICS) {
    for (const farthest of [false, true]) {
      test(`${metric}${farthest ? ', farthest' : ''}: equals a hand-computed brute force, over several chunks`, async () => {
        const center = meanOf(data, D);
        for (const c of [undefined, center]) {
          // 64-row chunks: the winners of 11 chunks are merged.
          const got = await exactSearch(matrixRows(data, D), queries, { metric, k: 7, farthest, center: c, threads: 1, chunkRows: 64 });
          for (let i = 0; i < 3; i++) {
            const want = bruteForce(data, D, queries.subarray(i * D, (i + 1) * D), metric, 7, farthest, c);
            assert.deepEqual(Array.from(got.rows.subarray(i * 7, (i + 1) * 7)), want.rows, `${metric} query ${i}`);
            want.scores.forEach((s, j) => assert.ok(Math.abs(got.scores[i * 7 + j] - s) <= 1e-4 * Math.max(1, Math.abs(s)), `${metric} score ${got.scores[i * 7 + j]} vs ${s}`));
          }
        }
      });
    }
  }

  test('k larger than the rows pads with −1; bad queries are refused', async () => {
    const got = await exactSearch(matrixRows(data.subarray(0, 5 * D), D), queries.subarray(0, D), { metric: 'l2', k: 8, threads: 1 });
    assert.deepEqual(Array.from(got.rows.subarray(5)), [-1, -1, -1]);
    await assert.rejects(exactSearch(matrixRows(data, D), new Float32Array(D), { metric: 'cosine', k: 3 }), /all zeros/);
    await assert.rejects(exactSearch(matrixRows(data, D), new Float32Array(D + 1), { metric: 'ip', k: 3 }), /whole number/);
  });
});

describe('activation index', () => {
  const D = 32;
  const data = randomRows(4000, D, 3);
  const held = randomRows(40, D, 4);

  test('graph recall@10 ≥ 0.95 against exact search, for cosine, ip and l2', async (t) => {
    const store = writeHandStore(path.join(temp(t, 'idx'), 'store'), data, D, { shardRows: 1500 });
    for (const metric of ['cosine', 'ip', 'l2'] as const) {
      const dir = path.join(path.dirname(store.dir), `idx-${metric}`);
      const index = await buildActivationIndex(store, dir, { decode, metric, threads: 2 });
      const ann = await index.searchVectors(held, 10, { threads: 1 });
      const exact = await index.searchVectors(held, 10, { exact: true, threads: 1 });
      let hits = 0;
      for (let q = 0; q < 40; q++) {
        const truth = new Set(exact.rows.subarray(q * 10, (q + 1) * 10));
        for (const r of ann.rows.subarray(q * 10, (q + 1) * 10)) if (truth.has(r)) hits++;
      }
      assert.ok(hits / 400 >= 0.95, `${metric}: recall ${hits / 400}`);
    }
  });

  test('save / open round trip: rows, contexts, searches and the mean survive; nothing temporary is left', async (t) => {
    const dir = temp(t, 'idx');
    const store = writeHandStore(path.join(dir, 'store'), data.subarray(0, 600 * D), D, { shardRows: 250 });
    const built = await buildActivationIndex(store, path.join(dir, 'idx'), { decode, threads: 1 });
    const before = await built.searchVectors(held.subarray(0, 2 * D), 5);
    const index = ActivationIndex.open(path.join(dir, 'idx'));
    assert.deepEqual(index.manifest, built.manifest);
    assert.equal(index.size, 600);
    assert.equal(index.manifest.store, '../store');
    const shard1 = store.readShard(1);
    assert.equal(index.rows.doc[250 + 7], shard1.doc[7]);
    assert.equal(index.rows.pos[250 + 7], shard1.pos[7]);
    assert.equal(index.rows.token[250 + 7], shard1.tokens[7]);
    const mean = meanOf(data.subarray(0, 600 * D), D);
    index.rows.mean.forEach((v, j) => assert.ok(Math.abs(v - mean[j]) < 1e-4));
    const after = await index.searchVectors(held.subarray(0, 2 * D), 5);
    assert.deepEqual(after, before);
    // searchIndex: row metadata and a same-document window with the match marked.
    const r = await searchIndex(index, held.subarray(0, D), 3, { kind: 'point', window: 3 });
    assert.equal(r.hits.length, 3);
    for (const h of r.hits) {
      assert.equal(h.token, ` t${index.rows.token[h.row]}`);
      assert.equal(h.context.tokens[h.context.focus], h.token);
      const docRows = [...Array(600).keys()].filter((q) => index.rows.doc[q] === h.doc && Math.abs(index.rows.pos[q] - h.pos) <= 3);
      assert.deepEqual(h.context.tokens, docRows.map((q) => ` t${index.rows.token[q]}`));
    }
    assert.deepEqual(fs.readdirSync(path.join(dir, 'idx')).sort(), ['index.usearch', 'manifest.json', 'rows.safetensors']);
  });

  test('a point query is centred, a direction is not; farthest = nearest to −q; rerank gives exact scores', async (t) => {
    const dir = temp(t, 'idx');
    const store = writeHandStore(path.join(dir, 'store'), data.subarray(0, 800 * D), D, { shardRows: 800 });
    const index = await buildActivationIndex(store, path.join(dir, 'idx'), { decode, threads: 1 });
    const mean = meanOf(data.subarray(0, 800 * D), D);
    const q = held.subarray(0, D);
    const centredQ = q.map((v, j) => v - mean[j]);
    const rows = data.subarray(0, 800 * D);
    const point = await searchIndex(index, q, 5, { kind: 'point', exact: true });
    assert.deepEqual(point.hits.map((h) => h.row), bruteForce(rows, D, centredQ, 'cosine', 5, false, mean).rows);
    const dir5 = await searchIndex(index, q, 5, { kind: 'direction', exact: true });
    assert.deepEqual(dir5.hits.map((h) => h.row), bruteForce(rows, D, q, 'cosine', 5, false, mean).rows);
    const far = await searchIndex(index, q, 5, { farthest: true, rerank: 4 });
    const want = bruteForce(rows, D, q, 'cosine', 5, true, mean);
    assert.deepEqual(far.hits.map((h) => h.row), want.rows);
    far.hits.forEach((h, i) => assert.ok(Math.abs(h.score - want.scores[i]) < 1e-4));
    assert.ok(far.hits[0].score < 0);
  });

  test('an L1 index has no graph and searches the store exactly', async (t) => {
    const dir = temp(t, 'idx');
    const store = writeHandStore(path.join(dir, 'store'), data.subarray(0, 300 * D), D, { shardRows: 300 });
    const index = await buildActivationIndex(store, path.join(dir, 'idx'), { decode, metric: 'l1', center: false, threads: 1 });
    assert.equal(index.manifest.files.graph, undefined);
    const got = await index.searchVectors(held.subarray(0, D), 4);
    assert.deepEqual(Array.from(got.rows), bruteForce(data.subarray(0, 300 * D), D, held.subarray(0, D), 'l1', 4).rows);
  });

  test('truncated, corrupt, mismatched or missing files are clear errors; a failed build writes nothing', async (t) => {
    const dir = temp(t, 'idx');
    const store = writeHandStore(path.join(dir, 'store'), data.subarray(0, 500 * D), D, { shardRows: 500 });
    const idx = path.join(dir, 'idx');
    await buildActivationIndex(store, idx, { decode, threads: 1 });
    const graph = path.join(idx, 'index.usearch');
    const rowsFile = path.join(idx, 'rows.safetensors');
    const keep = (f: string): Buffer => fs.readFileSync(f);
    const [g, r, m] = [keep(graph), keep(rowsFile), keep(path.join(idx, 'manifest.json'))];
    const restore = (): void => {
      fs.writeFileSync(graph, g);
      fs.writeFileSync(rowsFile, r);
      fs.writeFileSync(path.join(idx, 'manifest.json'), m);
    };
    fs.writeFileSync(graph, g.subarray(0, g.length - 100));
    assert.throws(() => ActivationIndex.open(idx), (e: unknown) => e instanceof ModelFileError && /truncated: .* rebuild it/.test(e.message));
    restore();
    const flipped = Buffer.from(g);
    flipped[flipped.length >> 1] ^= 0xff;
    fs.writeFileSync(graph, flipped);
    assert.throws(() => ActivationIndex.open(idx), /do not match the manifest's SHA-256/);
    restore();
    fs.writeFileSync(rowsFile, r.subarray(0, 40));
    assert.throws(() => ActivationIndex.open(idx), /rows\.safetensors: truncated/);
    restore();
    fs.writeFileSync(path.join(idx, 'manifest.json'), '{"format": "steerer.activation-index/v1", "rows": -1}');
    assert.throws(() => ActivationIndex.open(idx), /not an activation index manifest/);
    restore();
    // A rows file from another build of the same size: told apart by the build id, before hashing.
    const other = path.join(dir, 'other');
    await buildActivationIndex(store, other, { decode, threads: 1 });
    fs.copyFileSync(path.join(other, 'rows.safetensors'), rowsFile);
    assert.throws(() => ActivationIndex.open(idx, { verify: false }), /another build/);
    restore();
    assert.throws(() => ActivationIndex.open(store.dir), /not an activation index/);
    assert.ok(ActivationIndex.open(idx).size === 500);

    const failed = path.join(dir, 'failed');
    await assert.rejects(buildActivationIndex(store, failed, { decode: () => { throw new Error('no tokenizer'); }, threads: 1 }), /no tokenizer/);
    assert.ok(!fs.existsSync(failed) || fs.readdirSync(failed).length === 0, 'a failed build leaves no files');
    // The store gone: graph searches still work, exact ones say why they cannot.
    fs.renameSync(store.dir, `${store.dir}.moved`);
    const index = ActivationIndex.open(idx);
    assert.equal((await index.searchVectors(held.subarray(0, D), 3)).rows.length, 3);
    await assert.rejects(index.searchVectors(held.subarray(0, D), 3, { exact: true }), /activation store .* cannot be opened/);
  });
});

describe('steerer index (CLI, tinystories-656k)', { skip: skipUnlessShared(MODEL) }, () => {
  test('build from a corpus, then search by --vector, --feature and --text; info; JSON and HTML', (t) => {
    const tmp = temp(t, 'index-cli');
    const names = ['Lily', 'Tom', 'Ben', 'Sue', 'Mia', 'Max', 'Zoe', 'Sam'];
    const stories = names.flatMap((n) => [
      `${n} had a red ball. ${n} played with the ball in the park every day. One day the ball rolled away and ${n} was sad.`,
      `Once upon a time, ${n} found a shiny box. Inside the box was a tiny bird. The bird sang a happy song.`,
    ]);
    fs.writeFileSync(path.join(tmp, 'corpus.jsonl'), `${stories.map((text) => JSON.stringify({ text })).join('\n')}\n`);
    const steerer = steererSyncIn(tmp);

    const built = steerer('index', 'build', '-m', MODEL, '--corpus', 'corpus.jsonl', '--hook', 'blocks.1.hook_resid_post', '-o', 'idx', '--context', '32', '-t', '1', '--json');
    assert.equal(built.status, 0, built.stderr);
    const summary = JSON.parse(built.stdout) as { rows: number; metric: string; centered: boolean };
    const store = ActivationStore.open(path.join(tmp, 'idx', 'store'));
    assert.equal(summary.rows, store.rows);
    assert.equal(summary.metric, 'cosine');
    assert.ok(summary.centered);

    // --feature: a lossless SAE's feature 5 decodes to the unit axis e5; the reference is computed here.
    saveSae(path.join(tmp, 'axes.safetensors'), losslessSae(128, { layer: 1, site: 'resid_post' }));
    const feat = steerer('index', 'search', 'idx', '--feature', 'axes.safetensors:5', '--top', '4', '--exact', '--json');
    assert.equal(feat.status, 0, feat.stderr);
    const fr = JSON.parse(feat.stdout) as { metric: string; kind: string; exact: boolean; farthest: boolean; query: string; hits: { rank: number; row: number; score: number; doc: number; pos: number; token: string; tokenId: number; context: { tokens: string[]; focus: number } }[] };
    assert.deepEqual(Object.keys(fr).sort(), ['exact', 'farthest', 'hits', 'index', 'kind', 'metric', 'query']);
    assert.deepEqual(Object.keys(fr.hits[0]).sort(), ['context', 'doc', 'pos', 'rank', 'row', 'score', 'token', 'tokenId']);
    assert.equal(fr.kind, 'direction');
    const all = store.readShard(0);
    const mean = meanOf(all.acts, 128);
    const e5 = Float32Array.from({ length: 128 }, (_, j) => (j === 5 ? 1 : 0));
    const want = bruteForce(all.acts, 128, e5, 'cosine', 4, false, mean);
    assert.deepEqual(fr.hits.map((h) => h.row), want.rows);
    fr.hits.forEach((h, i) => {
      assert.ok(Math.abs(h.score - want.scores[i]) < 1e-4);
      assert.equal(h.doc, all.doc[h.row]);
      assert.equal(h.tokenId, all.tokens[h.row]);
      assert.equal(h.context.tokens[h.context.focus], h.token);
    });
    // The graph finds the same rows on so small an index.
    const featAnn = JSON.parse(steerer('index', 'search', 'idx', '--feature', 'axes.safetensors:5', '--top', '4', '--json').stdout) as typeof fr;
    assert.deepEqual(featAnn.hits.map((h) => h.row), want.rows);

    // --vector: a plain safetensors direction at layer 1; --farthest is the nearest to its negation.
    writeSafetensors(path.join(tmp, 'v.safetensors'), { 'direction.1': { shape: [128], data: e5 } });
    const far = JSON.parse(steerer('index', 'search', 'idx', '--vector', 'v.safetensors', '--farthest', '--top', '4', '--json', '--html', 'far.html').stdout) as typeof fr;
    assert.deepEqual(far.hits.map((h) => h.row), bruteForce(all.acts, 128, e5, 'cosine', 4, true, mean).rows);
    const html = fs.readFileSync(path.join(tmp, 'far.html'), 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.equal(html.match(/class="t focus"/g)?.length, 4);
    const wrongLayer = steerer('index', 'search', 'idx', '--vector', 'v.safetensors', '--layer', '0');
    assert.equal(wrongLayer.status, 1);
    assert.match(wrongLayer.stderr, /no direction for layer 0/);

    // --text: story 2 ("Tom had a red ball. …") at token 3 ("had a ", after BOS, "Tom", " ")
    // was stored with the same tokens before it, so that row is the text's activation exactly.
    const text = 'Tom had a red ball. Tom played';
    const found = steerer('index', 'search', 'idx', '--text', text, '--positions', '3', '-m', MODEL, '--top', '3', '--json');
    assert.equal(found.status, 0, found.stderr);
    const top = (JSON.parse(found.stdout) as typeof fr).hits[0];
    assert.equal(top.doc, 2);
    assert.equal(top.pos, 3);
    assert.ok(top.score > 0.9999, `cosine ${top.score}`);
    const plain = steerer('index', 'search', 'idx', '--text', text, '--positions', '3', '-m', MODEL, '--top', '3');
    assert.match(plain.stdout, /Tom «had a »red ball/);
    const noModel = steerer('index', 'search', 'idx', '--text', text);
    assert.match(noModel.stderr, /--text needs --model/);

    const info = steerer('index', 'info', 'idx');
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, new RegExp(`${store.rows} rows of blocks\\.1\\.hook_resid_post`));
    assert.match(info.stdout, /SHA-256 verified/);
  });
});
