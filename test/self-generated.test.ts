import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filterItems, negativePrompt, parseNumberedList, positivePrompt, requestConceptItems } from '../src/concept/self-generated.js';
import type { GenerationRequest, TextGenerator } from '../src/generators/text-generator.js';

describe('parseNumberedList', () => {
  test('accepts numbered and bulleted lines, strips quotes, ignores the rest', () => {
    const reply = [
      'Sure! Here are some prompts:',
      '',
      '1. What is the tallest mountain?',
      '2) "Tell me about the sea."',
      '3: “Why do cats purr?”',
      '- \'How do I bake bread?\'',
      '* Plan a trip to Rome',
      '• Write a haiku about rain',
      '   10.   Indented with spaces   ',
      'continuation line without a marker',
      '4.',
      '2024 was a year',
      '5. "  "',
    ].join('\n');
    assert.deepEqual(parseNumberedList(reply), [
      'What is the tallest mountain?',
      'Tell me about the sea.',
      'Why do cats purr?',
      'How do I bake bread?',
      'Plan a trip to Rome',
      'Write a haiku about rain',
      'Indented with spaces',
    ]);
    assert.deepEqual(parseNumberedList('1. a\r\n2. b'), ['a', 'b']);
    assert.deepEqual(parseNumberedList('no list here'), []);
  });
});

describe('filterItems', () => {
  test('drops empty, short, long, repetitive, incoherent and duplicate items with reasons', async () => {
    const res = await filterItems(
      [
        '  Tell me about the ocean waves  ',
        '',
        'Ocean please',
        'one two three four five six seven',
        'the sea the sea the sea sea sea sea now',
        'waves waves waves waves crash',
        'tell me ABOUT the ocean waves!',
        'Tell me about the ocean waves',
        'What lives in the deep ocean?',
      ],
      ['How do I fix my bike?', 'ocean ocean ocean: more, more, ocean, more ocean', 'What lives in the deep ocean'],
      { minWords: 3, maxWords: 6 },
    );
    // "What lives in the deep ocean" is on both sides (ignoring punctuation): dropped from both.
    assert.deepEqual(res.positive, ['Tell me about the ocean waves']);
    assert.deepEqual(res.negative, ['How do I fix my bike?']);
    assert.deepEqual(res.dropped, [
      { text: '', side: 'positive', reason: 'empty' },
      { text: 'Ocean please', side: 'positive', reason: 'too-short' },
      { text: 'one two three four five six seven', side: 'positive', reason: 'too-long' },
      { text: 'the sea the sea the sea sea sea sea now', side: 'positive', reason: 'too-long' },
      { text: 'waves waves waves waves crash', side: 'positive', reason: 'repetition' },
      { text: 'tell me ABOUT the ocean waves!', side: 'positive', reason: 'duplicate' },
      { text: 'Tell me about the ocean waves', side: 'positive', reason: 'duplicate' },
      { text: 'ocean ocean ocean: more, more, ocean, more ocean', side: 'negative', reason: 'too-long' },
      { text: 'What lives in the deep ocean?', side: 'positive', reason: 'duplicate' },
      { text: 'What lives in the deep ocean', side: 'negative', reason: 'duplicate' },
    ]);
  });

  test('repetition needs 4 in a row; low diversity is distinct/total < 0.5', async () => {
    const res = await filterItems(
      [
        'sea sea sea is here', // 3 in a row, 3 distinct of 5: kept
        'sea, Sea! SEA sea is here', // 4 in a row ignoring case and punctuation
        'a b a b a b c', // 3 distinct of 7 < 0.5
        'a b a b c d', // 4 distinct of 6: kept
      ],
      [],
    );
    assert.deepEqual(res.positive, ['sea sea sea is here', 'a b a b c d']);
    assert.deepEqual(
      res.dropped.map((d) => d.reason),
      ['repetition', 'low-diversity'],
    );
  });

  test('the scorer drops positives below the negatives’ median and negatives above the positives’ median', async () => {
    const scores = new Map([
      ['pos one is great', 5],
      ['pos two is great', 3],
      ['pos three is weak', 0.5], // below the negatives' median (1) → dropped
      ['pos four is fine', 2],
      ['neg one is plain', 0],
      ['neg two is plain', 1],
      ['neg three is odd', 4], // above the positives' median (2.5 = mean of 2 and 3) → dropped
    ]);
    const seen: string[][] = [];
    const res = await filterItems(['pos one is great', 'pos two is great', 'pos three is weak', 'pos four is fine'], ['neg one is plain', 'neg two is plain', 'neg three is odd'], {
      scorer: async (texts) => {
        seen.push(texts);
        return texts.map((t) => scores.get(t)!);
      },
    });
    assert.equal(seen.length, 1, 'scored in one call');
    assert.deepEqual(res.positive, ['pos one is great', 'pos two is great', 'pos four is fine']);
    assert.deepEqual(res.negative, ['neg one is plain', 'neg two is plain']);
    assert.deepEqual(res.dropped, [
      { text: 'pos three is weak', side: 'positive', reason: 'wrong-side' },
      { text: 'neg three is odd', side: 'negative', reason: 'wrong-side' },
    ]);
    await assert.rejects(filterItems(['a b c'], ['d e f'], { scorer: async () => [1] }), /must return 2 finite numbers/);
    await assert.rejects(filterItems([], [], { minWords: 5, maxWords: 4 }), /maxWords/);
  });
});

/** A deterministic fake model: its list depends on the request's seed and side. */
function seededGenerator(): TextGenerator & { calls: GenerationRequest[][] } {
  const calls: GenerationRequest[][] = [];
  return {
    name: 'seeded',
    calls,
    async complete(requests) {
      calls.push([...requests]);
      return requests.map((r) => {
        const content = r.messages[0].content;
        const n = Number(/^Write (\d+) /.exec(content)![1]);
        const side = content.includes('must clearly involve') ? 'about the ocean' : 'about a bicycle';
        const lines = Array.from({ length: n }, (_, k) => `${k + 1}. item ${r.seed} number ${k} ${side}`);
        return ['Here you go:', ...lines, 'Hope this helps!'].join('\n');
      });
    },
  };
}

describe('requestConceptItems', () => {
  test('asks in requests of at most 10 items with consecutive seeds, all in one batch', async () => {
    const gen = seededGenerator();
    const res = await requestConceptItems(gen, { concept: 'the ocean', count: 23, kind: 'prompts', seed: 100 });
    assert.equal(gen.calls.length, 1);
    const reqs = gen.calls[0];
    assert.deepEqual(
      reqs.map((r) => r.seed),
      [100, 101, 102, 103, 104, 105],
    );
    assert.deepEqual(
      reqs.map((r) => Number(/^Write (\d+) /.exec(r.messages[0].content)![1])),
      [10, 10, 3, 10, 10, 3],
    );
    assert.equal(reqs[0].messages[0].content, positivePrompt('the ocean', 'prompts', 10));
    assert.equal(reqs[5].messages[0].content, negativePrompt('the ocean', undefined, 'prompts', 3));
    assert.ok(reqs.every((r) => r.temperature === 0.8));
    // Room for n items of up to 40 words: ceil(n · (40 · 1.5 + 4)) + 32.
    assert.deepEqual(
      reqs.map((r) => r.maxTokens),
      [672, 672, 224, 672, 672, 224],
    );
    assert.equal(res.positive.length, 23);
    assert.equal(res.negative.length, 23);
    assert.equal(res.positive[0], 'item 100 number 0 about the ocean');
    assert.equal(res.positive[22], 'item 102 number 2 about the ocean');
    assert.equal(res.negative[0], 'item 103 number 0 about a bicycle');
    assert.deepEqual(res.dropped, []);
  });

  test('same seed → same items; different seed → different requests and items', async () => {
    const opts = { concept: 'the ocean', neutral: 'bicycles', count: 5, kind: 'texts' as const, seed: 7 };
    const g1 = seededGenerator();
    const g2 = seededGenerator();
    const a = await requestConceptItems(g1, opts);
    const b = await requestConceptItems(g2, opts);
    assert.deepEqual(a, b);
    assert.deepEqual(g1.calls, g2.calls);
    assert.ok(g1.calls[0][1].messages[0].content.includes('about bicycles'));

    const g3 = seededGenerator();
    const c = await requestConceptItems(g3, { ...opts, seed: 8 });
    assert.deepEqual(
      g3.calls[0].map((r) => r.seed),
      [8, 9],
    );
    assert.notDeepEqual(c.positive, a.positive);
    assert.equal(c.positive[0], 'item 8 number 0 about the ocean');
  });

  test('filters the replies and keeps at most `count` per side, reporting the surplus', async () => {
    const gen: TextGenerator = {
      name: 'chatty',
      async complete(requests) {
        return requests.map((r) =>
          r.messages[0].content.includes('must clearly involve')
            ? '1. The ocean is deep and blue\n2. ocean\n3. The ocean is deep and blue.\n4. Waves hit the rocky shore\n5. Fish swim in the sea'
            : '1. My bike has a flat tire\n2. I ride to work daily',
        );
      },
    };
    const res = await requestConceptItems(gen, { concept: 'the ocean', count: 2, kind: 'texts', seed: 1 });
    assert.deepEqual(res.positive, ['The ocean is deep and blue', 'Waves hit the rocky shore']);
    assert.deepEqual(res.negative, ['My bike has a flat tire', 'I ride to work daily']);
    assert.deepEqual(res.dropped, [
      { text: 'ocean', side: 'positive', reason: 'too-short' },
      { text: 'The ocean is deep and blue.', side: 'positive', reason: 'duplicate' },
      { text: 'Fish swim in the sea', side: 'positive', reason: 'surplus' },
    ]);
  });

  test('rejects bad options', async () => {
    const gen = seededGenerator();
    await assert.rejects(requestConceptItems(gen, { concept: ' ', count: 3, kind: 'prompts', seed: 1 }), /concept/);
    await assert.rejects(requestConceptItems(gen, { concept: 'x', count: 0, kind: 'prompts', seed: 1 }), /count/);
    await assert.rejects(requestConceptItems(gen, { concept: 'x', count: 3, kind: 'prompts', seed: 1, perRequest: 11 }), /perRequest/);
    assert.equal(gen.calls.length, 0);
  });
});
