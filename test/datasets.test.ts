import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { renderChat } from '../src/model/chat-template.js';
import { HookedModel } from '../src/runtime/model.js';
import type { ContrastExample } from '../src/steering/contrast-dataset.js';
import { readContrastFile, readSetFiles, readSuffixes } from '../src/steering/contrast-files.js';
import {
  DEFAULT_PERSONA_TEMPLATE,
  pairsFromCaa,
  pairsFromCompletions,
  pairsFromSets,
  pairsFromTexts,
  parseAnswerLetter,
  personaPairs,
} from '../src/steering/contrast-pairs.js';
import { splitTrainValidation } from '../src/steering/train-validation-split.js';
import { sharedPath } from '../src/util/shared-path.js';

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let model: HookedModel;
let chat: HookedModel;
let dir: string;

before(() => {
  const loaded = loadModel(sharedPath('models', 'tinystories-656k'));
  model = new HookedModel(loaded, { threads: 1 });
  // Rendering and tokenizing need no instruct weights: a ChatML template on the TinyStories model.
  chat = new HookedModel({ ...loaded, chatTemplate: CHATML }, { threads: 1 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-datasets-'));
});

after(async () => {
  await model.dispose();
  await chat.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function isPrefix(prefix: readonly number[], ids: readonly number[]): boolean {
  return prefix.every((id, i) => ids[i] === id);
}

function letterOf(m: HookedModel, e: ContrastExample): string {
  return m.tokenizer.decode([e.ids[e.answerIndex]]);
}

/** An error of the class, with every fragment in its message. */
function throwsWith(fn: () => unknown, cls: typeof InvalidInputError | typeof ModelFileError, ...fragments: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const f of fragments) {
      if (typeof f === 'string') assert.ok(e.message.includes(f), `"${e.message}" lacks "${f}"`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

describe('pairsFromTexts', () => {
  test('whole texts: the model encoding, read from after BOS', () => {
    const ds = pairsFromTexts(model, [
      { positive: 'Tom was happy.', negative: 'Tom was sad.' },
      { positive: 'Lily and Ben played.', negative: 'Lily cried.' },
    ]);
    assert.equal(ds.pairs.length, 2);
    assert.equal(ds.source, 'texts');
    assert.equal(ds.suggestedRead, 'last');
    assert.match(ds.hash, /^[0-9a-f]{64}$/);
    const e = ds.pairs[0].positive;
    assert.deepEqual(e.ids, model.encode('Tom was happy.'));
    assert.equal(e.ids[0], model.spec.bosTokenId);
    assert.equal(e.completionStart, 1);
    assert.equal(e.answerIndex, e.ids.length - 1);
    assert.equal(e.text, 'Tom was happy.');
    assert.equal(ds.pairs[1].negative.text, 'Lily cried.');
  });

  test('the hash depends on the texts only, deterministically', () => {
    const items = [{ positive: 'Tom was happy.', negative: 'Tom was sad.' }];
    const a = pairsFromTexts(model, items);
    assert.equal(pairsFromTexts(model, items, { source: 'other label' }).hash, a.hash);
    assert.notEqual(pairsFromTexts(model, [{ positive: 'Tom was glad.', negative: 'Tom was sad.' }]).hash, a.hash);
    assert.notEqual(pairsFromTexts(chat, items, { chat: true }).hash, a.hash);
  });

  test('bad items are named: empty text, missing field, wrong type, same text', () => {
    throwsWith(() => pairsFromTexts(model, [{ positive: 'a b', negative: 'c' }, { positive: 'x', negative: '  ' }]), InvalidInputError, 'item 1', '"negative" is empty');
    const missing = [{ positive: 'x' }] as unknown as { positive: string; negative: string }[];
    throwsWith(() => pairsFromTexts(model, missing), InvalidInputError, 'item 0', '"negative" is missing');
    const wrong = [{ positive: 'x', negative: 3 }] as unknown as { positive: string; negative: string }[];
    throwsWith(() => pairsFromTexts(model, wrong), InvalidInputError, 'item 0', '"negative" must be a string');
    const notObject = ['x'] as unknown as { positive: string; negative: string }[];
    throwsWith(() => pairsFromTexts(model, notObject), InvalidInputError, 'item 0', 'expected an object');
    throwsWith(() => pairsFromTexts(model, [{ positive: 'same', negative: 'same' }]), InvalidInputError, 'item 0', 'same text');
  });

  test('texts longer than the context: an error naming the item, or skipped and listed', () => {
    const long = 'Tom was happy. '.repeat(400);
    const items = [
      { positive: 'Tom was happy.', negative: 'Tom was sad.' },
      { positive: long, negative: 'Tom was sad.' },
    ];
    throwsWith(() => pairsFromTexts(model, items), InvalidInputError, 'item 1', "exceed the model's context of 512");
    const ds = pairsFromTexts(model, items, { tooLong: 'skip' });
    assert.equal(ds.pairs.length, 1);
    assert.equal(ds.skipped?.length, 1);
    assert.equal(ds.skipped?.[0].where, 'item 1');
  });
});

describe('pairsFromCompletions', () => {
  test('completionStart is the token count of the prompt alone', () => {
    const prompt = 'Is it good?';
    const ds = pairsFromCompletions(model, [{ prompt, positive: '\nYes, it is.', negative: '\nNo, it is not.' }]);
    const promptIds = model.encode(prompt);
    for (const e of [ds.pairs[0].positive, ds.pairs[0].negative]) {
      assert.equal(e.completionStart, promptIds.length);
      assert.ok(isPrefix(promptIds, e.ids));
      assert.equal(e.answerIndex, e.ids.length - 1);
    }
    assert.equal(ds.pairs[0].positive.text, 'Is it good?\nYes, it is.');
    assert.deepEqual(ds.pairs[0].negative.ids, model.encode('Is it good?\nNo, it is not.'));
    assert.equal(model.tokenizer.decode(ds.pairs[0].positive.ids.slice(ds.pairs[0].positive.completionStart)), '\nYes, it is.');
  });

  test('a token merged across the boundary counts as completion (longest common prefix)', () => {
    // "Tom had a re" ends in the token "re"; in "Tom had a red ball" that becomes "red▁ball".
    const prompt = 'Tom had a re';
    const promptIds = model.encode(prompt);
    const ds = pairsFromCompletions(model, [{ prompt, positive: 'd ball', negative: 'd cat' }]);
    const e = ds.pairs[0].positive;
    assert.ok(!isPrefix(promptIds, e.ids), 'the test needs a merge across the boundary');
    assert.equal(e.completionStart, promptIds.length - 1);
    assert.deepEqual(e.ids.slice(0, e.completionStart), promptIds.slice(0, -1));
    assert.notEqual(e.ids[e.completionStart], promptIds[promptIds.length - 1]);
    assert.match(model.tokenizer.decode(e.ids.slice(e.completionStart)), /red ball$/);
  });

  test('bad items are named', () => {
    throwsWith(() => pairsFromCompletions(model, [{ prompt: 'Hi', positive: '', negative: ' no' }]), InvalidInputError, 'item 0', '"positive" is empty');
    const missing = [{ positive: 'a', negative: 'b' }, { prompt: 3, positive: 'a', negative: 'b' }] as unknown as {
      prompt: string;
      positive: string;
      negative: string;
    }[];
    throwsWith(() => pairsFromCompletions(model, missing), InvalidInputError, 'item 0', '"prompt" is missing');
    throwsWith(() => pairsFromCompletions(model, missing.slice(1)), InvalidInputError, 'item 0', '"prompt" must be a string');
  });
});

describe('pairsFromCaa', () => {
  const item = {
    question: 'Is the sky blue?\n (A) Yes\n (B) No',
    answer_matching_behavior: ' (B)',
    answer_not_matching_behavior: '(A)',
  };

  test('answer letters parse robustly', () => {
    for (const [s, letter] of [
      ['(A)', 'A'],
      [' (B)', 'B'],
      ['C', 'C'],
      ['(D) Yes, I would.', 'D'],
      ['E.', 'E'],
      ['( F )', 'F'],
    ] as const) {
      assert.equal(parseAnswerLetter(s), letter, s);
    }
    for (const s of ['Yes', '', '(AB)', '()']) assert.equal(parseAnswerLetter(s), undefined, s);
  });

  test('base model: question + "\\n\\nAnswer: (" + letter; the letter is read; the pair differs only in it', () => {
    const ds = pairsFromCaa(model, [item]);
    assert.equal(ds.suggestedRead, 'answer');
    const { positive, negative } = ds.pairs[0];
    assert.equal(positive.text, `${item.question}\n\nAnswer: (B`);
    assert.equal(negative.text, `${item.question}\n\nAnswer: (A`);
    assert.deepEqual(positive.ids, model.encode(positive.text));
    for (const e of [positive, negative]) {
      assert.equal(e.answerIndex, e.ids.length - 1);
      assert.equal(e.completionStart, e.answerIndex);
    }
    assert.equal(letterOf(model, positive), 'B');
    assert.equal(letterOf(model, negative), 'A');
    assert.equal(positive.ids.length, negative.ids.length);
    assert.deepEqual(positive.ids.slice(0, -1), negative.ids.slice(0, -1));
  });

  test('chat model: the rendered user turn, then the assistant answer opening "(A"', () => {
    const ds = pairsFromCaa(chat, [item], { system: 'Answer briefly.' });
    const rendered = renderChat(CHATML, [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: item.question },
    ]);
    const { positive, negative } = ds.pairs[0];
    assert.equal(positive.text, `${rendered}(B`);
    assert.equal(negative.text, `${rendered}(A`);
    assert.deepEqual(positive.ids, chat.encode(positive.text));
    assert.equal(letterOf(chat, positive), 'B');
    assert.equal(letterOf(chat, negative), 'A');
    assert.equal(positive.answerIndex, positive.ids.length - 1);
    // chat is the default with a template; chat: false gives the base-model form.
    assert.equal(pairsFromCaa(chat, [item], { chat: false }).pairs[0].positive.text, `${item.question}\n\nAnswer: (B`);
  });

  test('bad items are named', () => {
    throwsWith(() => pairsFromCaa(model, [item, { ...item, answer_not_matching_behavior: '(B)' }]), InvalidInputError, 'item 1', 'both answers are (B)');
    throwsWith(() => pairsFromCaa(model, [{ ...item, answer_matching_behavior: 'Yes' }]), InvalidInputError, 'item 0', 'answer_matching_behavior', 'not an answer letter');
    throwsWith(() => pairsFromCaa(model, [{ ...item, question: '' }]), InvalidInputError, 'item 0', '"question" is empty');
  });

  test('the real sycophancy file loads; every pair reads different letters', () => {
    const file = sharedPath('data', 'caa', 'sycophancy', 'generate_dataset.json');
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown[];
    assert.equal(raw.length, 1000);
    // Three questions are longer than TinyStories' 512-token context.
    throwsWith(() => readContrastFile(model, file), ModelFileError, file, 'item 23', "context of 512");
    const ds = readContrastFile(model, file, { tooLong: 'skip' });
    assert.equal(ds.source, file);
    assert.equal(ds.pairs.length + (ds.skipped?.length ?? 0), 1000);
    assert.deepEqual(
      ds.skipped?.map((s) => s.where),
      ['item 23', 'item 438', 'item 556'],
    );
    for (const { positive, negative } of ds.pairs) {
      const [a, b] = [letterOf(model, positive), letterOf(model, negative)];
      assert.match(a, /^[A-H]$/);
      assert.match(b, /^[A-H]$/);
      assert.notEqual(a, b);
      assert.deepEqual(positive.ids.slice(0, -1), negative.ids.slice(0, -1));
    }
    assert.equal(ds.suggestedRead, 'answer');
  });

  test('a CAA test file loads whole', () => {
    const ds = readContrastFile(model, sharedPath('data', 'caa', 'refusal', 'test_dataset_ab.json'));
    assert.equal(ds.pairs.length, 50);
    assert.equal(ds.skipped, undefined);
    assert.equal(letterOf(model, ds.pairs[0].positive), 'B');
  });
});

describe('chat rendering of texts and completions', () => {
  test('completions: prompt as the user turn, completion starts the assistant answer', () => {
    const ds = pairsFromCompletions(chat, [{ prompt: 'How do you feel?', positive: 'I feel great', negative: 'I feel awful' }], { chat: true });
    const rendered = renderChat(CHATML, [{ role: 'user', content: 'How do you feel?' }]);
    const e = ds.pairs[0].positive;
    assert.equal(e.text, `${rendered}I feel great`);
    const prefixIds = chat.encode(rendered);
    assert.equal(e.completionStart, prefixIds.length);
    assert.ok(isPrefix(prefixIds, e.ids));
    assert.equal(chat.tokenizer.decode(e.ids.slice(e.completionStart)), 'I feel great');
  });

  test('texts: the user turn with the generation prompt, read whole', () => {
    const ds = pairsFromTexts(chat, [{ positive: 'I love it', negative: 'I hate it' }], { chat: true, system: 'Be kind.' });
    const e = ds.pairs[0].positive;
    assert.equal(
      e.text,
      renderChat(CHATML, [
        { role: 'system', content: 'Be kind.' },
        { role: 'user', content: 'I love it' },
      ]),
    );
    assert.equal(e.completionStart, 1);
    // Without chat: the plain text.
    assert.equal(pairsFromTexts(chat, [{ positive: 'I love it', negative: 'I hate it' }]).pairs[0].positive.text, 'I love it');
  });

  test('chat without a template, or a system message without chat, is refused', () => {
    throwsWith(() => pairsFromTexts(model, [{ positive: 'a', negative: 'b' }], { chat: true }), InvalidInputError, 'no chat template');
    throwsWith(() => pairsFromCaa(model, [{ question: 'q', answer_matching_behavior: '(A)', answer_not_matching_behavior: '(B)' }], { chat: true }), InvalidInputError, 'no chat template');
    throwsWith(() => pairsFromTexts(model, [{ positive: 'a', negative: 'b' }], { system: 'x' }), InvalidInputError, 'system message needs chat');
  });
});

describe('sets', () => {
  test('paired by index up to the shorter set; the rest stays unpaired', () => {
    const ds = pairsFromSets(model, ['Tom was happy.', 'Lily laughed.', 'The sun was warm.'], ['Tom walked.', 'Lily sat.']);
    assert.equal(ds.pairs.length, 2);
    assert.equal(ds.pairs[1].positive.text, 'Lily laughed.');
    assert.equal(ds.pairs[1].negative.text, 'Lily sat.');
    assert.deepEqual(
      ds.unpaired?.positive.map((e) => e.text),
      ['The sun was warm.'],
    );
    assert.equal(ds.unpaired?.negative.length, 0);
    assert.equal(ds.pairs[0].positive.completionStart, 1);
    throwsWith(() => pairsFromSets(model, ['a', ''], ['b']), InvalidInputError, 'positive item 1', 'empty text');
    throwsWith(() => pairsFromSets(model, ['a'], ['b', 'c', ' ']), InvalidInputError, 'neutral item 2', 'empty text');
    throwsWith(() => pairsFromSets(model, [], ['b']), InvalidInputError, 'positive set is empty');
  });

  test('RepE emotion files load (JSON arrays of strings)', () => {
    const happy = sharedPath('data', 'repe', 'emotions', 'happiness.json');
    const sad = sharedPath('data', 'repe', 'emotions', 'sadness.json');
    const nHappy = (JSON.parse(fs.readFileSync(happy, 'utf8')) as string[]).length;
    const nSad = (JSON.parse(fs.readFileSync(sad, 'utf8')) as string[]).length;
    const ds = readSetFiles(model, happy, sad);
    assert.equal(ds.pairs.length, Math.min(nHappy, nSad));
    assert.equal(ds.pairs.length + (ds.unpaired?.positive.length ?? 0), nHappy);
    assert.equal(ds.pairs.length + (ds.unpaired?.negative.length ?? 0), nSad);
    assert.equal(ds.source, `${happy} vs ${sad}`);
  });

  test('text files: one item per line, blank lines skipped, errors name the file and line', () => {
    const pos = write('pos.txt', 'Tom was happy.\n\nLily laughed.\r\n');
    const neu = write('neu.txt', 'Tom walked.\nLily sat.\nBen ate.\n');
    const ds = readSetFiles(model, pos, neu);
    assert.deepEqual(
      ds.pairs.map((p) => p.positive.text),
      ['Tom was happy.', 'Lily laughed.'],
    );
    assert.equal(ds.unpaired?.negative[0].text, 'Ben ate.');
    const bad = write('bad.json', '["Tom was happy.", 3]');
    throwsWith(() => readSetFiles(model, bad, neu), ModelFileError, bad, 'item 1', 'expected a string');
    const empty = write('empty-item.json', '["Tom was happy.", " "]');
    throwsWith(() => readSetFiles(model, pos, empty), ModelFileError, empty, 'item 1', 'empty text');
    const broken = write('broken.json', '[\n"a",\n"b"\n');
    throwsWith(() => readSetFiles(model, broken, neu), ModelFileError, broken, 'not valid JSON');
    const long = write('long.txt', `Tom was happy.\n${'Tom ran. '.repeat(600)}\n`);
    throwsWith(() => readSetFiles(model, long, neu), ModelFileError, long, 'line 2', 'context');
    const skipped = readSetFiles(model, long, neu, { tooLong: 'skip' });
    assert.equal(skipped.pairs.length, 1);
    assert.deepEqual(
      skipped.skipped?.map((s) => s.where),
      [`${long} line 2`],
    );
  });
});

describe('persona pairs', () => {
  test('base model: template(persona) + " " + suffix, read from the suffix', () => {
    const ds = personaPairs(model, { positive: 'happy', negative: 'sad', suffixes: ['', 'Lily was', 'I'] });
    assert.equal(ds.pairs.length, 3);
    const [empty, lily] = ds.pairs;
    assert.equal(empty.positive.text, "Act as if you're extremely happy.");
    assert.equal(empty.positive.completionStart, empty.positive.ids.length - 1);
    assert.equal(lily.positive.text, "Act as if you're extremely happy. Lily was");
    assert.equal(lily.negative.text, "Act as if you're extremely sad. Lily was");
    const prefix = model.encode("Act as if you're extremely happy.");
    assert.ok(lily.positive.completionStart <= prefix.length);
    assert.deepEqual(lily.positive.ids.slice(0, lily.positive.completionStart), prefix.slice(0, lily.positive.completionStart));
    assert.match(model.tokenizer.decode(lily.positive.ids.slice(lily.positive.completionStart)), /Lily was$/);
    assert.equal(DEFAULT_PERSONA_TEMPLATE, "Act as if you're extremely {persona}.");
  });

  test('chat model: persona in the user turn, suffix starts the answer', () => {
    const ds = personaPairs(chat, { positive: 'happy', negative: 'sad', suffixes: ['', 'I feel'], template: 'Pretend you are {persona}.' });
    const rendered = renderChat(CHATML, [{ role: 'user', content: 'Pretend you are happy.' }]);
    const [empty, feel] = ds.pairs;
    assert.equal(feel.positive.text, `${rendered}I feel`);
    assert.equal(feel.positive.completionStart, chat.encode(rendered).length);
    assert.equal(chat.tokenizer.decode(feel.positive.ids.slice(feel.positive.completionStart)), 'I feel');
    assert.equal(empty.positive.text, rendered);
    assert.equal(empty.positive.completionStart, empty.positive.ids.length - 1);
  });

  test('repeng suffixes load and make one pair each', () => {
    const suffixes = readSuffixes(sharedPath('data', 'repeng', 'all_truncated_outputs.json'));
    assert.equal(suffixes.length, 582);
    assert.equal(suffixes[0], '');
    const ds = personaPairs(model, { positive: 'happy', negative: 'sad', suffixes });
    assert.equal(ds.pairs.length, 582);
    assert.equal(ds.source, 'persona:happy/sad');
  });

  test('bad persona input is refused', () => {
    throwsWith(() => personaPairs(model, { positive: 'happy', negative: 'sad', suffixes: ['I'], template: 'Be {mood}.' }), InvalidInputError, '{persona}');
    throwsWith(() => personaPairs(model, { positive: 'happy', negative: 'sad', suffixes: [] }), InvalidInputError, 'at least one suffix');
    throwsWith(() => personaPairs(model, { positive: '', negative: 'sad', suffixes: ['I'] }), InvalidInputError, 'positive persona');
    const bad = ['I', 7] as unknown as string[];
    throwsWith(() => personaPairs(model, { positive: 'happy', negative: 'sad', suffixes: bad }), InvalidInputError, 'suffix 1', 'expected a string');
    const notJson = write('suffixes.json', '["I", ');
    throwsWith(() => readSuffixes(notJson), ModelFileError, notJson, 'not valid JSON');
  });
});

describe('readContrastFile', () => {
  test('detects JSONL texts and completions, JSON arrays, and names lines in errors', () => {
    const texts = write('texts.jsonl', '{"positive": "Tom was happy.", "negative": "Tom was sad."}\n\n{"positive": "Lily laughed.", "negative": "Lily cried."}\n');
    const t = readContrastFile(model, texts);
    assert.equal(t.pairs.length, 2);
    assert.equal(t.pairs[1].negative.text, 'Lily cried.');
    assert.equal(t.pairs[0].positive.completionStart, 1);

    const comps = write('comps.json', JSON.stringify([{ prompt: 'Is it good?', positive: '\nYes', negative: '\nNo' }]));
    const c = readContrastFile(model, comps);
    assert.equal(c.pairs[0].positive.completionStart, model.encode('Is it good?').length);

    const pretty = write('one.json', JSON.stringify({ positive: 'Tom was happy.', negative: 'Tom was sad.' }, null, 2));
    assert.equal(readContrastFile(model, pretty).pairs.length, 1);
  });

  test('malformed files give errors naming the file and the line or item', () => {
    const badLine = write('bad-line.jsonl', '{"positive": "a", "negative": "b"}\n{"positive": "a", "negative": \n');
    throwsWith(() => readContrastFile(model, badLine), ModelFileError, badLine, 'line 2', 'not valid JSON');
    const missing = write('missing.jsonl', '{"positive": "a", "negative": "b"}\n\n{"positive": "a"}\n');
    throwsWith(() => readContrastFile(model, missing), ModelFileError, missing, 'line 3', '"negative" is missing');
    const emptyText = write('empty.json', JSON.stringify([{ positive: 'a', negative: 'b' }, { positive: 'a', negative: '' }]));
    throwsWith(() => readContrastFile(model, emptyText), ModelFileError, emptyText, 'item 1', '"negative" is empty');
    const caaBad = write('caa.json', JSON.stringify([{ question: 'q?', answer_matching_behavior: '(A)', answer_not_matching_behavior: 'maybe' }]));
    throwsWith(() => readContrastFile(model, caaBad), ModelFileError, caaBad, 'item 0', 'not an answer letter');
    const unknown = write('unknown.json', JSON.stringify([{ question: 'What?' }]));
    throwsWith(() => readContrastFile(model, unknown), ModelFileError, unknown, 'item 0', 'not a contrast item', 'question');
    const notItems = write('scalar.json', '"hello"');
    throwsWith(() => readContrastFile(model, notItems), ModelFileError, notItems, 'expected a JSON array');
    const brokenArray = write('broken.json', '[\n{"positive": "a", "negative": "b"},\n{"positive": }\n]');
    throwsWith(() => readContrastFile(model, brokenArray), ModelFileError, brokenArray, 'not valid JSON');
    const nothing = write('nothing.json', '[]');
    throwsWith(() => readContrastFile(model, nothing), ModelFileError, nothing, 'no items');
    const absent = path.join(dir, 'absent.json');
    throwsWith(() => readContrastFile(model, absent), ModelFileError, absent, 'cannot be read');
  });
});

describe('splitTrainValidation', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);

  test('deterministic for a seed; disjoint; original order kept', () => {
    const a = splitTrainValidation(items, 0.2, 7);
    assert.deepEqual(splitTrainValidation(items, 0.2, 7), a);
    assert.equal(a.validation.length, 2);
    assert.equal(a.train.length, 8);
    assert.deepEqual([...a.train, ...a.validation].sort((x, y) => x - y), items);
    assert.deepEqual(a.train, [...a.train].sort((x, y) => x - y));
    const seeds = new Set(Array.from({ length: 8 }, (_, s) => JSON.stringify(splitTrainValidation(items, 0.2, s).validation)));
    assert.ok(seeds.size > 1, 'different seeds should give different splits');
    assert.deepEqual(splitTrainValidation(items), splitTrainValidation(items, 0.2, 0));
  });

  test('sizes at the edges', () => {
    assert.equal(splitTrainValidation([1, 2], 0.2).validation.length, 1);
    assert.equal(splitTrainValidation([1, 2, 3], 0.01).validation.length, 1);
    assert.deepEqual(splitTrainValidation([1], 0.5), { train: [1], validation: [] });
    assert.deepEqual(splitTrainValidation([], 0.5), { train: [], validation: [] });
    assert.equal(splitTrainValidation(items, 0).validation.length, 0);
    assert.equal(splitTrainValidation(items, 0.99).train.length, 1);
    assert.throws(() => splitTrainValidation(items, 1), InvalidInputError);
    assert.throws(() => splitTrainValidation(items, -0.1), InvalidInputError);
    assert.throws(() => splitTrainValidation(items, 0.2, 1.5), InvalidInputError);
  });
});
