/**
 * Users' vector libraries over real sockets (`steerer serve --users`): two users and the shared
 * library, each user seeing their own vectors and the shared ones and never the other's (list,
 * info, file, bundle, likeness, explain, steering, delete, jobs); a name means the caller's own
 * vector first, even when two users' requests run in one batch; downloads give the stored bytes;
 * a bundle downloaded from one server and uploaded to another gives the same vector bytes; bad
 * uploads leave nothing behind. Steered outputs are checked against the same direction inline.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { InvalidInputError } from '../src/io/errors.js';
import { Store } from '../src/server/store.js';
import { parseUsers, readUsersFile } from '../src/server/users.js';
import { packVectorFile, readVectorBundle } from '../src/steering/vector-bundle.js';
import { saveVector } from '../src/steering/vector-file.js';
import { rng } from './helpers/prng.js';
import { tempDir } from './helpers/random-model.js';
import { startServer, type RunningServer } from './helpers/server.js';

const D = 128;
const OPERATOR = 'operator-token-0123456789';
const USERS = [
  { name: 'alice', token: 'alice-token-0123456789abcdef' },
  { name: 'bob', token: 'bob-token-0123456789abcdef' },
];
const [ALICE, BOB] = USERS.map((u) => u.token);

function unit(seed: number): number[] {
  const r = rng(seed);
  const v = Array.from({ length: D }, () => r() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

interface Reply<T> {
  status: number;
  json: T;
  headers: Headers;
  bytes: Buffer;
}

async function call<T = Record<string, unknown>>(base: string, method: string, route: string, token: string | undefined, body?: unknown): Promise<Reply<T>> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  let payload: string | Buffer | undefined;
  if (Buffer.isBuffer(body)) {
    headers['content-type'] = 'application/zip';
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${base}${route}`, { method, headers, body: payload });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, json: json as T, headers: res.headers, bytes };
}

type Listing = { data: { name: string; owner: string | null; shadowed?: boolean }[] };
type Score = { data: { logprobs: number[] }[] };
type Completion = { choices: { text: string }[] };

describe('vector libraries of users', () => {
  let a: RunningServer;
  let b: RunningServer;
  const as = (token: string | undefined) => (method: string, route: string, body?: unknown) => call(a.url, method, route, token, body);
  const operator = as(OPERATOR);
  const alice = as(ALICE);
  const bob = as(BOB);
  const dirs = { sharedHappy: unit(1), aliceHappy: unit(2), aliceOnly: unit(3), bobOnly: unit(4), shared: unit(5) };
  const upload = (who: typeof alice, name: string, d: number[]) => who('POST', '/v1/vectors', { name, directions: { '1': d }, recommended: { layers: [1], coefficient: 6 } });

  before(async () => {
    a = await startServer({ token: OPERATOR, users: USERS });
    b = await startServer({ limits: { bodyBytes: 64 * 1024 } });
    for (const [who, name, d] of [
      [operator, 'happy', dirs.sharedHappy],
      [operator, 'shared-dir', dirs.shared],
      [alice, 'happy', dirs.aliceHappy],
      [alice, 'alice-only', dirs.aliceOnly],
      [bob, 'bob-only', dirs.bobOnly],
    ] as const) {
      const up = await upload(who, name, d);
      assert.equal(up.status, 201, JSON.stringify(up.json));
    }
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  test('each user lists their own vectors and the shared ones, never the other user\'s', async () => {
    const names = (l: Listing) => l.data.map((v) => `${v.name}:${v.owner ?? 'shared'}${v.shadowed ? ':shadowed' : ''}`);
    assert.deepEqual(names((await alice('GET', '/v1/vectors')).json as Listing), ['alice-only:alice', 'happy:alice', 'happy:shared:shadowed', 'shared-dir:shared']);
    assert.deepEqual(names((await bob('GET', '/v1/vectors')).json as Listing), ['bob-only:bob', 'happy:shared', 'shared-dir:shared']);
    assert.deepEqual(names((await operator('GET', '/v1/vectors')).json as Listing), ['happy:shared', 'shared-dir:shared']);
    assert.equal((await as(undefined)('GET', '/v1/vectors')).status, 401);
    assert.equal((await as('bob-token-0123456789abcdeX')('GET', '/v1/vectors')).status, 401);
    // Files live apart: DATA_DIR/vectors for the shared library, DATA_DIR/users/NAME/vectors for a user's.
    assert.deepEqual(fs.readdirSync(path.join(a.dataDir, 'vectors')).sort(), ['happy.safetensors', 'shared-dir.safetensors']);
    assert.deepEqual(fs.readdirSync(path.join(a.dataDir, 'users', 'alice', 'vectors')).sort(), ['alice-only.safetensors', 'happy.safetensors']);
    // Without --users, everything is shared, as before.
    const up = await call(b.url, 'POST', '/v1/vectors', undefined, { name: 'plain', directions: { '1': unit(9) } });
    assert.equal((up.json as { owner: unknown }).owner, null);
  });

  test("another user's vector does not exist for you: info, file, bundle, likeness, explain, steering, delete", async () => {
    for (const [who, theirs] of [[alice, 'bob-only'], [bob, 'alice-only']] as const) {
      for (const route of ['', '/file', '/bundle', '/similar', '/explain', '/plot/diagnostics.svg']) {
        const res = await who('GET', `/v1/vectors/${theirs}${route}`);
        assert.equal(res.status, 404, `${theirs}${route}: ${res.status}`);
      }
      const steer = await who('POST', '/v1/score', { input: 'Once upon a time', steering: { interventions: [{ vector: theirs, layers: [1], coefficient: 4 }] } });
      assert.equal(steer.status, 400);
      assert.equal((steer.json as { error: { code: string } }).error.code, 'vector_not_found');
      assert.equal((await who('DELETE', `/v1/vectors/${theirs}`)).status, 404);
    }
    assert.equal((await bob('GET', '/v1/vectors/alice-only', undefined)).status, 404);
    assert.equal((await alice('GET', '/v1/vectors/alice-only')).status, 200, 'deleting failed: it is still there');
    // A user may not delete a shared vector; the operator may not see a user's.
    assert.equal((await bob('DELETE', '/v1/vectors/shared-dir')).status, 403);
    assert.equal((await operator('GET', '/v1/vectors/alice-only')).status, 404);
    // Jobs: alice's vector job is hers; bob sees neither it nor its request.
    const job = await alice('POST', '/v1/vectors/create', { name: 'never', concept: 'zzqxvw', count: 4 });
    assert.equal(job.status, 202);
    const id = (job.json as { id: string }).id;
    assert.equal((await bob('GET', `/v1/jobs/${id}`)).status, 404);
    assert.ok(!((await bob('GET', '/v1/jobs')).json as { data: { id: string }[] }).data.some((j) => j.id === id));
    assert.ok(((await alice('GET', '/v1/jobs')).json as { data: { id: string }[] }).data.some((j) => j.id === id));
    // It fails fast (no such word): what matters is who may see it.
    for (let i = 0; i < 300 && ((await alice('GET', `/v1/jobs/${id}`)).json as { status: string }).status !== 'failed'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(((await operator('GET', `/v1/jobs/${id}`)).json as { status: string }).status, 'failed');
  });

  test("a name means the caller's own vector first, then the shared one, even batched together", async () => {
    const input = 'Once upon a time, there was a little girl';
    const steer = (vector: string | { inline: number[] }) => ({ interventions: [{ vector, layers: [1], coefficient: 6 }] });
    const score = async (who: typeof alice, vector: string | { inline: number[] }) => ((await who('POST', '/v1/score', { input, steering: steer(vector) })).json as Score).data[0].logprobs;
    assert.deepEqual(await score(alice, 'happy'), await score(alice, { inline: dirs.aliceHappy }));
    assert.deepEqual(await score(bob, 'happy'), await score(bob, { inline: dirs.sharedHappy }));
    assert.notDeepEqual(await score(alice, 'happy'), await score(bob, 'happy'));
    assert.deepEqual(await score(alice, 'shared-dir'), await score(alice, { inline: dirs.shared }));
    // ?library=shared reaches the shared vector a user's own one hides.
    const info = await alice('GET', '/v1/vectors/happy?library=shared');
    assert.equal((info.json as { owner: unknown }).owner, null);
    assert.equal(((await alice('GET', '/v1/vectors/happy')).json as { owner: unknown }).owner, 'alice');
    // One spec, two users, in flight together (the scheduler batches equal specs): each gets their own vector.
    const body = (vector: string | { inline: number[] }) => ({ prompt: input, max_tokens: 24, seed: 5, temperature: 0.9, steering: steer(vector) });
    const [aliceText, bobText] = await Promise.all([alice('POST', '/v1/completions', body('happy')), bob('POST', '/v1/completions', body('happy'))]);
    const aliceAlone = await alice('POST', '/v1/completions', body({ inline: dirs.aliceHappy }));
    const bobAlone = await bob('POST', '/v1/completions', body({ inline: dirs.sharedHappy }));
    assert.equal((aliceText.json as Completion).choices[0].text, (aliceAlone.json as Completion).choices[0].text);
    assert.equal((bobText.json as Completion).choices[0].text, (bobAlone.json as Completion).choices[0].text);
    // Whether those two met in one batch depends on timing; what keeps them apart is their batching key.
    const key = (caller?: string) => a.server.ctx.steering.compile(steer('happy'), caller).key;
    assert.notEqual(key('alice'), key('bob'), "alice's happy is not bob's: never one batch");
    assert.equal(key('bob'), key(undefined), 'the same shared vector: free to batch');
  });

  test('downloads are the stored bytes; a bundle moves a vector and its files to another server', async () => {
    const stored = path.join(a.dataDir, 'users', 'alice', 'vectors', 'alice-only.safetensors');
    // The files the one-click pipeline leaves beside a vector travel with it.
    const data = Buffer.from(JSON.stringify({ train: [{ positive: 'x', negative: 'y' }] }));
    fs.writeFileSync(path.join(path.dirname(stored), 'alice-only.data.json'), data);
    const file = await alice('GET', '/v1/vectors/alice-only/file');
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'application/octet-stream');
    assert.equal(file.headers.get('content-disposition'), 'attachment; filename="alice-only.safetensors"');
    assert.ok(file.bytes.equals(fs.readFileSync(stored)));
    const bundle = await alice('GET', '/v1/vectors/alice-only/bundle');
    assert.equal(bundle.status, 200);
    assert.equal(bundle.headers.get('content-disposition'), 'attachment; filename="alice-only.vector.zip"');
    assert.deepEqual(readVectorBundle(bundle.bytes, 'download').files.map((f) => f.suffix), ['.safetensors', '.data.json']);

    // Into a second server (no users): the same vector bytes, the data beside them, usable by name.
    const up = await call<{ name: string; owner: unknown; files: string[] }>(b.url, 'POST', '/v1/vectors/bundle', undefined, bundle.bytes);
    assert.equal(up.status, 201, JSON.stringify(up.json));
    assert.deepEqual([up.json.name, up.json.owner, up.json.files], ['alice-only', null, ['alice-only.safetensors', 'alice-only.data.json']]);
    const again = await call(b.url, 'GET', '/v1/vectors/alice-only/file', undefined);
    assert.ok(again.bytes.equals(file.bytes), 'the vector bytes survive the trip');
    assert.ok(fs.readFileSync(path.join(b.dataDir, 'vectors', 'alice-only.data.json')).equals(data));
    const steered = await call<Score>(b.url, 'POST', '/v1/score', undefined, { input: 'Once upon a time', steering: { interventions: [{ vector: 'alice-only', layers: [1], coefficient: 6 }] } });
    const inline = await call<Score>(b.url, 'POST', '/v1/score', undefined, { input: 'Once upon a time', steering: { interventions: [{ vector: { inline: dirs.aliceOnly }, layers: [1], coefficient: 6 }] } });
    assert.deepEqual(steered.json.data[0].logprobs, inline.json.data[0].logprobs);
    // Back to bob under another name: it lands in bob's own library.
    const toBob = await bob('POST', '/v1/vectors/bundle?name=from-alice', bundle.bytes);
    assert.equal((toBob.json as { owner: unknown }).owner, 'bob');
    assert.ok((await bob('GET', '/v1/vectors/from-alice/file')).bytes.equals(file.bytes));
    assert.equal((await alice('GET', '/v1/vectors/from-alice')).status, 404);
    // Deleting a vector deletes what came with it.
    assert.equal((await call(b.url, 'DELETE', '/v1/vectors/alice-only', undefined)).status, 200);
    assert.deepEqual(fs.readdirSync(path.join(b.dataDir, 'vectors')).sort(), ['plain.safetensors']);
  });

  test('bad bundle uploads are refused and leave nothing behind', async () => {
    const bundle = (await alice('GET', '/v1/vectors/alice-only/bundle')).bytes;
    const post = (body: Buffer | unknown, query = '') => call<{ error: { code: string; message: string } }>(b.url, 'POST', `/v1/vectors/bundle${query}`, undefined, body);
    const cut = await post(bundle.subarray(0, bundle.length - 10));
    assert.equal(cut.status, 400);
    assert.equal(cut.json.error.code, 'invalid_bundle');
    const flipped = Buffer.from(bundle);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    assert.equal((await post(flipped)).status, 400);
    assert.equal((await post(Buffer.alloc(65 * 1024, 1))).status, 413, 'bounded by --body-limit before reading');
    assert.equal((await post({ bundle: 'as json' })).status, 415);
    assert.equal((await post(bundle, '?name=../up')).status, 400);
    assert.equal((await post(bundle, '?name=plain')).status, 409);
    // A vector for another hidden size does not fit the served model.
    const dir = tempDir('narrow');
    const narrowFile = path.join(dir, 'narrow.safetensors');
    saveVector(narrowFile, {
      directions: new Map([[1, Float32Array.from(unit(7).slice(0, 64))]]),
      meta: { format: 'steerer.vector/v1', model: { name: 'other', architecture: 'LlamaForCausalLM', hiddenSize: 64, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date().toISOString() },
    });
    const mismatch = await post(packVectorFile(narrowFile).bundle);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.json.error.code, 'vector_mismatch');
    assert.deepEqual(fs.readdirSync(path.join(b.dataDir, 'vectors')).sort(), ['plain.safetensors'], 'no temp file or half a vector left');
  });
});

describe('users file', () => {
  const secret = 'a-very-secret-token-value-42';
  test('checked entries; errors never repeat a token', () => {
    assert.deepEqual(parseUsers([{ name: 'ann', token: secret }], 'u').map((u) => u.name), ['ann']);
    const bad: [unknown, RegExp][] = [
      [[], /lists no users/],
      [[{ name: 'ann', token: 'short' }], /entry 0 "token" must be at least 16 characters/],
      [[{ name: '../ann', token: secret }], /entry 0 "name" must be 1-32 letters/],
      [[{ name: 'ann', token: `${secret} x` }], /printable ASCII without spaces/],
      [[{ name: 'ann', token: secret, admin: true }], /keys other than/],
      [[{ name: 'ann', token: secret }, { name: 'ANN', token: `${secret}2` }], /entries 0 and 1 have the same name/],
      [[{ name: 'ann', token: secret }, { name: 'bo', token: secret }], /entries 0 and 1 have the same token/],
    ];
    for (const [json, pattern] of bad) {
      assert.throws(() => parseUsers(json, 'u'), (e: unknown) => e instanceof InvalidInputError && pattern.test(e.message) && !e.message.includes(secret), JSON.stringify(json));
    }
    assert.throws(() => parseUsers([{ name: 'ann', token: secret }], 'u', { operatorToken: secret }), (e: unknown) => e instanceof Error && /operator's --token/.test(e.message) && !e.message.includes(secret));
    // JSON.parse would quote the text near a syntax error; the file's reader does not.
    const dir = tempDir('users');
    const file = path.join(dir, 'users.json');
    fs.writeFileSync(file, `[{"name": "ann", "token": "${secret}"},]`);
    assert.throws(() => readUsersFile(file), (e: unknown) => e instanceof InvalidInputError && /not valid JSON/.test(e.message) && !e.message.includes(secret));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('a database from before --users', () => {
  test('keeps its vectors and jobs as shared ones, and then holds one name per library', () => {
    const dir = tempDir('old-db');
    const file = path.join(dir, 'steerer.db');
    const old = new Database(file);
    old.exec(`CREATE TABLE vectors (name TEXT PRIMARY KEY, file TEXT NOT NULL, info TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, progress TEXT NOT NULL,
        request TEXT NOT NULL, result TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
      INSERT INTO vectors VALUES ('sad', '/x/sad.safetensors', '{"name":"sad"}', '2025-01-01');
      INSERT INTO jobs VALUES ('job_1', 'vector.create', 'succeeded', '{}', '{}', NULL, NULL, '2025-01-01', '2025-01-01');`);
    old.close();
    const store = new Store(file);
    try {
      assert.deepEqual(store.listVectors().map((r) => [r.owner, r.name, r.file]), [['', 'sad', '/x/sad.safetensors']]);
      store.putVector('sad', '/y/sad.safetensors', { name: 'sad' }, 'ann');
      assert.equal(store.getVector('sad')?.file, '/x/sad.safetensors');
      assert.equal(store.getVector('sad', 'ann')?.file, '/y/sad.safetensors');
      assert.deepEqual(store.listVectors('ben'), []);
      // An old job is everyone's: every user sees it.
      assert.equal(store.getJob('job_1', 'ann')?.status, 'succeeded');
      const own = store.createJob('vector.create', {}, 'ann');
      assert.equal(store.getJob(own.id, 'ben'), undefined);
      assert.deepEqual(store.listJobs(100, 'ben').map((j) => j.id), ['job_1']);
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
