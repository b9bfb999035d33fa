import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { loadModel } from '../src/model/load.js';
import { encodeChat } from '../src/runtime/chat.js';
import { generate, generateBatch } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { argmax, logSoftmax } from '../src/runtime/sampling.js';
import { perplexity, scoreTokens } from '../src/runtime/score.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tokenizerFromHfJson } from '../src/model/tokenizers/hf-tokenizer.js';
import { writeRandomHfModel } from './helpers/random-model.js';

let model: HookedModel;
const dirs: string[] = [];
before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
});
after(async () => {
  await model.dispose();
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

describe('generation', () => {
  test('greedy generation equals step-by-step argmax over full forwards', async () => {
    const prompt = model.encode('Tom had a red');
    const out = await generate(model, prompt, { temperature: 0, maxTokens: 12, stopTokens: [] });
    const ids = [...prompt];
    for (let i = 0; i < 12; i++) {
      const logits = (await model.forward({ tokens: [ids] })).logits!;
      ids.push(argmax(logits));
    }
    assert.deepEqual(out.tokens, ids.slice(prompt.length));
    assert.equal(out.finishReason, 'length');
  });

  test('a row of a batch generates what it generates alone (greedy and seeded sampling)', async () => {
    const prompts = ['Once upon a time', 'The dog', 'Lily and Ben went to the park. They'];
    for (const opts of [{ temperature: 0 }, { temperature: 1, topK: 40, seed: 123 }]) {
      const batch = await generateBatch(model, prompts, { ...opts, maxTokens: 20 });
      for (let r = 0; r < prompts.length; r++) {
        const seed = 'seed' in opts && opts.seed !== undefined ? opts.seed + r : undefined;
        const alone = await generate(model, prompts[r], { ...opts, seed, maxTokens: 20 });
        assert.deepEqual(batch[r].tokens, alone.tokens, `row ${r} ${JSON.stringify(opts)}`);
      }
    }
  });

  test('stop strings end the text before them and streaming emits exactly the text', async () => {
    const free = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 60 });
    const cut = free.text.indexOf('.');
    assert.ok(cut > 0);
    let streamed = '';
    const stopped = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 60, stop: ['.'], onText: (d) => (streamed += d) });
    assert.equal(stopped.text, free.text.slice(0, cut));
    assert.equal(streamed, stopped.text);
    assert.equal(stopped.finishReason, 'stop');
  });

  test('EOS stops generation', async () => {
    const out = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 400 });
    assert.equal(out.finishReason, 'stop');
    assert.ok(!out.tokens.includes(2));
  });

  test('a finished story stops at its spelled-out end marker: no marker text, no marker tokens', async () => {
    // This model writes "<|end_story|>" as ordinary tokens ("<|", "end", "_story", "|>") before its EOS id.
    const raw = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 300, keepSpecialText: true });
    assert.ok(raw.text.endsWith('<|end_story|>'), `raw text ends ${JSON.stringify(raw.text.slice(-30))}`);
    let streamed = '';
    const deltas: string[] = [];
    const out = await generate(model, 'Once upon a time', {
      temperature: 0,
      maxTokens: 300,
      onText: (d) => {
        deltas.push(d);
        streamed += d;
      },
    });
    assert.equal(out.finishReason, 'stop');
    assert.equal(out.text, raw.text.slice(0, -'<|end_story|>'.length));
    assert.ok(!out.text.includes('<|') && !deltas.some((d) => d.includes('<')), 'no marker text, not even a partial one while streaming');
    assert.equal(streamed, out.text);
    // The tokens are the story's own: the marker's tokens are dropped, and they decode to the text.
    assert.equal(model.tokenizer.decode(out.tokens), out.text);
    assert.ok(out.tokens.length < raw.tokens.length);
    assert.deepEqual(out.tokens, raw.tokens.slice(0, out.tokens.length));
    assert.equal(model.tokenizer.decode(raw.tokens.slice(out.tokens.length)), '<|end_story|>');

    // Cut off by maxTokens inside the marker ("<|", "end"): the partial marker is dropped too.
    const cutOff = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: out.tokens.length + 2 });
    assert.equal(cutOff.finishReason, 'length');
    assert.equal(cutOff.text, out.text);
    assert.deepEqual(cutOff.tokens, out.tokens);
  });

  test('bad options are rejected before any work', async () => {
    await assert.rejects(generate(model, 'x', { temperature: -1 }), /temperature/);
    await assert.rejects(generate(model, 'x', { maxTokens: -3 }), /maxTokens/);
    await assert.rejects(generate(model, 'x', { topP: 2 }), /topP/);
  });
});

describe('scoring', () => {
  test('per-token log-probs equal log-softmax of a full forward', async () => {
    const ids = model.encode('The sun was shining and the birds were singing.');
    const { logprobs } = await scoreTokens(model, ids);
    const logits = (await model.forward({ tokens: [ids], logits: 'all' })).logits!;
    const V = model.spec.vocabSize;
    for (let i = 0; i < ids.length - 1; i++) {
      const lsm = logSoftmax(logits.slice(i * V, (i + 1) * V));
      assert.ok(Math.abs(lsm[ids[i + 1]] - logprobs[i]) < 1e-4);
    }
  });

  test('sliding windows score every token once, with the first window unchanged', async () => {
    const text = fs.readFileSync(sharedPath('models', 'stories260k', 'GREEDY_SAMPLE.txt'), 'utf8');
    const ids = model.encode(text);
    const whole = await scoreTokens(model, ids, { window: 512 });
    const windowed = await scoreTokens(model, ids, { window: 64, stride: 32 });
    assert.equal(windowed.logprobs.length, ids.length - 1);
    for (let i = 0; i < 63; i++) assert.ok(Math.abs(whole.logprobs[i] - windowed.logprobs[i]) < 1e-4);
    assert.ok(windowed.logprobs.every((v) => Number.isFinite(v) && v <= 0));
    const ppl = await perplexity(model, text);
    const mean = -whole.logprobs.reduce((a, b) => a + b, 0) / whole.logprobs.length;
    assert.ok(Math.abs(Math.log(ppl.perplexity) - mean) < 1e-6);
  });
});

describe('chat templates', () => {
  test("a ChatML template renders with the model's special tokens and encodes them as single ids", async () => {
    const tiny = writeRandomHfModel('llama', { seed: 2 });
    dirs.push(tiny.dir);
    const smol = JSON.parse(fs.readFileSync(sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json'), 'utf8'));
    const template =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const loaded = loadModel(tiny.dir);
    // Rendering and encoding need no forward pass, so SmolLM2's tokenizer can sit on a tiny model.
    const chat = new HookedModel(
      { ...loaded, chatTemplate: template, tokenizer: tokenizerFromHfJson(smol), specialTokens: { eos_token: '<|im_end|>' }, spec: { ...loaded.spec, addBos: false } },
      { threads: 1 },
    );
    const ids = encodeChat(chat, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
    const imStart = chat.tokenizer.tokenToId('<|im_start|>')!;
    const imEnd = chat.tokenizer.tokenToId('<|im_end|>')!;
    assert.equal(ids.filter((t) => t === imStart).length, 3);
    assert.equal(ids.filter((t) => t === imEnd).length, 2);
    assert.equal(chat.tokenizer.decode(ids.filter((t) => t !== imStart && t !== imEnd)), 'system\nBe brief.\nuser\nhi\nassistant\n');
    assert.throws(() => encodeChat(model, [{ role: 'user', content: 'hi' }]), /no chat template/);
    await chat.dispose();
  });
});
