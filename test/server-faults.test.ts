import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { loadModel } from '../src/model/load.js';
import { saveVector } from '../src/steering/vector-file.js';
import { cliArgs } from './helpers/cli.js';
import { getJson, postJson, startServer, TINY, type RunningServer } from './helpers/server.js';

/** Every bad request gets a 4xx with a clear JSON error, loses nothing, and leaves the server serving. */

interface ErrorJson {
  error: { message: string; type: string; code: string | null; param: string | null };
}

const D = 128;
const ones = (n: number) => new Array<number>(n).fill(0.1);

function assertError(res: { status: number; json: unknown }, status: number, pattern: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  const body = res.json as ErrorJson;
  assert.equal(typeof body.error?.message, 'string', `no error body: ${JSON.stringify(res.json)}`);
  assert.match(body.error.message, pattern);
}

describe('server faults', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await startServer({ limits: { bodyBytes: 256 * 1024, maxTokens: 300, maxWaiting: 2 } });
    const up = await postJson(`${srv.url}/v1/vectors`, { name: 'v', directions: { '1': ones(D) } });
    assert.equal(up.status, 201);
  });
  after(() => srv.close());

  const chat = (extra: Record<string, unknown>) => postJson<ErrorJson>(`${srv.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Once' }], max_tokens: 4, ...extra });

  test('malformed, empty and wrongly typed bodies', async () => {
    assertError(await postJson(`${srv.url}/v1/chat/completions`, '{"messages": [{"role": "user", "content": "hi"}'), 400, /not valid JSON/);
    assertError(await postJson(`${srv.url}/v1/chat/completions`, '{}'), 400, /messages/);
    assertError(await chat({ messages: [] }), 400, /messages/);
    assertError(await chat({ temperature: 'hot' }), 400, /temperature/);
    const text = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(text.status, 415);
    assert.match(((await text.json()) as ErrorJson).error.message, /content type/);
  });

  test('NaN, infinite and non-numeric coefficients are refused', async () => {
    // JSON has no NaN: the literal is malformed JSON; 1e999 parses to Infinity, which the spec refuses.
    assertError(await postJson(`${srv.url}/v1/completions`, '{"prompt":"Once","steering":{"interventions":[{"vector":"v","layers":[1],"coefficient":NaN}]}}'), 400, /not valid JSON/);
    const inf = await postJson<ErrorJson>(`${srv.url}/v1/completions`, '{"prompt":"Once","steering":{"interventions":[{"vector":"v","layers":[1],"coefficient":1e999}]}}');
    assertError(inf, 400, /coefficient/);
    assert.equal(inf.json.error.param, 'steering');
    assertError(await chat({ steering: { interventions: [{ vector: 'v', layers: [1], coefficient: 'NaN' }] } }), 400, /coefficient/);
    assertError(await chat({ steering: { interventions: [{ vector: { inline: [...ones(D - 1), 1e999] }, layers: [1] }] } }), 400, /steering/);
  });

  test('unknown vectors, unknown layers, mismatched sizes', async () => {
    const unknown = await chat({ steering: { interventions: [{ vector: 'nope', layers: [1] }] } });
    assertError(unknown, 400, /no vector named "nope"/);
    assert.equal(unknown.json.error.code, 'vector_not_found');
    assertError(await chat({ steering: { interventions: [{ vector: 'v', layers: [7] }] } }), 400, /layer 7 does not exist/);
    assertError(await chat({ steering: { interventions: [{ vector: { inline: ones(64) }, layers: [1] }] } }), 400, /size 64.*hidden size is 128/);
    assertError(await postJson(`${srv.url}/v1/vectors`, { name: 'small', directions: { '1': ones(64) } }), 400, /64 values but the model's hidden size is 128/);
    assertError(await postJson(`${srv.url}/v1/vectors`, { name: 'deep', directions: { '9': ones(D) } }), 400, /layer 9/);
    assertError(await postJson(`${srv.url}/v1/activations`, { input: 'x', layers: [2] }), 400, /layer 2 does not exist/);
    assertError(await getJson(`${srv.url}/v1/vectors/nope`), 404, /no vector named "nope"/);
  });

  test('vector names cannot escape the vector directory; bad files leave nothing behind', async () => {
    const before = fs.readdirSync(path.join(srv.dataDir, 'vectors')).sort();
    for (const name of ['../evil', 'a/b', '..', '.hidden', 'x\\y', '/etc/passwd', 'a'.repeat(65), '']) {
      assertError(await postJson(`${srv.url}/v1/vectors`, { name, directions: { '1': ones(D) } }), 400, /name/);
    }
    assertError(await chat({ steering: { interventions: [{ vector: '../v', layers: [1] }] } }), 400, /vector/);
    assertError(await getJson(`${srv.url}/v1/vectors/..%2Fsteerer.db`), 400, /name/);
    // A truncated safetensors upload is refused and no partial file remains.
    const good = await postJson(`${srv.url}/v1/vectors`, { name: 'tmp-good', directions: { '1': ones(D) } });
    assert.equal(good.status, 201);
    const bytes = fs.readFileSync(path.join(srv.dataDir, 'vectors', 'tmp-good.safetensors'));
    await fetch(`${srv.url}/v1/vectors/tmp-good`, { method: 'DELETE' });
    assertError(await postJson(`${srv.url}/v1/vectors`, { name: 'cut', safetensors: bytes.subarray(0, bytes.length - 100).toString('base64') }), 400, /not valid/);
    assertError(await postJson(`${srv.url}/v1/vectors`, { name: 'junk', safetensors: Buffer.from('not a tensor file at all').toString('base64') }), 400, /not valid/);
    assert.deepEqual(fs.readdirSync(path.join(srv.dataDir, 'vectors')).sort(), before);
    assert.ok(!fs.existsSync(path.join(srv.dataDir, '..', 'evil.safetensors')));
  });

  test('size and token limits', async () => {
    const huge = await postJson(`${srv.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] });
    assertError(huge, 413, /too large/);
    assertError(await chat({ max_tokens: 301 }), 400, /limit of 300/);
    assertError(await chat({ n: 9 }), 400, /at most 8/);
    assertError(await postJson(`${srv.url}/v1/completions`, { prompt: 'Once upon a time '.repeat(200), max_tokens: 4 }), 400, /context/);
    assertError(await postJson(`${srv.url}/v1/activations`, { input: new Array(40).fill('x'), layers: 'all' }), 400, /at most 32/);
    assertError(await chat({ model: 'gpt-4' }), 404, /not served here/);
    assertError(await getJson(`${srv.url}/v1/nothing`), 404, /no route/);
    assertError(await chat({ logit_bias: { '99999': 5 } }), 400, /outside the vocabulary/);
  });

  test('a full queue answers 429 and the server keeps serving', async () => {
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => chat({ max_tokens: 120, seed: i })));
    const codes = burst.map((r) => r.status);
    assert.ok(codes.includes(429), `codes ${codes}`);
    assert.ok(codes.includes(200), `codes ${codes}`);
    for (const r of burst) if (r.status === 429) assertError(r, 429, /busy/);
    assert.equal((await chat({})).status, 200);
  });

  test('a client that disconnects mid-stream cancels its generation', async () => {
    const eos = loadModel(TINY).spec.eosTokenIds;
    const before = srv.server.ctx.scheduler.stats.cancelled;
    const controller = new AbortController();
    const res = await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // End-of-story banned, so the decode is still running when the client leaves.
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 300, stream: true, logit_bias: Object.fromEntries(eos.map((id) => [String(id), -100])) }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /^data: /);
    controller.abort();
    const end = Date.now() + 10_000;
    while (srv.server.ctx.scheduler.stats.cancelled === before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.server.ctx.scheduler.stats.cancelled, before + 1);
    assert.equal((await chat({})).status, 200);
  });

  test('bearer token: /v1 needs it, /health does not; the openai client sends it', async () => {
    const locked = await startServer({ token: 's3cret' });
    try {
      assertError(await getJson(`${locked.url}/v1/models`), 401, /bearer token/);
      assertError(await getJson(`${locked.url}/v1/models`, { authorization: 'Bearer wrong' }), 401, /bearer token/);
      assert.equal((await getJson(`${locked.url}/health`)).status, 200);
      const client = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: 's3cret', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'tinystories-656k', messages: [{ role: 'user', content: 'Once' }], max_tokens: 3 });
      assert.equal(r.choices.length, 1);
      const bad = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: 'nope', maxRetries: 0 });
      await assert.rejects(bad.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    } finally {
      await locked.close();
    }
  });
});

/** A real `steerer serve` process, so it can be killed with SIGKILL. */
async function spawnServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...cliArgs(), 'serve', '--model', TINY, '--port', '0', '--data-dir', dataDir, '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
  return { child, url };
}

/** Resolves once the child has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

describe('durability', () => {
  test('kill -9 during rating writes loses no acknowledged rating; an interrupted job is marked failed', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-kill-'));
    try {
      const first = await spawnServer(dataDir);
      const job = await postJson<{ id: string }>(`${first.url}/v1/vectors/create`, { name: 'sad', concept: 'sad', count: 64 });
      assert.equal(job.status, 202);
      const acked: string[] = [];
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await postJson<{ id: string }>(`${first.url}/v1/ratings`, {
              prompt: `prompt ${w}.${i}`,
              seed: i,
              a: { text: 'a', steering: null },
              b: { text: 'b', steering: { interventions: [{ vector: 'sad', layers: [1], coefficient: 2 }] } },
              blind: true,
              preference: { concept: 'b', coherence: 'a' },
            });
            if (r.status === 201) acked.push(r.json.id);
          } catch {
            return; // the server died under this request: it was never acknowledged
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      while (acked.length < 40) await new Promise((r) => setTimeout(r, 5));
      first.child.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await exited(first.child);

      // Between the runs: a vector file dropped in by hand, and the leftover of an upload cut short.
      const vectors = path.join(dataDir, 'vectors');
      saveVector(path.join(vectors, 'dropped.safetensors'), {
        directions: new Map([[1, new Float32Array(D).fill(0.5)]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'x', architecture: 'LlamaForCausalLM', hiddenSize: D, numLayers: 2 }, method: 'imported', site: 'resid_post', createdAt: new Date().toISOString() },
      });
      fs.writeFileSync(path.join(vectors, '.upload-cut.safetensors'), 'partial');

      const second = await spawnServer(dataDir);
      try {
        const { json } = await getJson<{ data: { id: string; b: { steering: unknown } }[] }>(`${second.url}/v1/ratings`);
        const stored = new Set(json.data.map((r) => r.id));
        const lost = acked.filter((id) => !stored.has(id));
        assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged ratings lost`);
        assert.ok(json.data.every((r) => r.b.steering !== null));
        const after = await getJson<{ status: string; error: string }>(`${second.url}/v1/jobs/${job.json.id}`);
        assert.equal(after.json.status, 'failed');
        assert.match(after.json.error, /interrupted/);
        const listed = await getJson<{ data: { name: string }[] }>(`${second.url}/v1/vectors`);
        assert.deepEqual(listed.json.data.map((v) => v.name), ['dropped']);
        assert.ok(!fs.existsSync(path.join(vectors, '.upload-cut.safetensors')));
      } finally {
        second.child.kill('SIGTERM');
        await exited(second.child);
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('steerer serve flags', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-flags-'));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const serve = (...args: string[]) => spawnSync(process.execPath, [...cliArgs(), 'serve', '--model', TINY, ...args], { encoding: 'utf8', timeout: 30_000, cwd });

  test('bad flags are one clear line and exit code 1, before anything is written', () => {
    const body = serve('--body-limit', 'lots');
    assert.equal(body.status, 1);
    assert.match(body.stderr, /--body-limit must be a positive number of MiB, got "lots"/);
    const port = serve('--port', '-3');
    assert.equal(port.status, 1);
    assert.match(port.stderr, /--port must be an integer/);
    const missing = spawnSync(process.execPath, [...cliArgs(), 'serve', '--model', '/no/such/model'], { encoding: 'utf8', timeout: 30_000, cwd });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /\/no\/such\/model/);
    assert.equal(serve('--port', '70000').status, 1);
    // No run above may have created the default data directory.
    assert.deepEqual(fs.readdirSync(cwd), []);
  });
});
