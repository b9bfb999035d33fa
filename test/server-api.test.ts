import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { generate } from '../src/decoding/generate.js';
import { loadModel } from '../src/model/load.js';
import { collectActivations } from '../src/runtime/activations.js';
import { HookedModel } from '../src/runtime/model.js';
import { scoreTokens } from '../src/runtime/score.js';
import { compileSteeringSpec, parseSteeringSpec, type SpecResolver } from '../src/steering/spec.js';
import { saveVector } from '../src/steering/vector-file.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { rng } from './helpers/prng.js';
import { getJson, postJson, startServer, TINY, type RunningServer } from './helpers/server.js';

/**
 * The HTTP API over a real socket, checked against the library called directly: the same
 * prompt, seed and steering must give the same text, log-probs and activations.
 */

const D = 128;
const noFiles: SpecResolver = {
  vector: () => assert.fail('no files here'),
  sae: () => assert.fail('no files here'),
  model: () => assert.fail('no files here'),
  probe: () => assert.fail('no files here'),
};

function unitVector(seed: number): number[] {
  const r = rng(seed);
  const v = Array.from({ length: D }, () => r() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

interface ErrorJson {
  error: { message: string; type: string; code: string | null; param: string | null };
}

describe('server API', () => {
  let srv: RunningServer;
  let ref: HookedModel;
  let client: OpenAI;
  const sadLike = unitVector(7);

  before(async () => {
    srv = await startServer();
    ref = new HookedModel(loadModel(TINY), { threads: 1 });
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const up = await postJson(`${srv.url}/v1/vectors`, { name: 'dir7', directions: { '1': sadLike }, recommended: { layers: [1], coefficient: 6 } });
    assert.equal(up.status, 201, JSON.stringify(up.json));
  });
  after(async () => {
    await srv.close();
    await ref.dispose();
  });

  const steerSpec = { version: 1, interventions: [{ vector: 'dir7', layers: [1], coefficient: 6 }] };
  const refHooks = () => compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: sadLike }, layers: [1], coefficient: 6 }] }), ref.spec, noFiles);

  test('health and models describe the served model', async () => {
    const health = await getJson(`${srv.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    assert.equal(models.data[0].id, 'tinystories-656k');
  });

  test('the openai client: chat completion equals the library, unsteered and steered, streamed or not', async () => {
    const messages = [{ role: 'user' as const, content: 'Once upon a time, there was a little girl' }];
    const prompt = ref.encode(messages[0].content);
    const base = await client.chat.completions.create({ model: 'tinystories-656k', messages, max_tokens: 40, seed: 11, temperature: 0.9 });
    const expectedBase = await generate(ref, prompt, { maxTokens: 40, seed: 11, temperature: 0.9 });
    assert.equal(base.object, 'chat.completion');
    assert.equal(base.choices[0].message.content, expectedBase.text);
    assert.equal(base.usage?.completion_tokens, expectedBase.tokens.length);
    assert.equal(base.usage?.prompt_tokens, prompt.length);

    // `steering` is not in the client's types; the client sends extra body fields as they are.
    const steeredBody = { model: 'tinystories-656k', messages, max_tokens: 40, seed: 11, temperature: 0.9, steering: steerSpec };
    const steered = await client.chat.completions.create(steeredBody as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const expectedSteered = await generate(ref, prompt, { maxTokens: 40, seed: 11, temperature: 0.9, hooks: refHooks() });
    assert.equal(steered.choices[0].message.content, expectedSteered.text);
    assert.notEqual(expectedSteered.text, expectedBase.text, 'the vector should change the story');

    const stream = await client.chat.completions.create({ ...steeredBody, stream: true, stream_options: { include_usage: true } } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, expectedSteered.text);
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, expectedSteered.tokens.length);
  });

  test('the openai client: text completions, n choices with consecutive seeds, stop strings', async () => {
    const prompt = 'Once upon a time';
    const res = await client.completions.create({ model: 'tinystories-656k', prompt, max_tokens: 24, n: 3, seed: 100, temperature: 1 });
    assert.equal(res.choices.length, 3);
    for (let i = 0; i < 3; i++) {
      const expected = await generate(ref, ref.encode(prompt), { maxTokens: 24, seed: 100 + i, temperature: 1 });
      assert.equal(res.choices[i].text, expected.text, `choice ${i}`);
    }
    const greedy = await generate(ref, ref.encode(prompt), { maxTokens: 40, temperature: 0 });
    const cut = greedy.text.split(' ')[4];
    const stopped = await client.completions.create({ model: 'tinystories-656k', prompt, max_tokens: 40, temperature: 0, stop: [cut] });
    assert.equal(stopped.choices[0].text, greedy.text.slice(0, greedy.text.indexOf(cut)));
    assert.equal(stopped.choices[0].finish_reason, 'stop');
  });

  test("a finished story ends without the model's end marker, streamed or not, with finish_reason stop", async () => {
    // The model spells "<|end_story|>" as ordinary tokens before its EOS; the server must not pass it on.
    const prompt = 'Once upon a time';
    const body = { model: 'tinystories-656k', prompt, max_tokens: 300, temperature: 0 };
    const expected = await generate(ref, ref.encode(prompt), { maxTokens: 300, temperature: 0 });
    const whole = await client.completions.create(body);
    assert.equal(whole.choices[0].finish_reason, 'stop');
    assert.equal(whole.choices[0].text, expected.text);
    assert.ok(whole.choices[0].text.length > 100 && !whole.choices[0].text.includes('<|'), whole.choices[0].text.slice(-40));
    assert.equal(whole.usage?.completion_tokens, expected.tokens.length);

    const stream = await client.completions.create({ ...body, stream: true });
    const deltas: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        deltas.push(c.text);
        finish = c.finish_reason ?? finish;
      }
    }
    assert.equal(finish, 'stop');
    assert.equal(deltas.join(''), expected.text);
    assert.ok(!deltas.some((d) => d.includes('<')), 'no chunk carries any part of the marker');

    const chat = await client.chat.completions.create({ model: 'tinystories-656k', messages: [{ role: 'user', content: prompt }], max_tokens: 300, temperature: 0 });
    assert.equal(chat.choices[0].finish_reason, 'stop');
    assert.equal(chat.choices[0].message.content, expected.text);
  });

  test('different specs in flight never leak: each request gives what it gives alone', async () => {
    await postJson(`${srv.url}/v1/vectors`, { name: 'dir8', directions: { '0': unitVector(8), '1': unitVector(9) } });
    const specs = [
      null,
      steerSpec,
      { interventions: [{ vector: 'dir8', layers: [0, 1], coefficient: -5 }] },
      { interventions: [{ vector: 'dir7', layers: [1], coefficient: 6, positions: 'generated' }] },
      { interventions: [{ vector: { inline: unitVector(3) }, layers: [0], coefficient: 4, operator: 'add' }] },
    ];
    const requests = Array.from({ length: 15 }, (_, i) => ({
      prompt: ['Once upon a time', 'Tom had a big red ball', 'The sun was'][i % 3],
      seed: 40 + (i % 4),
      steering: specs[i % specs.length],
      max_tokens: 24,
      temperature: 1,
    }));
    const alone: string[] = [];
    for (const r of requests) {
      const { status, json } = await postJson<{ choices: { text: string }[] }>(`${srv.url}/v1/completions`, r);
      assert.equal(status, 200);
      alone.push(json.choices[0].text);
    }
    const before = srv.server.ctx.scheduler.stats;
    const together = await Promise.all(requests.map((r) => postJson<{ choices: { text: string }[] }>(`${srv.url}/v1/completions`, r)));
    const after = srv.server.ctx.scheduler.stats;
    together.forEach((t, i) => assert.equal(t.json.choices[0].text, alone[i], `request ${i} changed when run among others`));
    // They really were batched: fewer batches than requests.
    assert.ok(after.batches - before.batches < requests.length, `batches ${after.batches - before.batches} for ${requests.length} requests`);
    // Unsteered and steered texts differ, so a leak would have shown.
    assert.notEqual(alone[0], alone[5]);
  });

  test('/v1/score equals scoreTokens, steered and not', async () => {
    const text = 'Once upon a time there was a happy dog. He liked to play.';
    const ids = ref.encode(text);
    const { status, json } = await postJson<{ data: { ids: number[]; logprobs: number[]; perplexity: number; tokens: string[] }[] }>(`${srv.url}/v1/score`, { input: [text] });
    assert.equal(status, 200);
    const expected = await scoreTokens(ref, ids);
    assert.deepEqual(json.data[0].ids, ids);
    assert.equal(json.data[0].tokens.length, ids.length);
    json.data[0].logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - expected.logprobs[i]) < 1e-9));
    const nll = -expected.logprobs.reduce((s, x) => s + x, 0) / expected.logprobs.length;
    assert.ok(Math.abs(json.data[0].perplexity - Math.exp(nll)) < 1e-9);
    const steered = await postJson<{ data: { logprobs: number[] }[] }>(`${srv.url}/v1/score`, { input: text, steering: steerSpec });
    const expectedSteered = await scoreTokens(ref, ids, { hooks: refHooks() });
    steered.json.data[0].logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - expectedSteered.logprobs[i]) < 1e-9));
  });

  test('/v1/activations equals collectActivations; adding c·v at layer 1 moves that layer by exactly c·v', async () => {
    const text = 'Lily saw a bird';
    const body = { input: text, layers: [0, 1], positions: 'all' };
    const { status, json } = await postJson<{ data: { layers: Record<string, number[][]> }[] }>(`${srv.url}/v1/activations`, body);
    assert.equal(status, 200);
    const expected = await collectActivations(ref, [text], { points: [{ layer: 1, site: 'resid_post' }] });
    const rows = json.data[0].layers['1'];
    assert.equal(rows.length, ref.encode(text).length);
    const flat = expected.tensors.get('blocks.1.hook_resid_post')!;
    rows.forEach((row, t) => row.forEach((x, d) => assert.ok(Math.abs(x - flat[t * D + d]) < 1e-5)));
    const steered = await postJson<{ data: { layers: Record<string, number[][]> }[] }>(`${srv.url}/v1/activations`, { ...body, steering: steerSpec });
    steered.json.data[0].layers['1'].forEach((row, t) => row.forEach((x, d) => assert.ok(Math.abs(x - rows[t][d] - 6 * sadLike[d]) < 1e-4, `t=${t} d=${d}`)));
    // Layer 0 comes before the intervention: unchanged.
    assert.deepEqual(steered.json.data[0].layers['0'], json.data[0].layers['0']);
  });

  test('vector registry: upload (inline and file), list, get, conflict, delete', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-vec-')), 'v.safetensors');
    const vector: SteeringVector = {
      directions: new Map([[1, Float32Array.from(unitVector(21))]]),
      // Recorded as made on the served model: a vector from another model is refused (test/vector-model-check.test.ts).
      meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'LlamaForCausalLM', hiddenSize: D, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date().toISOString(), recommended: { layers: [1], coefficient: 3 } },
    };
    saveVector(file, vector);
    const up = await postJson<{ name: string; layers: number[]; recommended: { coefficient: number } }>(`${srv.url}/v1/vectors`, { name: 'from-file', safetensors: fs.readFileSync(file).toString('base64'), description: 'uploaded' });
    assert.equal(up.status, 201, JSON.stringify(up.json));
    assert.deepEqual(up.json.layers, [1]);
    assert.equal(up.json.recommended.coefficient, 3);
    const again = await postJson<ErrorJson>(`${srv.url}/v1/vectors`, { name: 'from-file', directions: { '1': unitVector(1) } });
    assert.equal(again.status, 409);
    const list = await getJson<{ data: { name: string }[] }>(`${srv.url}/v1/vectors`);
    assert.ok(list.json.data.some((v) => v.name === 'from-file'));
    assert.ok(fs.existsSync(path.join(srv.dataDir, 'vectors', 'from-file.safetensors')));
    const one = await getJson<{ description: string; norms: number[] }>(`${srv.url}/v1/vectors/from-file`);
    assert.equal(one.json.description, 'uploaded');
    assert.ok(Math.abs(one.json.norms[0] - 1) < 1e-6);
    // The vector is usable by name in a spec, with its recommended layer and coefficient.
    const used = await postJson(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 4, steering: { interventions: [{ vector: 'from-file', layers: 'recommended', coefficient: 'recommended' }] } });
    assert.equal(used.status, 200);
    const del = await fetch(`${srv.url}/v1/vectors/from-file`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await getJson(`${srv.url}/v1/vectors/from-file`)).status, 404);
    assert.ok(!fs.existsSync(path.join(srv.dataDir, 'vectors', 'from-file.safetensors')));
  });
});
