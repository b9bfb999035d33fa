import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cohenKappa, dimensionAgreement, midRanks, preferenceOf, rawAgreement, spearman } from '../src/evals/agreement.js';

const close = (a: number | null, b: number, eps = 1e-12) => assert.ok(a !== null && Math.abs(a - b) < eps, `${a} vs ${b}`);

test('Cohen kappa matches a hand-worked 2x2 table', () => {
  // 10 items: both "a" 4, both "b" 3, x=a/y=b 2, x=b/y=a 1.
  const x = [...'aaaa', ...'bbb', ...'aa', 'b'];
  const y = [...'aaaa', ...'bbb', ...'bb', 'a'];
  // p_o = 7/10; x: a 6, b 4; y: a 5, b 5; p_e = .6*.5 + .4*.5 = .5; kappa = (.7-.5)/.5 = .4
  close(rawAgreement(x, y), 0.7);
  close(cohenKappa(x, y), 0.4);
  close(cohenKappa(x, x), 1);
  assert.equal(cohenKappa(['a', 'a'], ['a', 'a']), null, 'chance agreement 1: undefined');
  assert.equal(cohenKappa([], []), null);
  assert.throws(() => cohenKappa(['a'], []), /differ in length/);
});

test('Spearman with ties uses mid-ranks (hand-computed)', () => {
  assert.deepEqual(midRanks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
  // x ranks 1..5; y = [1, 3, 2, 5, 4] ranks itself; d² = 0+1+1+1+1 = 4; rho = 1 - 6·4/(5·24) = 0.8
  close(spearman([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]), 0.8);
  close(spearman([1, 2, 3], [30, 20, 10]), -1);
  // With ties: x = [1,2,2,3] → [1,2.5,2.5,4]; y = [1,2,3,4]; Pearson of ranks = 4.5/√(4.5·5) = √0.9
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), Math.sqrt(0.9));
  assert.equal(spearman([1, 1, 1], [1, 2, 3]), null);
  assert.equal(spearman([1], [2]), null);
});

test('dimension agreement: preferences given or derived from scores, judge preference from its scores', () => {
  assert.equal(preferenceOf(2, 1), 'a');
  assert.equal(preferenceOf(0, 1), 'b');
  assert.equal(preferenceOf(1, 1), 'tie');
  const r = dimensionAgreement([
    { humanPreference: 'b', judgeScores: [0, 2] }, // agree
    { humanPreference: 'a', judgeScores: [0, 2] }, // disagree
    { humanScores: [5, 1], judgeScores: [2, 0] }, // derived a, agree
    { humanScores: [2, 2], judgeScores: [1, 0] }, // derived tie vs a: disagree
  ]);
  assert.equal(r.pairs, 4);
  close(r.agreement, 0.5);
  assert.equal(r.scoredReplies, 4);
  // human [5,1,2,2] → ranks [4,1,2.5,2.5]; judge [2,0,1,0] → [4,1.5,3,1.5]
  // deviations [1.5,-1.5,0,0] and [1.5,-1,0.5,-1]: rho = 3.75 / √(4.5·4.5)
  close(r.spearman, 3.75 / 4.5);
  // kappa by hand: human [b,a,a,tie], judge [b,b,a,a]; p_o = .5; p_e = (1/4·2/4) + (2/4·2/4) + 0 = .375
  close(r.kappa, (0.5 - 0.375) / 0.625);
});
