import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { harmonicScore, judgePrompts, judgeResponses, parseRating, type JudgeItem } from '../src/evals/judge.js';
import { localGenerator } from '../src/generators/local-generator.js';
import { GeneratorError, type GenerationRequest, type TextGenerator } from '../src/generators/text-generator.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { generate } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';

/** A judge that answers each prompt from a table, recording every call. */
function tableJudge(table: Map<string, string>): TextGenerator & { calls: GenerationRequest[][] } {
  const calls: GenerationRequest[][] = [];
  return {
    name: 'table',
    calls,
    async complete(requests) {
      calls.push([...requests]);
      return requests.map((r) => {
        const answer = table.get(r.messages[0].content);
        if (answer === undefined) throw new Error('unexpected prompt');
        return answer;
      });
    },
  };
}

describe('parseRating', () => {
  test('accepts the usual spellings', () => {
    assert.equal(parseRating('The text is fluent.\nRating: 2'), 2);
    assert.equal(parseRating('Rating: [[1]]'), 1);
    assert.equal(parseRating('**Rating:** 0'), 0);
    assert.equal(parseRating('**Rating**: 1'), 1);
    assert.equal(parseRating('rating:2.'), 2);
    assert.equal(parseRating('RATING: [2]'), 2);
  });

  test('the last occurrence wins', () => {
    assert.equal(parseRating('Rating: 0 would be harsh; I settle on\nRating: 2'), 2);
    assert.equal(parseRating('Rating: 1\nRating: [[0]]'), 0);
  });

  test('null when absent, out of range or not an integer', () => {
    assert.equal(parseRating('I would give it a two.'), null);
    assert.equal(parseRating(''), null);
    assert.equal(parseRating('Rating: 3'), null);
    assert.equal(parseRating('Rating: 10'), null);
    assert.equal(parseRating('Rating: 1.5'), null);
    assert.equal(parseRating('Rating: N'), null);
    // A valid earlier rating does not rescue an invalid last one.
    assert.equal(parseRating('Rating: 2\nRating: 5'), null);
  });
});

describe('harmonicScore', () => {
  test('hand-computed values', () => {
    assert.equal(harmonicScore(2, 2, 2), 2);
    assert.equal(harmonicScore(2, 2, 1), 1.5); // 3 / (1/2 + 1/2 + 1)
    assert.equal(harmonicScore(2, 1, 1), 1.2); // 3 / (1/2 + 1 + 1)
    assert.equal(harmonicScore(1, 1, 1), 1);
    assert.equal(harmonicScore(0, 2, 2), 0);
    assert.equal(harmonicScore(2, 2, 0), 0);
  });
});

describe('judgeResponses', () => {
  const items: JudgeItem[] = [
    { instruction: 'Describe a sunset.', response: 'The golden sun sank over the sea.', concept: 'the ocean' },
    { instruction: 'Name a fruit.', response: 'Apples, like waves of the ocean.', concept: 'the ocean' },
    { instruction: 'Say hello.', response: 'hello hello hello hello', concept: 'cats' },
  ];
  // Ratings (concept, instruction, fluency): item 0 (2,2,1); item 1 (2,1,1); item 2 (0, unparsed, 2).
  const replies = [
    ['The sea is central.\nRating: 2', 'Rating: [[2]]', '**Rating:** 1'],
    ['Rating: 2', 'Partly.\nRating: 1', 'Rating: 1'],
    ['No cats.\nRating: 0', 'I cannot decide.', 'Rating: 2'],
  ];
  const table = new Map<string, string>();
  items.forEach((item, i) => judgePrompts(item).forEach((p, k) => table.set(p, replies[i][k])));

  test('per-item ratings, harmonic scores and means (hand-computed)', async () => {
    const judge = tableJudge(table);
    const res = await judgeResponses(judge, items, { seed: 3 });
    assert.deepEqual(res.perItem, [
      { concept: 2, instruction: 2, fluency: 1, score: 1.5 },
      { concept: 2, instruction: 1, fluency: 1, score: 1.2 },
      { concept: 0, instruction: 0, fluency: 2, score: 0 },
    ]);
    assert.equal(res.unparsed, 1);
    assert.deepEqual(res.unparsedFields, [[], [], ['instruction']], 'which 0 is a placeholder, not a verdict');
    assert.equal(res.mean.concept, 4 / 3);
    assert.equal(res.mean.instruction, 1);
    assert.equal(res.mean.fluency, 4 / 3);
    assert.ok(Math.abs(res.mean.score - 0.9) < 1e-12); // (1.5 + 1.2 + 0) / 3

    // One batch: 3 requests per item, greedy, default 64 tokens, the given seed.
    assert.equal(judge.calls.length, 1);
    assert.equal(judge.calls[0].length, 9);
    for (const r of judge.calls[0]) {
      assert.equal(r.temperature, 0);
      assert.equal(r.maxTokens, 64);
      assert.equal(r.seed, 3);
      assert.equal(r.messages.length, 1);
      assert.equal(r.messages[0].role, 'user');
    }
  });

  test('prompts name what they judge and ask for the rating line', () => {
    const [concept, instruction, fluency] = judgePrompts(items[0]);
    assert.ok(concept.includes('"the ocean"') && concept.includes(items[0].response) && !concept.includes(items[0].instruction));
    assert.ok(instruction.includes(items[0].instruction) && instruction.includes(items[0].response));
    assert.ok(fluency.includes(items[0].response) && !fluency.includes('the ocean'));
    for (const p of [concept, instruction, fluency]) assert.ok(p.includes('Rating: N'));
  });

  test('errors: no items, wrong reply count', async () => {
    await assert.rejects(judgeResponses(tableJudge(table), []), InvalidInputError);
    const short: TextGenerator = { name: 'short', complete: async () => ['Rating: 2'] };
    await assert.rejects(judgeResponses(short, items.slice(0, 1)), (e: unknown) => e instanceof GeneratorError && /short returned 1 replies for 3 requests/.test(e.message));
  });

  test('smoke: a local base model as judge gives exactly what generate gives on each prompt', async () => {
    const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
    try {
      const item = items[0];
      const res = await judgeResponses(localGenerator(model), [item], { maxTokens: 24 });
      // No chat template: each single-message prompt is the plain prompt.
      const direct = await Promise.all(judgePrompts(item).map((p) => generate(model, p, { maxTokens: 24, temperature: 0 })));
      const expected = direct.map((d) => parseRating(d.text));
      assert.deepEqual([res.perItem[0].concept, res.perItem[0].instruction, res.perItem[0].fluency], expected.map((r) => r ?? 0));
      assert.equal(res.unparsed, expected.filter((r) => r === null).length);
      assert.deepEqual(res.unparsedFields[0], (['concept', 'instruction', 'fluency'] as const).filter((_, k) => expected[k] === null));
      assert.ok(direct.every((d) => d.tokens.length > 0));
    } finally {
      await model.dispose();
    }
  });
});
