/**
 * The server as an attacker meets it, over real sockets: no spelling of a URL gets past the
 * token, no single request can exhaust memory or hold the event loop with unbounded work,
 * errors never show where the server keeps its files, foreign Host names are refused without
 * a token, and a crash's leftovers are cleared at the next start.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';
import { compileSteeringSpec, parseSteeringSpec, type SpecResolver } from '../src/steering/spec.js';
import { exportControlVectorGguf, saveVector } from '../src/steering/vector-file.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { getJson, postJson, startServer, type RunningServer } from './helpers/server.js';

interface ErrorJson {
  error: { message: string; type: string; code: string | null; param: string | null };
}

const D = 128;
const LAYERS = 2;
const small = (n: number, v = 0.1) => new Array<number>(n).fill(v);

/** Sends bytes exactly as given (no URL normalisation) and returns the status and body. */
async function raw(url: string, request: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (!m) return reject(new Error(`no HTTP status in ${JSON.stringify(data.slice(0, 200))}`));
      resolve({ status: Number(m[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    sock.write(request);
  });
}

function request(method: string, target: string, host: string, opts: { body?: string; auth?: string } = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  if (opts.auth) lines.push(`Authorization: Bearer ${opts.auth}`);
  if (opts.body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(opts.body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${opts.body ?? ''}`;
}

function assertError(res: { status: number; json: unknown }, status: number, pattern: RegExp): ErrorJson {
  assert.equal(res.status, status, JSON.stringify(res.json).slice(0, 400));
  const body = res.json as ErrorJson;
  assert.match(body.error.message, pattern);
  return body;
}

describe('token: every route but the public ones, whatever the spelling', () => {
  let srv: RunningServer;
  let host: string;
  before(async () => {
    srv = await startServer({ token: 's3cret' });
    host = new URL(srv.url).host;
    const up = await postJson(`${srv.url}/v1/vectors`, { name: 'keep', directions: { '1': small(D) } }, { authorization: 'Bearer s3cret' });
    assert.equal(up.status, 201);
  });
  after(() => srv.close());

  test('percent-encoded paths reach the route and still need the token', async () => {
    const completion = JSON.stringify({ prompt: 'Once upon a time', max_tokens: 8 });
    const posted = await raw(srv.url, request('POST', '/%761/completions', host, { body: completion }));
    assert.equal(posted.status, 401, posted.body);
    const listed = await raw(srv.url, request('GET', '/%76%31/vectors', host));
    assert.equal(listed.status, 401, listed.body);
    const deleted = await raw(srv.url, request('DELETE', '/%761/vectors/keep', host));
    assert.equal(deleted.status, 401, deleted.body);
    // The vector is still there, and the same encoded spelling works with the token (it is the same route).
    const withToken = await raw(srv.url, request('GET', '/%76%31/vectors', host, { auth: 's3cret' }));
    assert.equal(withToken.status, 200, withToken.body);
    assert.ok((JSON.parse(withToken.body) as { data: { name: string }[] }).data.some((v) => v.name === 'keep'));
  });

  test('absolute-form and asterisk request targets are refused', async () => {
    for (const target of [`http://${host}/v1/models`, `http://${host}/health`, '*', '//v1/models']) {
      const res = await raw(srv.url, request('GET', target, host, { auth: 's3cret' }));
      assert.ok(res.status === 400, `${target}: ${res.status} ${res.body}`);
    }
  });

  test('unmatched routes need the token; /health and the studio do not', async () => {
    assert.equal((await raw(srv.url, request('GET', '/v2/anything', host))).status, 401);
    assert.equal((await raw(srv.url, request('GET', '/health', host))).status, 200);
    const studio = await raw(srv.url, request('GET', '/studio/', host));
    // The studio is public when built (npm test builds it first); 404 otherwise, never 401.
    assert.ok(studio.status === 200 || studio.status === 404, `studio: ${studio.status}`);
  });

  test('with a token, any Host is served (the token is the guard)', async () => {
    assert.equal((await raw(srv.url, request('GET', '/v1/models', 'evil.example', { auth: 's3cret' }))).status, 200);
  });
});

describe('Host check without a token (DNS rebinding)', () => {
  let srv: RunningServer;
  let port: string;
  before(async () => {
    srv = await startServer({ allowedHosts: ['studio.internal'] });
    port = new URL(srv.url).port;
  });
  after(() => srv.close());

  test('foreign Host names are refused; loopback names and allowed ones are served', async () => {
    for (const h of ['evil.example', `evil.example:${port}`, '10.0.0.5', '127.0.0.1.evil.example']) {
      const res = await raw(srv.url, request('GET', '/v1/models', h));
      assert.equal(res.status, 403, `${h}: ${res.body}`);
      assert.match(res.body, /not accepted/);
    }
    for (const h of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', 'studio.internal']) {
      assert.equal((await raw(srv.url, request('GET', '/v1/models', h))).status, 200, h);
    }
  });
});

describe('one request cannot take the server down', () => {
  let srv: RunningServer;
  let encodes = 0;
  before(async () => {
    srv = await startServer({ limits: { bodyBytes: 16 * 1024 * 1024 } });
    const up = await postJson(`${srv.url}/v1/vectors`, { name: 'sad', directions: { '0': small(D), '1': small(D) } });
    assert.equal(up.status, 201);
    // Count tokenizer calls: an oversize prompt must be refused before the tokenizer sees it.
    const model = srv.server.ctx.model;
    const encode = model.encode.bind(model);
    model.encode = (text: string) => {
      encodes++;
      return encode(text);
    };
  });
  after(() => srv.close());

  test('absurd layer ranges are 400s, not a heap blow-up or a 500', async () => {
    for (const to of [1_000_000_000, 1e15, 4095]) {
      const res = await postJson<ErrorJson>(`${srv.url}/v1/completions`, {
        prompt: 'Once upon a time',
        max_tokens: 8,
        steering: { interventions: [{ vector: 'sad', layers: { from: 0, to }, coefficient: 4 }] },
      });
      assertError(res, 400, to === 4095 ? /layer 4095 does not exist/ : /layers/);
    }
    const ok = await postJson(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 2, steering: { interventions: [{ vector: 'sad', layers: { from: 0, to: 1 }, coefficient: 4 }] } });
    assert.equal(ok.status, 200);
  });

  test('every other size in a request is bounded', async () => {
    const c = (extra: Record<string, unknown>) => postJson<ErrorJson>(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 2, ...extra });
    assertError(await c({ n: 1e12 }), 400, /n/);
    assertError(await c({ stop: ['x'.repeat(300)] }), 400, /stop/);
    assertError(await c({ logit_bias: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [String(i), 1])) }), 400, /logit_bias/);
    assertError(await c({ logit_bias: { '99999999999999': 1 } }), 400, /logit_bias/);
    assertError(await c({ steering: { interventions: [{ vector: 'sad', layers: [1], positions: { from: 2 ** 40 } }] } }), 400, /positions/);
    assertError(await c({ steering: { interventions: [{ vector: 'sad', layers: [1], coefficient: 1e300 }] } }), 400, /coefficient/);
    assertError(await c({ steering: { interventions: Array.from({ length: 300 }, () => ({ vector: 'sad', layers: [1] })) } }), 400, /interventions/);
    assertError(await c({ steering: { interventions: [], decoding: { processors: [{ type: 'ban', text: 'x'.repeat(300) }] } } }), 400, /decoding/);
    const many = Array.from({ length: 64 }, () => ({ type: 'ban', text: Array.from({ length: 8 }, () => 'y'.repeat(200)) }));
    assertError(await c({ steering: { interventions: [], decoding: { processors: many } } }), 400, /characters together/);
    assertError(await c({ steering: { interventions: [{ vector: { inline: small(D, 3e38) }, layers: [1] }] } }), 400, /norm/);
  });

  test('oversize prompts are refused before tokenizing', async () => {
    const cap = srv.server.ctx.limits.maxPromptChars;
    assert.equal(cap, 512 * 16); // TinyStories-656K: 512-token context × 16 characters
    const before = encodes;
    // A 12 MB prompt is over the prompt routes' body limit: 413 before the JSON is even parsed.
    const huge = await postJson<ErrorJson>(`${srv.url}/v1/completions`, { prompt: 'word '.repeat(2_400_000), max_tokens: 1 });
    assertError(huge, 413, /too large/);
    // Just over the character cap (under the body limit): 400, naming characters, no tokenizer call.
    assertError(await postJson(`${srv.url}/v1/completions`, { prompt: 'a'.repeat(cap + 1), max_tokens: 1 }), 400, /characters/);
    assertError(await postJson(`${srv.url}/v1/completions`, { prompt: Array.from({ length: 4 }, () => 'b'.repeat(cap / 2)), max_tokens: 1 }), 400, /characters/);
    const messages = Array.from({ length: 512 }, () => ({ role: 'user', content: 'c'.repeat(20_000) }));
    assert.equal((await postJson(`${srv.url}/v1/chat/completions`, { messages, max_tokens: 1 })).status, 413);
    const fewMessages = Array.from({ length: 9 }, () => ({ role: 'user', content: 'c'.repeat(1000) }));
    assertError(await postJson(`${srv.url}/v1/chat/completions`, { messages: fewMessages, max_tokens: 1 }), 400, /characters/);
    assertError(await postJson(`${srv.url}/v1/score`, { input: ['d'.repeat(cap), 'e'] }), 400, /characters/);
    assertError(await postJson(`${srv.url}/v1/activations`, { input: 'f'.repeat(cap + 5), layers: [0] }), 400, /characters/);
    assert.equal(encodes, before, 'the tokenizer ran on a refused prompt');
    // A prompt within the cap is tokenized and served as before.
    assert.equal((await postJson(`${srv.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 2 })).status, 200);
    assert.ok(encodes > before);
    const health = await getJson(`${srv.url}/health`);
    assert.equal(health.status, 200);
  });

  test('/v1/models reports the prompt limit', async () => {
    const { json } = await getJson<{ data: { steerer: { limits: { maxPromptChars: number } } }[] }>(`${srv.url}/v1/models`);
    assert.equal(json.data[0].steerer.limits.maxPromptChars, srv.server.ctx.limits.maxPromptChars);
  });
});

describe('the spec parser bounds ranges for every caller (CLI too)', () => {
  const model = { hiddenSize: D, numLayers: LAYERS };
  const vec: SteeringVector = {
    directions: new Map([[0, new Float32Array(D).fill(0.1)], [1, new Float32Array(D).fill(0.1)]]),
    meta: { format: 'steerer.vector/v1', model: { name: 'm', architecture: 'llama', hiddenSize: D, numLayers: LAYERS }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString() },
  };
  const resolver: SpecResolver = { vector: () => vec, sae: () => assert.fail('no SAE here') };

  test('a range past the model fails before it is spelled out', () => {
    const spec = parseSteeringSpec({ interventions: [{ vector: 'v', layers: { from: 0, to: 4000 } }] });
    assert.throws(() => compileSteeringSpec(spec, model, resolver), (e: unknown) => e instanceof InvalidInputError && /layer 4000 does not exist/.test(e.message));
    assert.throws(() => parseSteeringSpec({ interventions: [{ vector: 'v', layers: { from: 0, to: 1e9 } }] }), InvalidInputError);
    assert.throws(() => parseSteeringSpec({ interventions: [{ vector: 'v', layers: [1], positions: { last: 2 ** 30 } }] }), InvalidInputError);
    assert.equal(compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: 'v', layers: { from: 0, to: 1 } }] }), model, resolver).length, 2);
  });

  test('non-finite and absurd directions are refused with the layer named', () => {
    const inf = new Array<number>(D).fill(0.1);
    inf[7] = 3e38;
    const spec = parseSteeringSpec({ interventions: [{ vector: { inlineLayers: { '1': inf } }, layers: [1] }] });
    assert.throws(() => compileSteeringSpec(spec, model, resolver), /direction for layer 1 has norm 3\.000e\+38/);
  });
});

describe('errors and files', () => {
  test('errors about data-directory files name them relative to it; uploads are not named by their temp file', async () => {
    const srv = await startServer();
    try {
      fs.mkdirSync(path.join(srv.dataDir, 'saes'), { recursive: true });
      fs.writeFileSync(path.join(srv.dataDir, 'saes', 'broken.safetensors'), Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125]));
      const res = await postJson<ErrorJson>(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 2, steering: { interventions: [{ sae: 'broken.safetensors', features: [0] }] } });
      assertError(res, 400, /saes\/broken\.safetensors/);
      assert.ok(!res.json.error.message.includes(srv.dataDir), res.json.error.message);
      assert.ok(!res.json.error.message.includes(os.tmpdir()), res.json.error.message);

      // A GGUF control vector uploaded through the safetensors field: described by its name, not the temp file.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-gguf-'));
      const file = path.join(dir, 'v.gguf');
      const v: SteeringVector = {
        directions: new Map([[1, new Float32Array(D).fill(0.2)]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'llama', hiddenSize: D, numLayers: LAYERS }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString() },
      };
      exportControlVectorGguf(file, v, 'llama');
      const up = await postJson<{ description?: string }>(`${srv.url}/v1/vectors`, { name: 'from-gguf', safetensors: fs.readFileSync(file).toString('base64') });
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(up.status, 201, JSON.stringify(up.json));
      assert.equal(up.json.description, 'uploaded as "from-gguf"');
      assert.ok(!JSON.stringify(up.json).includes('.upload-'));
    } finally {
      await srv.close();
    }
  });

  test('vectors with absurd or non-finite values are refused at upload, in both forms', async () => {
    const srv = await startServer();
    try {
      assertError(await postJson(`${srv.url}/v1/vectors`, { name: 'huge', directions: { '1': small(D, 3e38) } }), 400, /norm/);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-huge-'));
      const file = path.join(dir, 'huge.safetensors');
      const v: SteeringVector = {
        directions: new Map([[1, new Float32Array(D).fill(3e38)]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'llama', hiddenSize: D, numLayers: LAYERS }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString() },
      };
      saveVector(file, v);
      const up = await postJson(`${srv.url}/v1/vectors`, { name: 'huge2', safetensors: fs.readFileSync(file).toString('base64') });
      fs.rmSync(dir, { recursive: true, force: true });
      assertError(up, 400, /norm/);
      const listed = await getJson<{ data: unknown[] }>(`${srv.url}/v1/vectors`);
      assert.equal(listed.json.data.length, 0);
      assert.deepEqual(fs.readdirSync(path.join(srv.dataDir, 'vectors')), []);
    } finally {
      await srv.close();
    }
  });

  test("a killed writer's temp files are cleared at the next start; a live writer's are kept", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-stale-'));
    try {
      const vectors = path.join(dataDir, 'vectors');
      fs.mkdirSync(vectors, { recursive: true });
      // Pid 2^22+1 is above Linux's pid_max ceiling, so no such process can exist.
      const dead = 4194305;
      const stale = [path.join(vectors, `.a.safetensors.${dead}.0123456789ab.tmp`), path.join(dataDir, `.steerer.json.${dead}.ba9876543210.tmp`)];
      const live = path.join(vectors, `.b.safetensors.${process.pid}.00000000ffff.tmp`);
      const unrelated = path.join(vectors, 'notes.tmp');
      for (const f of [...stale, live, unrelated]) fs.writeFileSync(f, 'partial');
      writeSafetensors(path.join(vectors, 'real.safetensors'), { x: { shape: [1], data: new Float32Array([1]) } });
      const srv = await startServer({ dataDir });
      await srv.close();
      for (const f of stale) assert.ok(!fs.existsSync(f), `${f} should be gone`);
      assert.ok(fs.existsSync(live), 'a live writer keeps its temp file');
      assert.ok(fs.existsSync(unrelated), 'files that are not atomic-write temps are left alone');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
