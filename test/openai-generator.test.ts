import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { openAiGenerator } from '../src/generators/openai-generator.js';
import { GeneratorError } from '../src/generators/text-generator.js';
import { InvalidInputError } from '../src/io/errors.js';

/** What the test server does with the next request; each test sets it. */
type Handler = (body: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

let server: http.Server;
let baseUrl: string;
let handler: Handler;
let received: { url: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
let inFlight = 0;
let maxInFlight = 0;

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
const completion = (content: string) => ({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });

before(async () => {
  server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(data) as Record<string, unknown>;
      received.push({ url: req.url ?? '', headers: req.headers, body });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on('close', () => inFlight--);
      void handler(body, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  received = [];
  inFlight = 0;
  maxInFlight = 0;
});

describe('openAiGenerator', () => {
  test('posts the OpenAI body to /chat/completions and returns the contents in request order', async () => {
    handler = (body, _req, res) => {
      const msgs = body.messages as { content: string }[];
      // Answer later requests sooner, so order must come from the index, not arrival.
      const delay = msgs[0].content === 'first' ? 60 : 0;
      setTimeout(() => reply(res, 200, completion(`echo:${msgs[msgs.length - 1].content}`)), delay);
    };
    // Trailing slash on the base URL is ignored.
    const gen = openAiGenerator({ baseUrl: `${baseUrl}/`, model: 'tiny', apiKey: 'sk-test', concurrency: 2 });
    const out = await gen.complete([
      { messages: [{ role: 'user', content: 'first' }], maxTokens: 7, temperature: 0.5, seed: 42, stop: ['\n\n'] },
      { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'second' }] },
    ]);
    assert.deepEqual(out, ['echo:first', 'echo:second']);
    assert.equal(received.length, 2);
    for (const r of received) {
      assert.equal(r.url, '/v1/chat/completions');
      assert.equal(r.headers.authorization, 'Bearer sk-test');
      assert.equal(r.headers['content-type'], 'application/json');
    }
    const first = received.find((r) => (r.body.messages as { content: string }[])[0].content === 'first')!;
    assert.deepEqual(first.body, {
      model: 'tiny',
      messages: [{ role: 'user', content: 'first' }],
      max_tokens: 7,
      temperature: 0.5,
      seed: 42,
      stop: ['\n\n'],
    });
    // Unset fields are left out rather than sent as null.
    const second = received.find((r) => r !== first)!;
    assert.deepEqual(second.body, {
      model: 'tiny',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'second' },
      ],
    });
    assert.match(gen.name, /^openai:tiny@127\.0\.0\.1:\d+$/);
  });

  test('retries a 500 and a 429, then succeeds', async () => {
    let calls = 0;
    handler = (_body, _req, res) => {
      calls++;
      if (calls === 1) reply(res, 500, { error: 'overloaded' });
      else if (calls === 2) reply(res, 429, { error: 'slow down' });
      else reply(res, 200, completion('finally'));
    };
    const gen = openAiGenerator({ baseUrl, model: 'm', retries: 2, retryDelayMs: 5 });
    assert.deepEqual(await gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), ['finally']);
    assert.equal(calls, 3);
  });

  test('gives up after the retries with the URL, status and body excerpt in the message', async () => {
    let calls = 0;
    handler = (_body, _req, res) => {
      calls++;
      reply(res, 503, `busy ${'z'.repeat(500)}`);
    };
    const gen = openAiGenerator({ baseUrl, model: 'm', retries: 1, retryDelayMs: 1 });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), (e: unknown) => {
      assert.ok(e instanceof GeneratorError);
      assert.ok(e.message.includes(`${baseUrl}/chat/completions`), e.message);
      assert.match(e.message, /HTTP 503: busy z+…/);
      assert.match(e.message, /after 2 attempts/);
      // 200 characters of body at most ("busy " + 195 z's).
      assert.equal(/z+/.exec(e.message)![0].length, 195);
      return true;
    });
    assert.equal(calls, 2);
  });

  test('a 4xx other than 429 is not retried', async () => {
    let calls = 0;
    handler = (_body, _req, res) => {
      calls++;
      reply(res, 404, { error: { message: 'model not found' } });
    };
    const gen = openAiGenerator({ baseUrl, model: 'nope', retries: 3, retryDelayMs: 1 });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), /HTTP 404: \{"error":\{"message":"model not found"\}\}/);
    assert.equal(calls, 1);
  });

  test('a 400 that states a max_tokens limit is asked again within it, once, and later requests start capped', async () => {
    handler = (body, _req, res) => {
      if ((body.max_tokens as number) > 100) reply(res, 400, { error: { message: `max_tokens ${String(body.max_tokens)} is above this server's limit of 100`, type: 'invalid_request_error', code: 'max_tokens_too_large', param: 'max_tokens' } });
      else reply(res, 200, completion(`ok ${String(body.max_tokens)}`));
    };
    const notices: string[] = [];
    const gen = openAiGenerator({ baseUrl, model: 'm', retries: 0, concurrency: 1, onNotice: (m) => notices.push(m) });
    const ask = (maxTokens: number) => ({ messages: [{ role: 'user' as const, content: 'x' }], maxTokens });
    assert.deepEqual(await gen.complete([ask(300), ask(250), ask(40)]), ['ok 100', 'ok 100', 'ok 40']);
    assert.deepEqual(received.map((r) => r.body.max_tokens), [300, 100, 100, 40]);
    assert.equal(notices.length, 1);
    assert.match(notices[0], /allows at most 100 new tokens per request: asking for 100 where 300 were wanted/);
    // Known beforehand: capped from the first request.
    received = [];
    const known = openAiGenerator({ baseUrl, model: 'm', maxTokensLimit: 50 });
    assert.deepEqual(await known.complete([ask(80)]), ['ok 50']);
    assert.deepEqual(received.map((r) => r.body.max_tokens), [50]);
    assert.throws(() => openAiGenerator({ baseUrl, model: 'm', maxTokensLimit: 0 }), /maxTokensLimit/);
    // A 400 that states no limit is an error as before, not retried.
    received = [];
    handler = (_body, _req, res) => reply(res, 400, { error: { message: 'max_tokens is too large', code: null, param: 'max_tokens' } });
    await assert.rejects(gen.complete([ask(30)]), /HTTP 400/);
    assert.equal(received.length, 1);
  });

  test('a malformed response is a GeneratorError, not retried', async () => {
    let calls = 0;
    handler = (_body, _req, res) => {
      calls++;
      if (calls === 1) reply(res, 200, { choices: [{ message: { content: null } }] });
      else reply(res, 200, 'not json at all');
    };
    const gen = openAiGenerator({ baseUrl, model: 'm', retryDelayMs: 1 });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), (e: unknown) => {
      assert.ok(e instanceof GeneratorError);
      assert.match(e.message, /returned no chat completion \(choices\.0\.message\.content: /);
      return true;
    });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), /body that is not JSON: not json at all/);
    assert.equal(calls, 2);
  });

  test('a server that never answers times out with a clear error', { timeout: 30_000 }, async () => {
    // Hold the request open: only the client giving up can close it.
    let closed!: Promise<void>;
    handler = (_body, _req, res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()));
    };
    const gen = openAiGenerator({ baseUrl, model: 'm', timeoutMs: 150, retries: 2, retryDelayMs: 1 });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), (e: unknown) => {
      assert.ok(e instanceof GeneratorError);
      assert.match(e.message, /timed out after 150 ms/);
      return true;
    });
    assert.equal(received.length, 1, 'timeouts are not retried');
    // The client abandoned the request (closed the connection) rather than leaving it waiting.
    await closed;
    assert.equal(inFlight, 0);
    server.closeAllConnections();
  });

  test('an unreachable server is a network error, retried then reported', async () => {
    // A port that was just free: bind, read the port, close.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const gen = openAiGenerator({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', retries: 1, retryDelayMs: 1 });
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }] }]), /POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions failed: .*ECONNREFUSED.* \(after 2 attempts\)/);
  });

  test('never has more than `concurrency` requests in flight', async () => {
    handler = (body, _req, res) => {
      const msgs = body.messages as { content: string }[];
      setTimeout(() => reply(res, 200, completion(msgs[0].content.toUpperCase())), 30);
    };
    const gen = openAiGenerator({ baseUrl, model: 'm', concurrency: 3 });
    const inputs = Array.from({ length: 10 }, (_, i) => `item${i}`);
    const out = await gen.complete(inputs.map((content) => ({ messages: [{ role: 'user', content }] })));
    assert.deepEqual(out, inputs.map((s) => s.toUpperCase()));
    assert.equal(received.length, 10);
    assert.equal(maxInFlight, 3);
  });

  test('rejects bad options and requests up front', async () => {
    assert.throws(() => openAiGenerator({ baseUrl: 'not a url', model: 'm' }), InvalidInputError);
    assert.throws(() => openAiGenerator({ baseUrl: 'ftp://x/v1', model: 'm' }), /http\(s\)/);
    assert.throws(() => openAiGenerator({ baseUrl, model: '' }), /model name/);
    assert.throws(() => openAiGenerator({ baseUrl, model: 'm', concurrency: 0 }), /concurrency/);
    const gen = openAiGenerator({ baseUrl, model: 'm' });
    await assert.rejects(gen.complete([{ messages: [] }]), /request 0 has no messages/);
    await assert.rejects(gen.complete([{ messages: [{ role: 'user', content: 'x' }], temperature: -1 }]), /temperature/);
    assert.equal(received.length, 0);
    assert.deepEqual(await gen.complete([]), []);
  });
});
