import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { localGenerator, planBatches } from '../src/generators/local-generator.js';
import type { GenerationRequest } from '../src/generators/text-generator.js';
import { loadModel } from '../src/model/load.js';
import { encodeChat } from '../src/runtime/chat.js';
import { generate } from '../src/decoding/generate.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';

let base: HookedModel;
let chat: HookedModel;
before(() => {
  const loaded = loadModel(sharedPath('models', 'tinystories-656k'));
  base = new HookedModel(loaded, { threads: 1 });
  // The same weights with a trivial template, to exercise the chat path.
  chat = new HookedModel({ ...loaded, chatTemplate: '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:' }, { threads: 1 });
});
after(async () => {
  await base.dispose();
  await chat.dispose();
});

const user = (content: string): GenerationRequest['messages'] => [{ role: 'user', content }];

describe('planBatches', () => {
  test('consecutive seeds share a batch with the run’s first seed; repeats and gaps split', () => {
    const reqs: GenerationRequest[] = [
      { messages: user('a'), seed: 11 },
      { messages: user('b'), seed: 10 },
      { messages: user('c'), seed: 12 },
      { messages: user('d'), seed: 10 },
      { messages: user('e'), seed: 20 },
      { messages: user('f') },
      { messages: user('g') },
    ];
    assert.deepEqual(planBatches(reqs, 8), [
      { rows: [5, 6], seed: undefined },
      { rows: [1, 0, 2], seed: 10 },
      { rows: [3], seed: 10 },
      { rows: [4], seed: 20 },
    ]);
    // batchSize 2 cuts the 10,11,12 run into seeds 10 (rows b,a) and 12 (row c).
    assert.deepEqual(planBatches(reqs, 2), [
      { rows: [5, 6], seed: undefined },
      { rows: [1, 0], seed: 10 },
      { rows: [2], seed: 12 },
      { rows: [3], seed: 10 },
      { rows: [4], seed: 20 },
    ]);
  });

  test('different maxTokens/temperature/stop never share; greedy requests ignore seeds', () => {
    const reqs: GenerationRequest[] = [
      { messages: user('a'), temperature: 0, seed: 5 },
      { messages: user('b'), temperature: 0, seed: 5 },
      { messages: user('c'), temperature: 0, seed: 99, maxTokens: 3 },
      { messages: user('d'), temperature: 0, seed: 1, stop: ['.'] },
    ];
    assert.deepEqual(planBatches(reqs, 8), [
      { rows: [0, 1], seed: undefined },
      { rows: [2], seed: undefined },
      { rows: [3], seed: undefined },
    ]);
  });
});

describe('localGenerator', () => {
  test('a model without a chat template continues the contents joined by blank lines, as generate does', async () => {
    const gen = localGenerator(base);
    assert.equal(gen.name, `local:${base.source.name}`);
    const messages = [
      { role: 'system', content: 'Once upon a time' },
      { role: 'user', content: 'there was a little dog' },
    ] as const;
    const [text] = await gen.complete([{ messages, maxTokens: 16, temperature: 0.9, seed: 7 }]);
    const direct = await generate(base, 'Once upon a time\n\nthere was a little dog', { maxTokens: 16, temperature: 0.9, seed: 7 });
    assert.ok(direct.text.length > 0);
    assert.equal(text, direct.text);
  });

  test('mixed seeds and options batched together give each request what it gives alone', async () => {
    const gen = localGenerator(base, { batchSize: 2 });
    const reqs: GenerationRequest[] = [
      { messages: user('The cat'), maxTokens: 10, temperature: 1, seed: 4 },
      { messages: user('Lily went to the park'), maxTokens: 10, temperature: 1, seed: 3 },
      { messages: user('Tom had a ball'), maxTokens: 10, temperature: 1, seed: 3 },
      { messages: user('The sun was'), maxTokens: 10, temperature: 1, seed: 5 },
      { messages: user('Ben said'), maxTokens: 6, temperature: 0 },
      { messages: user('One day'), maxTokens: 12, temperature: 1, seed: 9, stop: ['.'] },
    ];
    const out = await gen.complete(reqs);
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i];
      const alone = await generate(base, r.messages[0].content, { maxTokens: r.maxTokens, temperature: r.temperature, seed: r.seed, stop: r.stop });
      assert.equal(out[i], alone.text, `request ${i}`);
    }
    // Distinct seeds on one prompt really differ (so the check above is not vacuous).
    const [x, y] = await gen.complete([
      { messages: user('Once upon a time'), maxTokens: 20, temperature: 1, seed: 1 },
      { messages: user('Once upon a time'), maxTokens: 20, temperature: 1, seed: 2 },
    ]);
    assert.notEqual(x, y);
  });

  test('a model with a chat template renders it via encodeChat, and hooks apply', async () => {
    const messages = user('Once upon a time');
    const [text] = await localGenerator(chat).complete([{ messages, maxTokens: 12, temperature: 0 }]);
    const ids = encodeChat(chat, messages);
    assert.equal(text, (await generate(chat, ids, { maxTokens: 12, temperature: 0 })).text);

    // A hook that wipes the residual stream changes what the model writes.
    const zero: Hook = { kind: 'edit', at: 'blocks.0.hook_resid_post', fn: (act) => act.data.fill(0) };
    const [hooked] = await localGenerator(chat, { hooks: [zero] }).complete([{ messages, maxTokens: 12, temperature: 0 }]);
    assert.equal(hooked, (await generate(chat, ids, { maxTokens: 12, temperature: 0, hooks: [zero] })).text);
    assert.notEqual(hooked, text);
  });

  test('rejects a bad batch size and bad requests', async () => {
    assert.throws(() => localGenerator(base, { batchSize: 0 }), /batchSize/);
    await assert.rejects(localGenerator(base).complete([{ messages: user('x'), maxTokens: -1 }]), /maxTokens/);
    assert.deepEqual(await localGenerator(base).complete([]), []);
  });
});
