import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { distinctN, longestRepeatedNgram, repetitionStats, wordsOf, type Token } from '../src/evals/repetition.js';
import { InvalidInputError } from '../src/io/errors.js';
import { createRng } from '../src/runtime/rng.js';

/** Brute force: the largest L such that two start positions hold the same L tokens. */
function bruteLongestRepeat(tokens: readonly Token[]): number {
  let best = 0;
  for (let L = 1; L < tokens.length; L++) {
    const seen = new Set<string>();
    let repeated = false;
    for (let i = 0; i + L <= tokens.length && !repeated; i++) {
      const key = JSON.stringify(tokens.slice(i, i + L));
      if (seen.has(key)) repeated = true;
      seen.add(key);
    }
    if (repeated) best = L;
  }
  return best;
}

describe('distinctN', () => {
  test('hand-computed ratios', () => {
    const t = ['a', 'b', 'a', 'b'];
    assert.equal(distinctN(t, 1), 2 / 4);
    assert.equal(distinctN(t, 2), 2 / 3); // ab ba ab
    assert.equal(distinctN(t, 3), 1); // aba bab
    assert.equal(distinctN(t, 4), 1);
    assert.equal(distinctN([7, 7, 7, 7, 7], 2), 1 / 4);
    assert.equal(distinctN([1, 2, 3], 1), 1);
  });

  test('sequences shorter than n count as unrepeated', () => {
    assert.equal(distinctN([], 1), 1);
    assert.equal(distinctN(['a', 'a'], 3), 1);
  });

  test('ids and strings are distinct tokens; n-gram keys do not collide', () => {
    assert.equal(distinctN([1, '1'], 1), 1);
    // "1,2" joined naively would equal the tokens "1" "2" and "1,2"...; interning keeps them apart
    assert.equal(distinctN(['1,2', '3', '1', '2,3'], 2), 1);
  });

  test('n must be a positive integer', () => {
    assert.throws(() => distinctN(['a'], 0), InvalidInputError);
    assert.throws(() => distinctN(['a'], 1.5), InvalidInputError);
  });
});

describe('longestRepeatedNgram', () => {
  test('hand-computed cases', () => {
    assert.equal(longestRepeatedNgram([]), 0);
    assert.equal(longestRepeatedNgram(['a']), 0);
    assert.equal(longestRepeatedNgram(['a', 'b', 'c']), 0);
    assert.equal(longestRepeatedNgram(['a', 'a', 'a']), 2); // overlapping occurrences
    assert.equal(longestRepeatedNgram('the cat sat on the cat sat'.split(' ')), 3);
    assert.equal(longestRepeatedNgram([1, 2, 3, 1, 2, 3, 1, 2]), 5); // 1 2 3 1 2 at 0 and 3
    assert.equal(longestRepeatedNgram([1, '1']), 0);
  });

  test('agrees with a brute-force search on random sequences', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(rng.nextFloat() * 40);
      const alphabet = 1 + Math.floor(rng.nextFloat() * 4);
      const t = Array.from({ length: n }, () => Math.floor(rng.nextFloat() * alphabet));
      assert.equal(longestRepeatedNgram(t), bruteLongestRepeat(t), JSON.stringify(t));
    }
  });

  test('4096 tokens: the planted repeat is found, and nothing longer repeats', () => {
    const rng = createRng(3);
    const t = Array.from({ length: 4096 }, () => Math.floor(rng.nextFloat() * 1000));
    t.splice(3000, 50, ...t.slice(100, 150)); // a planted 50-token repeat
    const longest = longestRepeatedNgram(t);
    assert.ok(longest >= 50, `longest repeat ${longest}`);
    // Checked by another method: some n-gram of that length occurs twice and none one longer does
    // (a longer repeat would hold a repeated (longest + 1)-gram).
    const repeats = (L: number): boolean => {
      const seen = new Set<string>();
      for (let i = 0; i + L <= t.length; i++) {
        const key = t.slice(i, i + L).join(',');
        if (seen.has(key)) return true;
        seen.add(key);
      }
      return false;
    };
    assert.ok(repeats(longest), `no ${longest}-gram occurs twice`);
    assert.ok(!repeats(longest + 1), `a ${longest + 1}-gram occurs twice`);
  });
});

describe('words and stats', () => {
  test('wordsOf lower-cases and drops punctuation', () => {
    assert.deepEqual(wordsOf("Don't STOP—now, 42 times!"), ["don't", 'stop', 'now', '42', 'times']);
    assert.deepEqual(wordsOf('  ...  '), []);
    assert.deepEqual(wordsOf('Élan über'), ['élan', 'über']);
  });

  test('repetitionStats on words', () => {
    const s = repetitionStats(wordsOf('The cat sat. The cat sat!'));
    // the cat sat the cat sat: 3/6 unigrams, 3/5 bigrams, 3/4 trigrams distinct
    assert.deepEqual(s, { distinct1: 0.5, distinct2: 0.6, distinct3: 0.75, longestRepeat: 3, tokens: 6 });
  });
});
