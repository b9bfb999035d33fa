import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChatMessage } from '../src/model/chat-template.js';
import { saveProbe, loadProbe } from '../src/probes/probe-file.js';
import { encodeRenderedChat } from '../src/runtime/chat.js';
import { openModel } from '../src/runtime/open-model.js';
import { compileChooser } from '../src/steering/choose.js';
import { ProbePolicy } from '../src/steering/choose-probe.js';
import { ToolChooser } from '../src/steering/choose-tools.js';
import { parseSteeringSpec, type SpecResolver } from '../src/steering/spec.js';
import { loadVector, saveVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { HERMES_TEMPLATE, writeScriptedStandIn } from './helpers/chat-stand-in.js';
import { rng } from './helpers/prng.js';
import { tempDir } from './helpers/random-model.js';
import { steererInProcess } from './helpers/cli-in-process.js';
import { postJson, startServer, type RunningServer } from './helpers/server.js';
import { skipUnlessShared } from './helpers/shared.js';

/**
 * `choose` over a real socket, on a SCRIPTED STAND-IN (no capable chat model is available): a
 * random GPT-2 with a tool-calling template whose position embeddings make it write a steer
 * call and then a short reply (test/helpers/chat-stand-in.ts). The server must hide the call,
 * feed the answer, steer from the token after the call and report what was chosen, as the
 * library does for the same model; probe mode reports its readings and choice.
 */

const LAYER = 1;
const CALL = '<tool_call>\n{"name": "steer", "arguments": {"vector": "sad", "strength": 1.5}}\n</tool_call>';
/** The answer the Hermes template renders after that call (written out by hand from HERMES_TEMPLATE). */
const ANSWER = '<|im_end|>\n<|im_start|>user\n<tool_response>\n{"applied":{"vector":"sad","strength":1.5}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n';
const REPLY = 'It rained.';
const TOOLS = { choose: { mode: 'tools', vectors: [{ vector: 'sad' }] } };
const PROBE = (target: number) => ({ choose: { mode: 'probe', candidates: [{ vector: 'sad', probe: 'sad.probe.safetensors', target }] } });

interface Chosen {
  mode: string;
  events?: { status: string; vector: string; strength: number; from: number }[];
  applied?: Record<string, unknown>[];
  chosen?: string;
  readings?: { vector: string; level: number }[];
}
interface Completion {
  choices: { message?: { content: string }; text?: string; finish_reason: string }[];
  steerer: { chosen?: Chosen[] };
  usage?: { prompt_tokens: number };
  error?: { message: string; code: string };
}

describe('choose over HTTP', { skip: skipUnlessShared(sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json')) }, () => {
  let srv: RunningServer;
  let modelDir: string;
  let dataDir: string;
  let resolver: SpecResolver;
  let callFrom = 0;
  const messages: ChatMessage[] = [{ role: 'user', content: 'How is the weather?' }];

  before(async () => {
    const stand = writeScriptedStandIn(HERMES_TEMPLATE);
    modelDir = stand.dir;
    dataDir = tempDir('choose-server');
    fs.mkdirSync(path.join(dataDir, 'vectors'));
    fs.mkdirSync(path.join(dataDir, 'probes'));
    const local = openModel(modelDir, { threads: 1 });
    const D = local.spec.hiddenSize;
    const r = rng(3);
    const vectorFile = path.join(dataDir, 'vectors', 'sad.safetensors');
    saveVector(vectorFile, {
      directions: new Map([[LAYER, Float32Array.from({ length: D }, () => r() - 0.5)]]),
      meta: { format: 'steerer.vector/v1', model: { name: 'unknown', architecture: 'unknown', hiddenSize: D, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), recommended: { layers: [LAYER], coefficient: 2 }, description: 'sadness' },
    });
    saveProbe(path.join(dataDir, 'probes', 'sad.probe.safetensors'), {
      task: 'classification', site: 'resid_post', positions: 'last', classes: ['other', 'sad'], hiddenSize: D,
      layers: new Map([[LAYER, { weight: Float32Array.from({ length: D }, () => (r() - 0.5) / 8), bias: Float32Array.of(0) }]]),
    });
    resolver = { vector: () => loadVector(vectorFile), probe: (ref) => loadProbe(path.join(dataDir, 'probes', ref)), sae: () => assert.fail('no SAEs'), model: () => assert.fail('no models') };

    // The script depends only on the prompt's length, which the tokenizer and template fix.
    const chooser = compileChooser(local, parseSteeringSpec(TOOLS), resolver) as ToolChooser;
    const P0 = encodeRenderedChat(local, chooser.promptText(messages)).length;
    const ids = (t: string): number[] => local.encode(t, { addBos: false });
    const [call, answer, reply] = [ids(CALL), ids(ANSWER), [...ids(REPLY), local.spec.eosTokenIds[0]]];
    callFrom = P0 + call.length;
    // Logits at position p choose the token at p + 1.
    const script = new Map<number, number>();
    call.forEach((t, i) => script.set(P0 - 1 + i, t));
    reply.forEach((t, j) => script.set(callFrom + answer.length - 1 + j, t));
    await local.dispose();
    stand.at(script);
    srv = await startServer({ modelPath: modelDir, dataDir });
  });
  after(async () => {
    await srv?.close();
    fs.rmSync(modelDir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('tools mode: the call is hidden, the vector applies from the token after it, and the response reports it', async () => {
    const res = await postJson<Completion>(`${srv.url}/v1/chat/completions`, { messages, max_tokens: 80, temperature: 0, steering: TOOLS });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.choices[0].message!.content, REPLY);
    assert.equal(res.json.choices[0].finish_reason, 'stop');
    const chosen = res.json.steerer.chosen![0];
    assert.equal(chosen.mode, 'tools');
    assert.deepEqual(chosen.events!.map((e) => [e.status, e.vector, e.strength, e.from]), [['applied', 'sad', 1.5, callFrom]]);
    assert.deepEqual(chosen.applied, [{ vector: 'sad', layers: 'recommended', coefficient: 3, positions: { from: callFrom } }]);

    // The library on the same model gives the same reply and choice.
    const model = openModel(modelDir, { threads: 1 });
    try {
      const lib = await (compileChooser(model, parseSteeringSpec(TOOLS), resolver) as ToolChooser).generate(messages, { maxTokens: 80, temperature: 0 });
      assert.equal(lib.text, REPLY);
      assert.deepEqual(lib.applied, chosen.applied);
      // The usage counts the prompt as the model was fed it, tools included.
      assert.equal(res.json.usage?.prompt_tokens, lib.promptTokens.length);
      assert.ok(lib.promptTokens.length > model.encode(messages[0].content).length);
    } finally {
      await model.dispose();
    }

    // The CLI: --offer is the short form of this choose section.
    const steerer = steererInProcess(dataDir);
    const args = ['generate', '-m', modelDir, '--chat', '-p', messages[0].content, '--offer', 'vectors/sad.safetensors', '--temperature', '0', '-n', '80', '-t', '1'];
    const cli = await steerer(...args, '--json');
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout) as { text: string; choose: Chosen };
    assert.equal(out.text, REPLY);
    assert.deepEqual(out.choose.applied, [{ ...chosen.applied![0], vector: 'vectors/sad.safetensors' }]);
    const said = await steerer(...args);
    assert.equal(said.stdout.trim(), REPLY);
    assert.match(said.stderr, new RegExp(`the model called steer \\(sad, strength 1\\.5\\) at token \\d+: applied vectors/sad\\.safetensors at layer 1, coefficient 3 from position ${callFrom}`));

    // Streaming: the reply arrives as deltas, the choice on the last chunk.
    const stream = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages, max_tokens: 80, temperature: 0, stream: true, steering: TOOLS }) });
    const events = (await stream.text()).split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { choices: { delta: { content?: string }; finish_reason: string | null }[]; steerer?: { chosen?: Chosen[] } });
    assert.equal(events.map((e) => e.choices[0]?.delta.content ?? '').join(''), REPLY);
    const last = events.filter((e) => e.choices[0]?.finish_reason)[0];
    assert.equal(last.steerer!.chosen![0].events![0].vector, 'sad');
  });

  test('probe mode: the readings and the chosen vector are reported; tools mode needs a chat', async () => {
    const local = openModel(modelDir, { threads: 1 });
    try {
      const prompt = local.encode('Hello there');
      const decision = await (compileChooser(local, parseSteeringSpec(PROBE(1)), resolver) as ProbePolicy).decide(prompt);
      const res = await postJson<Completion>(`${srv.url}/v1/completions`, { prompt: 'Hello there', max_tokens: 3, temperature: 0, steering: PROBE(1) });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const chosen = res.json.steerer.chosen![0];
      assert.equal(chosen.chosen, 'sad');
      assert.ok(Math.abs(chosen.readings![0].level - decision.readings[0].level) < 1e-6);
      const met = await postJson<Completion>(`${srv.url}/v1/completions`, { prompt: 'Hello there', max_tokens: 3, temperature: 0, steering: PROBE(0) });
      assert.equal(met.json.steerer.chosen![0].chosen, undefined, 'a target of 0 is always met');
    } finally {
      await local.dispose();
    }
    const text = await postJson<Completion>(`${srv.url}/v1/completions`, { prompt: 'Hi', max_tokens: 3, steering: TOOLS });
    assert.equal(text.status, 400);
    assert.match(text.json.error!.message, /works in \/v1\/chat\/completions/);
    const unknown = await postJson<Completion>(`${srv.url}/v1/chat/completions`, { messages, max_tokens: 3, steering: { choose: { mode: 'tools', vectors: [{ vector: 'nope' }] } } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error!.code, 'vector_not_found');
  });
});
