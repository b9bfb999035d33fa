import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../src/model/chat-template.js';
import type { ForwardInput, ForwardOutput } from '../src/runtime/model.js';
import { HookedModel } from '../src/runtime/model.js';
import type { Hook } from '../src/runtime/hooks.js';
import { loadModel } from '../src/model/load.js';
import { addVector } from '../src/steering/operators.js';
import { compileChooser } from '../src/steering/choose.js';
import { ToolChooser } from '../src/steering/choose-tools.js';
import { modelShape } from '../src/steering/resolve.js';
import { compileSteeringSpec, parseSteeringSpec, type SpecResolver } from '../src/steering/spec.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { HERMES_TEMPLATE, JSON_TEMPLATE, PLAIN_TEMPLATE, ScriptedTokens, writeChatStandIn } from './helpers/chat-stand-in.js';
import { rng } from './helpers/prng.js';
import { skipUnlessShared } from './helpers/shared.js';
import { sharedPath } from '../src/util/shared-path.js';

/**
 * Tools mode of `choose` on a SCRIPTED STAND-IN: no capable chat model is available here, so a
 * random-initialised model with a tool-calling chat template is made to write a tool call by a
 * processor that forces its tokens (test/helpers/chat-stand-in.ts). What is checked is the
 * machinery around the call: the prompt the template renders, the call found in the reply,
 * the steering from the next token on (compared with a reference built by hand), the answer
 * fed back in the template's format, and calls that are ignored. Whether a real model calls the
 * tool well is not tested here.
 */

const SKIP = skipUnlessShared(sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json'));
const LAYER = 1;
const COEF = 3;

/** The LM head in JS: logits of row `pos` of final hidden states [seq, D] (output.weight is [D, V]). */
function headLogits(model: HookedModel): (hidden: Float32Array, pos: number) => Float64Array {
  const D = model.spec.hiddenSize;
  const V = model.spec.vocabSize;
  const W = model.denseWeight('output.weight')!.data;
  return (hidden, pos) => {
    const out = new Float64Array(V);
    for (let d = 0; d < D; d++) {
      const h = hidden[pos * D + d];
      for (let j = 0; j < V; j++) out[j] += h * W[d * V + j];
    }
    return out;
  };
}

interface Recorded {
  readonly tokens: readonly number[];
  readonly hooks: readonly Hook[];
  readonly logits: Float32Array;
}

describe('choose: tools mode on a scripted stand-in', { skip: SKIP }, () => {
  let model: HookedModel;
  /** The same weights and tokenizer under the Llama-3.1-like and the tool-less template. */
  let json: HookedModel;
  let plain: HookedModel;
  let dir: string;
  const vectors = new Map<string, SteeringVector>();
  let resolver: SpecResolver;
  const messages: ChatMessage[] = [{ role: 'user', content: 'Tell me about your day.' }];

  before(() => {
    dir = writeChatStandIn(HERMES_TEMPLATE);
    const loaded = loadModel(dir);
    model = new HookedModel(loaded, { threads: 1 });
    json = new HookedModel({ ...loaded, chatTemplate: JSON_TEMPLATE }, { threads: 1 });
    plain = new HookedModel({ ...loaded, chatTemplate: PLAIN_TEMPLATE }, { threads: 1 });
    const r = rng(11);
    const D = model.spec.hiddenSize;
    for (const name of ['sad', 'happy']) {
      const d = Float32Array.from({ length: D }, () => r() * 2 - 1);
      vectors.set(`${name}.safetensors`, {
        directions: new Map([[LAYER, d]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'unknown', architecture: 'unknown', hiddenSize: D, numLayers: model.spec.numLayers }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), recommended: { layers: [LAYER], coefficient: COEF }, description: `${name}ness` },
      });
    }
    resolver = { vector: (ref) => vectors.get(ref) ?? assert.fail(`no vector ${ref}`), sae: () => assert.fail('no SAEs'), model: () => assert.fail('no models'), probe: () => assert.fail('no probes') };
  });
  after(async () => {
    for (const m of [model, json, plain]) await m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const chooser = (extra: Record<string, unknown> = {}, m: HookedModel = model): ToolChooser => {
    const spec = parseSteeringSpec({ choose: { mode: 'tools', vectors: [{ vector: 'sad.safetensors' }, { vector: 'happy.safetensors' }], ...extra } });
    const c = compileChooser(m, spec, resolver);
    assert.ok(c instanceof ToolChooser);
    return c;
  };

  /** Runs a reply with `script` forced, recording every forward of the model. */
  const scripted = async (c: ToolChooser, script: readonly number[], maxTokens: number, m: HookedModel = model) => {
    const recorded: Recorded[] = [];
    const forward = m.forward.bind(m);
    m.forward = async (input: ForwardInput): Promise<ForwardOutput> => {
      const out = await forward(input);
      recorded.push({ tokens: input.tokens[0], hooks: input.hooks ?? [], logits: out.logits!.slice() });
      return out;
    };
    try {
      const deltas: string[] = [];
      const reply = await c.generate(messages, { maxTokens, temperature: 0, processors: [new ScriptedTokens(script)], onText: (d) => deltas.push(d) });
      assert.equal(deltas.join(''), reply.text, 'the streamed text is the reply text');
      return { reply, recorded, deltas };
    } finally {
      m.forward = forward;
    }
  };
  const ids = (text: string): number[] => model.encode(text, { addBos: false });
  /** Index of the token whose text completes `marker` (the call's last token). */
  const completes = (tokens: readonly number[], marker: string): number => tokens.findIndex((_, k) => model.tokenizer.decode(tokens.slice(0, k + 1)).includes(marker));

  test('(a) the prompt holds the steer tool as the template itself renders it', () => {
    const c = chooser();
    assert.equal(c.format, 'hermes');
    const fn = c.tool.function;
    assert.equal(fn.name, 'steer');
    const props = (fn.parameters as { properties: { vector: { enum: string[] }; strength: { maximum: number } } }).properties;
    assert.deepEqual(props.vector.enum, ['sad', 'happy']);
    assert.equal(props.strength.maximum, 2);
    assert.match(fn.description, /sad \(sadness; strength 1 = coefficient 3 at layer 1\)/);
    // The reference: @huggingface/jinja rendering the same template with the same tools list.
    const reference = new Template(HERMES_TEMPLATE).render({ messages, tools: [c.tool], add_generation_prompt: true, bos_token: '', eos_token: '', ...model.specialTokens });
    assert.equal(c.promptText(messages), reference);
    assert.ok(reference.includes('<tools>\n{"type": "function", "function": {"name": "steer", "description": "Steer your own writing'));
  });

  test('(b) after a call the vector applies from the next token on, exactly as a plain spec from that position; none before', async () => {
    const c = chooser();
    const call = '<tool_call>\n{"name": "steer", "arguments": {"vector": "sad", "strength": 1.5}}\n</tool_call>';
    const head = ids(`Sure.${call}`);
    const k = completes(head, '</tool_call>');
    assert.equal(k, head.length - 1, 'the script ends with the call');
    const tail = ids(' It rained all day.');
    const { reply, recorded, deltas } = await scripted(c, [...head, ...tail], head.length + tail.length);
    // Streaming never shows a piece of the call, not even the "<" that might start one.
    assert.ok(deltas.every((d) => !d.includes('<')), JSON.stringify(deltas));
    const prompt = reply.promptTokens;
    const P = prompt.length + head.length; // the first position after the call

    assert.equal(reply.text, 'Sure. It rained all day.');
    assert.equal(reply.events.length, 1);
    const ev = reply.events[0];
    assert.deepEqual({ status: ev.status, vector: ev.vector, strength: ev.strength, from: ev.from, token: ev.token, call: ev.call }, { status: 'applied', vector: 'sad', strength: 1.5, from: P, token: k, call });
    assert.deepEqual(ev.resolved?.layers, [LAYER]);
    assert.equal(ev.resolved?.coefficient, 1.5 * COEF);
    // The answer fed back, in the template's own format (written out from HERMES_TEMPLATE by hand).
    const answer = ids('<|im_end|>\n<|im_start|>user\n<tool_response>\n{"applied":{"vector":"sad","strength":1.5}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n');
    assert.deepEqual(reply.sequence, [...head, ...answer, ...tail]);

    // KV cache kept: the prompt is fed once, every later forward feeds only new tokens.
    assert.deepEqual(recorded[0].tokens, prompt);
    assert.deepEqual(recorded.slice(1).map((r) => r.tokens.length), [...head.slice(1).map(() => 1), 1 + answer.length, ...tail.slice(0, -1).map(() => 1)]);
    const switchAt = head.length; // recorded[i] fed head[i - 1]; recorded[switchAt] fed the call's last token and the answer
    for (let i = 0; i < switchAt; i++) assert.equal(recorded[i].hooks.length, 0, `forward ${i} is before the call: no hooks`);

    // Reference 1, by hand on the same cache discipline: add 1.5·3·v at layer 1 from position P.
    const v = vectors.get('sad.safetensors')!.directions.get(LAYER)!;
    const hand: Hook[] = [{ kind: 'intervene', at: { layer: LAYER, site: 'resid_post' }, intervention: addVector(v, { scale: 1.5 * COEF, positions: { from: P } }) }];
    const cache = model.createCache(1);
    for (let i = 0; i < recorded.length; i++) {
      const out = await model.forward({ tokens: [recorded[i].tokens], cache, hooks: i < switchAt ? [] : hand, logits: 'last' });
      assert.deepEqual(recorded[i].logits, out.logits, `forward ${i}: bit-identical to the hand-built run`);
    }
    // Reference 2, one pass over the whole text, no cache: the plain spec the reply reports, and the hand-built hook.
    // Compared through the final hidden states, with the head applied here in JS (cheaper than the full logits of every row).
    const all = [...prompt, ...reply.sequence.slice(0, -1)];
    const plain = compileSteeringSpec(parseSteeringSpec({ interventions: reply.applied }), modelShape(model), resolver);
    const oneShot = (await model.forward({ tokens: [all], hooks: plain, logits: 'hidden' })).finalHidden!;
    const handShot = (await model.forward({ tokens: [all], hooks: hand, logits: 'hidden' })).finalHidden!;
    const bare = (await model.forward({ tokens: [all], logits: 'hidden' })).finalHidden!;
    assert.deepEqual(oneShot, handShot, 'the reported plain spec is the hand-built steering');
    const logitsOf = headLogits(model);
    let worst = 0;
    let moved = 0;
    let pos = prompt.length - 1;
    recorded.forEach((r, i) => {
      pos += i === 0 ? 0 : r.tokens.length;
      const ref = logitsOf(pos >= P ? oneShot : bare, pos);
      for (let j = 0; j < ref.length; j++) worst = Math.max(worst, Math.abs(r.logits[j] - ref[j]));
      if (pos >= P) {
        const unsteered = logitsOf(bare, pos);
        for (let j = 0; j < ref.length; j++) moved = Math.max(moved, Math.abs(unsteered[j] - ref[j]));
      }
    });
    assert.ok(worst < 1e-4, `cached steps vs one pass: max |Δlogit| ${worst}`);
    assert.ok(moved > 1e-2, `the vector changes the logits after the call (max ${moved})`);
    console.log(`# cached vs one pass: max |Δlogit| ${worst.toExponential(2)}; the vector moves logits by up to ${moved.toFixed(3)}`);
    assert.deepEqual(reply.applied, [{ vector: 'sad.safetensors', layers: 'recommended', coefficient: 1.5 * COEF, positions: { from: P } }]);
  });

  test('(c) invalid calls are ignored with a reason and never steer', async () => {
    const c = chooser();
    const bad = [
      ['{"name": "steer", "arguments": {"vector": "angry"}}', /no vector "angry"; offered: sad, happy/],
      ['{"name": "steer", "arguments": {"vector": "sad", "strength": 50}}', /strength 50 is outside 0\.\.2/],
      ['{"name": "steer", "arguments": {"vector": "sad", "strength": "lots"}}', /"strength" must be a number/],
      ['{"name": "shout", "arguments": {}}', /no tool "shout"/],
      ['{"name": "steer", "arguments": {"vector": ', /not valid JSON/],
    ] as const;
    // Each call is its own tokens (a merged '><' token would swallow the next call's first character).
    const head = bad.flatMap(([body]) => ids(`<tool_call>\n${body}\n</tool_call>`));
    const { reply, recorded } = await scripted(c, head, head.length);
    assert.equal(reply.events.length, bad.length);
    reply.events.forEach((e, i) => {
      assert.equal(e.status, 'ignored');
      assert.match(e.reason!, bad[i][1]);
    });
    assert.ok(recorded.every((r) => r.hooks.length === 0), 'no forward was steered');
    assert.deepEqual(reply.applied, []);
    assert.ok(!reply.text.includes('tool_call'), JSON.stringify(reply.text));
    // The model is told why: the error is in the answer fed back.
    assert.ok(model.tokenizer.decode([...reply.sequence]).includes('{"error":"there is no vector \\"angry\\"'));
  });

  test('a call cut off by the end of the reply is ignored and hidden; a later call replaces an earlier one', async () => {
    const c = chooser();
    const cut = ids('Hm.<tool_call>\n{"name": "steer", "arguments": {"vec');
    const short = await scripted(c, cut, cut.length);
    assert.equal(short.reply.text, 'Hm.');
    assert.deepEqual(short.reply.events.map((e) => [e.status, e.reason]), [['ignored', 'the call was not finished before the reply ended']]);

    const first = ids('<tool_call>{"name": "steer", "arguments": {"vector": "happy", "strength": 1}}</tool_call>');
    const second = ids('<tool_call>{"name": "steer", "arguments": {"vector": "happy", "strength": 0}}</tool_call>');
    const { reply, recorded } = await scripted(c, [...first, ...second, ...ids('ok'), model.spec.eosTokenIds[0]], 200);
    const [a, b] = reply.events;
    assert.deepEqual([a.status, b.status, a.strength, b.strength], ['applied', 'applied', 1, 0]);
    assert.deepEqual(reply.applied, [{ vector: 'happy.safetensors', layers: 'recommended', coefficient: COEF, positions: { from: a.from, to: b.from } }]);
    // Steering on between the calls, off after the second (strength 0).
    const fedAt = recorded.map((_, i) => reply.promptTokens.length + recorded.slice(1, i + 1).reduce((s, r) => s + r.tokens.length, 0) - 1);
    recorded.forEach((r, i) => assert.equal(r.hooks.length > 0, fedAt[i] >= a.from! && fedAt[i] < b.from!, `forward ${i} at ${fedAt[i]}`));
  });

  test('the Llama 3.1 family (the reply is a JSON call) and a template without tools (system-message fallback)', async () => {
    const eos = model.spec.eosTokenIds[0];
    const cj = chooser({}, json);
    assert.equal(cj.format, 'json');
    const call = ids('{"name": "steer", "parameters": {"vector": "sad"}}');
    const r1 = await scripted(cj, [...call, ...ids('Fine.'), eos], 60, json);
    assert.deepEqual([r1.reply.events[0].status, r1.reply.events[0].vector, r1.reply.events[0].strength], ['applied', 'sad', 1]);
    assert.equal(r1.reply.text, 'Fine.');
    assert.ok(model.tokenizer.decode([...r1.reply.sequence]).includes('<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n{"applied":{"vector":"sad","strength":1}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'));
    // A reply that is JSON but no call is reply text.
    const r2 = await scripted(cj, [...ids('{"mood": "fine"} ok'), eos], 20, json);
    assert.equal(r2.reply.events.length, 0);
    assert.equal(r2.reply.text, '{"mood": "fine"} ok');

    const cp = chooser({}, plain);
    assert.equal(cp.format, 'system');
    const prompt = cp.promptText(messages);
    assert.ok(prompt.startsWith('<|im_start|>system\nYou have one tool.'), prompt.slice(0, 80));
    assert.ok(prompt.includes(JSON.stringify(cp.tool)));
    const r3 = await scripted(cp, [...ids('<tool_call>{"name": "steer", "arguments": {"vector": "happy", "strength": 2}}</tool_call>'), ...ids('Yay'), eos], 60, plain);
    assert.equal(r3.reply.events[0].status, 'applied');
    assert.equal(r3.reply.text, 'Yay');
    assert.ok(model.tokenizer.decode([...r3.reply.sequence]).includes('</tool_call>\n<tool_response>\n{"applied":{"vector":"happy","strength":2}}\n</tool_response>\nYay'));
    // format "system" forces the fallback on a template that has tools.
    assert.equal(chooser({ format: 'system' }).format, 'system');
  });

  test('spec errors name the field; a base model cannot take tools mode', () => {
    assert.throws(() => parseSteeringSpec({ choose: { mode: 'tools', vectors: [] } }), /choose\.vectors/);
    assert.throws(() => parseSteeringSpec({ choose: { mode: 'tools', vectors: [{ vector: 'a' }], maxStrength: 1e9 } }), /choose\.maxStrength/);
    assert.throws(() => chooser({ vectors: [{ vector: 'sad.safetensors' }, { vector: 'sad.safetensors' }] }), /the name "sad" is offered twice/);
    assert.throws(() => compileChooser(model, parseSteeringSpec({ choose: { mode: 'tools', vectors: [{ vector: 'sad.safetensors', layers: [7] }] } }), resolver), /choose\.vectors\.0: layer 7 does not exist/);
    assert.throws(
      () => compileChooser(model, parseSteeringSpec({ choose: { mode: 'tools', vectors: [{ vector: 'sad.safetensors' }] }, decoding: { select: { candidates: 2 } } }), resolver),
      /takes decoding\.processors only, not decoding\.select/,
    );
  });
});
