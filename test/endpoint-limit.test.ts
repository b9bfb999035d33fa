import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { openAiGenerator } from '../src/generators/openai-generator.js';
import { loadVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererInProcess } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';
import { startServer } from './helpers/server.js';

/**
 * `--source endpoint` against `steerer serve`: the concept-data generator asks for 1,272 tokens
 * (10 items of up to 80 words), the server allows 1,024 by default. The generator learns the
 * limit from the server's 400 and asks within it.
 */

const MODEL = sharedPath('models', 'tinystories-656k');

describe('an endpoint with a max_tokens limit', () => {
  test('a default steerer serve answers a request for more than it allows, capped, with a notice', async (t) => {
    const srv = await startServer();
    t.after(() => srv.close());
    const notices: string[] = [];
    // "default" is what --generator-name sends unless told otherwise.
    const gen = openAiGenerator({ baseUrl: `${srv.url}/v1`, model: 'default', onNotice: (m) => notices.push(m) });
    const [reply] = await gen.complete([{ messages: [{ role: 'user', content: 'Once upon a time' }], maxTokens: 1272, temperature: 0 }]);
    assert.equal(typeof reply, 'string');
    assert.deepEqual(notices.map((n) => /at most (\d+) new tokens/.exec(n)?.[1]), ['1024']);
  });

  test('vector create --source endpoint --generator-url works against a default steerer serve', async (t) => {
    const srv = await startServer();
    const dir = tempDir('endpoint-cli');
    // TinyStories cannot write numbered lists, so a proxy passes every request to the real server
    // (its limits, its errors) and, where the server answers, puts a list in the reply.
    const asked: number[] = [];
    const proxy = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { max_tokens: number; seed?: number; messages: { content: string }[] };
        asked.push(parsed.max_tokens);
        void fetch(`${srv.url}${req.url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (upstream) => {
          const text = await upstream.text();
          res.writeHead(upstream.status, { 'content-type': 'application/json' });
          if (upstream.status !== 200) return res.end(text);
          const sad = !/none may mention/.test(parsed.messages.at(-1)!.content);
          const s = parsed.seed ?? 0;
          const items = Array.from({ length: 10 }, (_, i) =>
            sad ? `${i + 1}. Lily cried all day because her dog number ${s * 10 + i} was lost and never came home.` : `${i + 1}. Tom walked to the shop number ${s * 10 + i} and bought some bread for lunch.`,
          );
          res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: items.join('\n') } }] }));
        });
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.after(async () => {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1`;
    const args = ['vector', 'create', '-m', MODEL, '--concept', 'sad', '--source', 'endpoint', '--generator-url', url, '--count', '12', '--layer', '1', '--coef', '2', '--no-report', '-t', '1', '-o', 'sad.safetensors'];
    // On this thread, not in a blocking call: this process serves the endpoint.
    const r = await steererInProcess(dir)(...args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^steerer: note: --generator-url 127\.0\.0\.1:\d+ allows at most 1024 new tokens per request: asking for 1024 where 1272 were wanted/m);
    assert.doesNotMatch(r.stderr, /HTTP 400/);
    assert.ok(asked.includes(1272) && asked.includes(1024), asked.join(','));
    assert.ok(asked.every((n) => n <= 1272));
    const v = loadVector(path.join(dir, 'sad.safetensors'));
    assert.equal(v.meta.auto?.source, 'endpoint');
  });
});
