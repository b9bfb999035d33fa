import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hookName, type HookPoint } from '../src/graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { ActivationStore, estimateNorm } from '../src/sae/activation-store.js';
import type { StoreManifest } from '../src/sae/activation-store-manifest.js';
import { collectActivationStore } from '../src/sae/activation-store-writer.js';
import { liveActivationBatches } from '../src/sae/live-activations.js';
import { generateCorpus, readCorpus, type CorpusDocument } from '../src/sae/corpus.js';
import { sharedPath } from '../src/util/shared-path.js';

let model: HookedModel;
let tmp: string;
const D = 128;
const point: HookPoint = { layer: 1, site: 'resid_mid' };

// Short and long documents: the long ones span several 16-token contexts.
const TEXTS = [
  'Once upon a time, there was a little girl named Lily.',
  'The cat sat on the mat.',
  'Tom had a big red ball. He liked to play with it in the park every day with his friends, and his dog ran after it.',
  'Sue was sad.',
  'One day, a bird flew over the tall tree and saw a small boy who was crying because he had lost his toy boat.',
  'The sun was hot, so they went to the lake to swim.',
];

before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  tmp = fs.mkdtempSync(join(os.tmpdir(), 'steerer-acts-'));
});
after(async () => {
  await model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
const fresh = (name = 'case'): string => join(tmp, `${name}${counter++}`);

async function* docsOf(texts: readonly string[]): AsyncGenerator<CorpusDocument> {
  for (let i = 0; i < texts.length; i++) yield { index: i, text: texts[i] };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Within 1e-5 of the row's scale: some dims of this model reach ~300, where one float32
 * step is 3e-5, and batching with padding changes the rounding.
 */
function assertRowClose(got: Float32Array, want: Float32Array, what: string): void {
  const tol = 1e-5 * Math.max(1, ...want.map(Math.abs));
  for (let d = 0; d < want.length; d++) assert.ok(Math.abs(got[d] - want[d]) <= tol, `${what} dim ${d}: ${got[d]} vs ${want[d]}`);
}

/** Every stored row in order, concatenated over shards. */
function allRows(store: ActivationStore): { acts: Float32Array; tokens: number[]; doc: number[]; pos: number[] } {
  const acts = new Float32Array(store.rows * store.dim);
  const tokens: number[] = [];
  const doc: number[] = [];
  const pos: number[] = [];
  let r = 0;
  for (let i = 0; i < store.manifest.shards.length; i++) {
    const s = store.readShard(i);
    acts.set(s.acts, r * store.dim);
    tokens.push(...s.tokens);
    doc.push(...s.doc);
    pos.push(...s.pos);
    r += s.rows;
  }
  return { acts, tokens, doc, pos };
}

describe('readCorpus', () => {
  test('.txt paragraphs are separated by blank (or whitespace-only) lines', async () => {
    const f = `${fresh()}.txt`;
    fs.writeFileSync(f, ' \n = Title = \n \n first line\n second line\n \n\n\nlast');
    const docs = await collect(readCorpus(f));
    assert.deepEqual(docs, [
      { index: 0, text: '= Title =' },
      { index: 1, text: 'first line\n second line' },
      { index: 2, text: 'last' },
    ]);
  });

  test('the shared wikitext file reads as paragraphs', async () => {
    const docs = await collect(readCorpus(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), { limit: 3 }));
    assert.equal(docs.length, 3);
    assert.equal(docs[0].text, '= Robert <unk> =');
    assert.ok(docs[1].text.startsWith('Robert <unk> is an English film'));
  });

  test('.jsonl reads a field, skips empty documents, and names the bad line', async () => {
    const f = `${fresh()}.jsonl`;
    fs.writeFileSync(f, '{"text":"a","body":"x"}\n\n{"text":"","body":" "}\n{"text":"b","body":"y"}\n');
    assert.deepEqual(await collect(readCorpus(f)), [{ index: 0, text: 'a' }, { index: 1, text: 'b' }]);
    assert.deepEqual((await collect(readCorpus(f, { field: 'body' }))).map((d) => d.text), ['x', 'y']);
    fs.appendFileSync(f, '{"text": oops}\n');
    await assert.rejects(collect(readCorpus(f)), (e: Error) => e instanceof InvalidInputError && e.message.includes(f) && e.message.includes('line 5'));
    const g = `${fresh()}.jsonl`;
    fs.writeFileSync(g, '{"text":"a"}\n{"other":1}\n');
    await assert.rejects(collect(readCorpus(g)), /line 2: no string field "text"/);
  });

  test('a directory reads its .txt/.jsonl files in sorted order; skip and limit count documents', async () => {
    const d = fresh();
    fs.mkdirSync(d);
    fs.writeFileSync(join(d, 'b.jsonl'), '{"text":"b1"}\n{"text":"b2"}\n');
    fs.writeFileSync(join(d, 'a.txt'), 'a1\n\na2\n');
    fs.writeFileSync(join(d, 'notes.md'), 'ignored');
    assert.deepEqual(await collect(readCorpus(d)), ['a1', 'a2', 'b1', 'b2'].map((text, index) => ({ index, text })));
    assert.deepEqual(await collect(readCorpus(d, { skip: 1, limit: 2 })), [{ index: 1, text: 'a2' }, { index: 2, text: 'b1' }]);
    await assert.rejects(collect(readCorpus(join(d, 'missing.txt'))), InvalidInputError);
  });
});

describe('activation store', () => {
  let oneShot: string;
  let manifest: StoreManifest;
  before(async () => {
    oneShot = fresh('store');
    manifest = await collectActivationStore(model, docsOf(TEXTS), { dir: oneShot, point, contextSize: 16, batchSize: 3, shardRows: 20 });
  });

  test('rows equal a plain forward of each context; BOS rows are left out; tokens/doc/pos are right', async () => {
    assert.equal(manifest.complete, true);
    assert.equal(manifest.documentsDone, TEXTS.length);
    assert.ok(manifest.shards.length >= 3, `expected several shards, got ${manifest.shards.length}`);
    const store = ActivationStore.open(oneShot);
    const got = allRows(store);
    let r = 0;
    let tokens = 0;
    for (let doc = 0; doc < TEXTS.length; doc++) {
      const ids = model.encode(TEXTS[doc]);
      assert.equal(ids[0], model.spec.bosTokenId);
      // Independently: contexts of BOS + 15 content tokens, each run on its own.
      for (let s = 1; s < ids.length; s += 15) {
        const ctx = [ids[0], ...ids.slice(s, s + 15)];
        tokens += ctx.length;
        const out = await model.forward({ tokens: [ctx], hooks: [{ kind: 'capture', at: point }], logits: 'none' });
        const want = out.captures.get(hookName(point))!.data;
        for (let j = 1; j < ctx.length; j++, r++) {
          assert.equal(got.tokens[r], ctx[j]);
          assert.equal(got.doc[r], doc);
          assert.equal(got.pos[r], s + j - 1);
          assertRowClose(got.acts.subarray(r * D, (r + 1) * D), want.subarray(j * D, (j + 1) * D), `row ${r}`);
        }
      }
    }
    assert.equal(r, store.rows);
    assert.equal(manifest.tokens, tokens);
    assert.ok(!got.tokens.includes(model.spec.bosTokenId!));
    const norm = estimateNorm(store, 50);
    assert.ok(norm > 0 && Number.isFinite(norm));
  });

  test('excludeBos: false keeps one BOS row (pos 0) per context', async () => {
    const dir = fresh('store');
    const m = await collectActivationStore(model, docsOf(TEXTS.slice(0, 3)), { dir, point, contextSize: 16, excludeBos: false });
    const got = allRows(ActivationStore.open(dir));
    const bosRows = got.tokens.map((t, i) => [t, i] as const).filter(([t]) => t === model.spec.bosTokenId);
    assert.ok(bosRows.length > 3); // the long third document has several contexts
    assert.ok(bosRows.every(([, i]) => got.pos[i] === 0));
    assert.equal(m.tokens, m.rows);
  });

  test('an aborted collection resumes to the same rows; a stray shard is overwritten', async () => {
    const dir = fresh('store');
    const ctrl = new AbortController();
    const first = await collectActivationStore(model, docsOf(TEXTS), {
      dir, point, contextSize: 16, batchSize: 3, shardRows: 20, signal: ctrl.signal,
      onProgress: (rows) => { if (rows >= 20) ctrl.abort(); },
    });
    assert.equal(first.complete, false);
    assert.equal(first.shards.length, 1);
    assert.ok(first.documentsDone > 0 && first.documentsDone < TEXTS.length);
    assert.equal(ActivationStore.open(dir).rows, first.rows); // readable while incomplete
    fs.writeFileSync(join(dir, 'shard-00001.safetensors'), 'garbage from a crash');
    const done = await collectActivationStore(model, docsOf(TEXTS), { dir, point, contextSize: 16, batchSize: 3, shardRows: 20 });
    assert.equal(done.complete, true);
    assert.equal(done.createdAt, first.createdAt);
    const a = allRows(ActivationStore.open(dir));
    const b = allRows(ActivationStore.open(oneShot));
    assert.deepEqual(a.tokens, b.tokens);
    assert.deepEqual(a.doc, b.doc);
    assert.deepEqual(a.pos, b.pos);
    assert.equal(done.tokens, manifest.tokens);
    // Same contexts, batched with different neighbours (padding): equal up to float rounding.
    for (let r = 0; r < done.rows; r++) assertRowClose(a.acts.subarray(r * D, (r + 1) * D), b.acts.subarray(r * D, (r + 1) * D), `row ${r}`);
    // Complete: a further call does nothing.
    assert.deepEqual(await collectActivationStore(model, docsOf(TEXTS), { dir, point, contextSize: 16, batchSize: 3, shardRows: 20 }), done);
  });

  test('resuming with different settings is refused', async () => {
    await assert.rejects(
      collectActivationStore(model, docsOf(TEXTS), { dir: oneShot, point, contextSize: 32 }),
      (e: Error) => e instanceof InvalidInputError && /contextSize 16 \(now 32\)/.test(e.message) && /new directory/.test(e.message),
    );
    await assert.rejects(
      collectActivationStore(model, docsOf(TEXTS), { dir: oneShot, point: { layer: 0, site: 'resid_post' }, contextSize: 16 }),
      /hook "blocks.1.hook_resid_mid" \(now "blocks.0.hook_resid_post"\)/,
    );
  });

  test('maxTokens stops mid-document and completes the store', async () => {
    const dir = fresh('store');
    const m = await collectActivationStore(model, docsOf(TEXTS), { dir, point, contextSize: 16, shardRows: 20, maxTokens: 50 });
    assert.equal(m.rows, 50);
    assert.equal(m.complete, true);
    const b = allRows(ActivationStore.open(oneShot));
    assert.deepEqual(allRows(ActivationStore.open(dir)).tokens, b.tokens.slice(0, 50));
  });

  test('open() reports broken stores clearly', () => {
    const dir = fresh('store');
    fs.cpSync(oneShot, dir, { recursive: true });
    fs.rmSync(join(dir, 'shard-00001.safetensors'));
    assert.throws(() => ActivationStore.open(dir), (e: Error) => e instanceof ModelFileError && e.message.includes('shard-00001.safetensors'));
    const m = JSON.parse(fs.readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, rows: 'many' }));
    assert.throws(() => ActivationStore.open(dir), (e: Error) => e instanceof ModelFileError && e.message.includes('rows'));
    assert.throws(() => ActivationStore.open(fresh()), /not an activation store/);
  });

  test('batches: every row once per epoch, seeded order', async () => {
    // 72 rows in shards of 15+ rows, batches of 8: no partial batch.
    const dir = fresh('store');
    await collectActivationStore(model, docsOf(TEXTS), { dir, point, contextSize: 16, shardRows: 15, maxTokens: 72 });
    const store = ActivationStore.open(dir);
    assert.equal(store.rows, 72);
    const keyOf = (a: Float32Array, r: number): string => a.subarray(r * D, (r + 1) * D).join(',');
    const expected = new Map<string, number>();
    const all = allRows(store).acts;
    for (let r = 0; r < 72; r++) expected.set(keyOf(all, r), (expected.get(keyOf(all, r)) ?? 0) + 1);

    const run = (seed: number): Promise<Float32Array[]> => collect(store.batches({ batchSize: 8, seed, epochs: 2, bufferShards: 2 }));
    const batches = await run(1);
    assert.equal(batches.length, 18);
    for (let epoch = 0; epoch < 2; epoch++) {
      const seen = new Map<string, number>();
      for (const b of batches.slice(epoch * 9, (epoch + 1) * 9)) {
        assert.equal(b.length, 8 * D);
        for (let r = 0; r < 8; r++) seen.set(keyOf(b, r), (seen.get(keyOf(b, r)) ?? 0) + 1);
      }
      assert.deepEqual(seen, expected);
    }
    assert.deepEqual(await run(1), batches);
    assert.notDeepEqual((await run(2))[0], batches[0]);
    // Rows are shuffled, not read back in stored order.
    assert.notDeepEqual(batches[0], all.subarray(0, 8 * D));
    // A partial last batch is dropped.
    assert.equal((await collect(store.batches({ batchSize: 30 }))).length, 2);
  });

  test('live batches hold the same rows as the store', async () => {
    const store = ActivationStore.open(oneShot);
    const all = allRows(store).acts;
    const sumOf = (rows: readonly Float32Array[]): number => rows.reduce((s, b) => s + b.reduce((x, v) => x + v, 0), 0);
    const live = await collect(liveActivationBatches(model, docsOf(TEXTS), { point, contextSize: 16, batchSize: 1, forwardBatch: 4, bufferRows: 16, seed: 3 }));
    assert.equal(live.length, store.rows);
    assert.ok(Math.abs(sumOf(live) - sumOf([all])) < 1e-2);
    assert.notDeepEqual(live[0], all.subarray(0, D));
  });
});

describe('generateCorpus', () => {
  const opts = { maxTokens: 12, seed: 7, batchSize: 2 };

  test('writes count documents; a resumed run (after a torn last line) matches a one-shot run', async () => {
    const full = `${fresh()}.jsonl`;
    const r = await generateCorpus(model, full, { ...opts, count: 5 });
    assert.deepEqual(r, { generated: 5, total: 5 });
    const lines = fs.readFileSync(full, 'utf8').split('\n');
    assert.equal(lines.length, 6);
    assert.equal(lines[5], '');
    const texts = lines.slice(0, 5).map((l) => (JSON.parse(l) as { text: string }).text);
    assert.ok(texts.every((t) => t.length > 0));
    assert.equal(new Set(texts).size, 5);

    const part = `${fresh()}.jsonl`;
    await generateCorpus(model, part, { ...opts, count: 3 });
    fs.appendFileSync(part, '{"text": "Once up');
    const resumed = await generateCorpus(model, part, { ...opts, count: 5 });
    assert.deepEqual(resumed, { generated: 2, total: 5 });
    assert.equal(fs.readFileSync(part, 'utf8'), fs.readFileSync(full, 'utf8'));
    assert.deepEqual(await generateCorpus(model, part, { ...opts, count: 5 }), { generated: 0, total: 5 });
    assert.deepEqual((await collect(readCorpus(part))).map((d) => d.text), texts);
  });

  test('a prompt starts every document', async () => {
    const f = `${fresh()}.jsonl`;
    await generateCorpus(model, f, { ...opts, count: 2, prompt: 'Once upon a time' });
    for (const d of await collect(readCorpus(f))) assert.ok(d.text.startsWith('Once upon a time'), d.text);
  });
});
