import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chooseStrength,
  DEFAULT_RULE,
  feasibility,
  harmonicScore,
  presenceTarget,
  reachesTarget,
  RELATIVE_GRID,
  searchGrid,
  validateRule,
  type StrengthCandidate,
  type StrengthRule,
} from '../src/auto/strength-choice.js';
import { InvalidInputError } from '../src/io/errors.js';

/** A measured strength: coefficient 10 × relative, presence mean ± se, perplexity ratio (se 0.01). */
function cand(relative: number, presence: number, se: number, ppl: number, distinct2 = 0.8): StrengthCandidate {
  return { relative, coefficient: 10 * relative, presence: { mean: presence, se }, pplRatio: { mean: ppl, se: 0.01 }, distinct2 };
}

const BASE = { presence: 0.5, distinct2: 0.8 };
/** The hand-worked cases below use this rule: the defaults but one more concept word per text (minGain 1). */
const RULE: StrengthRule = { ...DEFAULT_RULE, minGain: 1 };
const HARMONIC: StrengthRule = { ...RULE, kind: 'harmonic' };
const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-9, msg ?? `${a} != ${b}`);

describe('strength rule pieces', () => {
  test('presence target: the larger of ratio × base and base + gain', () => {
    // 3 × 0.5 = 1.5 and 0.5 + 1 = 1.5; 3 × 0.1 = 0.3 < 0.1 + 1 = 1.1; 3 × 2 = 6 > 2 + 1.
    close(presenceTarget(0.5, RULE), 1.5);
    close(presenceTarget(0.1, RULE), 1.1);
    close(presenceTarget(2, RULE), 6);
    close(presenceTarget(0, RULE), 1);
    close(presenceTarget(0.4, { ...RULE, targetRatio: 2, minGain: 0.5 }), 0.9);
  });

  test('feasibility: perplexity budget and distinct-2 drop, each with its reason', () => {
    const rule: StrengthRule = { ...RULE, maxPplRatio: 1.25, maxDistinctDrop: 0.25 };
    assert.deepEqual(feasibility(cand(1, 2, 0, 1.25, 0.75), 0.75, rule), { feasible: true }, 'ratio exactly at the budget is within it');
    const over = feasibility(cand(1, 2, 0, 1.3, 0.75), 0.75, rule);
    assert.equal(over.feasible, false);
    assert.match(over.why!, /perplexity ratio 1\.30 > 1\.25/);
    // 0.75 − 0.25 = 0.5 exactly: 0.5 passes, 0.49 is a loop.
    assert.equal(feasibility(cand(1, 2, 0, 1.1, 0.5), 0.75, rule).feasible, true);
    const loop = feasibility(cand(1, 2, 0, 1.1, 0.49), 0.75, rule);
    assert.equal(loop.feasible, false);
    assert.match(loop.why!, /distinct-2 0\.49 < 0\.50/);
  });

  test('clearly present means the mean less one standard error reaches the target', () => {
    assert.equal(reachesTarget(cand(1, 1.6, 0.2, 1), 1.5), false); // 1.4
    assert.equal(reachesTarget(cand(1, 1.6, 0.05, 1), 1.5), true); // 1.55
    assert.equal(reachesTarget(cand(1, 1.5, 0, 1), 1.5), true);
  });

  test('harmonic score by hand', () => {
    // base 0.5, target 1.5: gain needed 1; fluency = 1 − (ppl − 1) / 0.25.
    close(harmonicScore(cand(0.25, 0.9, 0, 1.05), 0.5, RULE), (2 * 0.4 * 0.8) / 1.2); // 0.533
    close(harmonicScore(cand(0.5, 1.3, 0, 1.1), 0.5, RULE), (2 * 0.8 * 0.6) / 1.4); // 0.686
    close(harmonicScore(cand(1, 2.5, 0, 1.2), 0.5, RULE), (2 * 1 * 0.2) / 1.2); // concept capped at 1: 0.333
    assert.equal(harmonicScore(cand(1, 0.4, 0, 1.1), 0.5, RULE), 0, 'less concept than unsteered');
    assert.equal(harmonicScore(cand(1, 3, 0, 1.5), 0.5, RULE), 0, 'over the budget');
    assert.equal(harmonicScore(cand(1, 0.5, 0, 1.5), 0.5, RULE), 0, 'both zero');
    close(harmonicScore(cand(1, 1.5, 0, 1), 0.5, RULE), 1);
  });

  test('validateRule rejects bad rules and accepts the boundaries', () => {
    const bad: Array<Partial<Record<keyof StrengthRule, unknown>>> = [
      { kind: 'strongest' },
      { maxPplRatio: 1 }, { maxPplRatio: 0.9 }, { maxPplRatio: NaN }, { maxPplRatio: Infinity },
      { maxDistinctDrop: -0.1 }, { maxDistinctDrop: 1.1 }, { maxDistinctDrop: NaN },
      { targetRatio: 0.5 }, { targetRatio: NaN }, { targetRatio: Infinity },
      { minGain: -1 }, { minGain: NaN }, { minGain: Infinity },
    ];
    for (const b of bad) {
      const rule = { ...RULE, ...b } as StrengthRule;
      assert.throws(() => validateRule(rule), InvalidInputError, JSON.stringify(b));
      assert.throws(() => chooseStrength([cand(1, 2, 0, 1)], BASE, rule), InvalidInputError);
    }
    validateRule(DEFAULT_RULE);
    // The default: 3× the unsteered rate and two more words per text; a 1.25× perplexity budget.
    assert.equal(presenceTarget(0.5, DEFAULT_RULE), 2.5);
    assert.equal(presenceTarget(2, DEFAULT_RULE), 6);
    assert.equal(DEFAULT_RULE.maxPplRatio, 1.25);
    validateRule(HARMONIC);
    validateRule({ ...RULE, targetRatio: 1, minGain: 0, maxDistinctDrop: 0 });
    validateRule({ ...RULE, maxPplRatio: 1.0001, maxDistinctDrop: 1 });
  });

  test('the grid: factors of √2 from 1/16 to 8', () => {
    assert.equal(RELATIVE_GRID.length, 15);
    close(RELATIVE_GRID[0], 1 / 16);
    close(RELATIVE_GRID[6], 0.5);
    close(RELATIVE_GRID[8], 1);
    close(RELATIVE_GRID[14], 8);
    for (let i = 1; i < RELATIVE_GRID.length; i++) close(RELATIVE_GRID[i] / RELATIVE_GRID[i - 1], Math.SQRT2);
  });
});

describe('chooseStrength (smallest-present)', () => {
  test('the weakest feasible strength that reaches the target wins, not the one with most concept', () => {
    const cs = [cand(1, 4, 0.1, 1.2), cand(0.25, 1.0, 0.1, 1.05), cand(0.5, 1.8, 0.1, 1.1)]; // unsorted on purpose
    const r = chooseStrength(cs, BASE, RULE);
    assert.equal(r.chosen?.relative, 0.5);
    assert.equal(r.reached, true);
    close(r.target, 1.5);
    const text = r.explanation.join(' ');
    assert.match(text, /0\.50 concept terms each/);
    assert.match(text, /at least 1\.50 \(3× that, and at least 1 more\)/);
    assert.match(text, /at most 1\.25× .* by at most 0\.1/);
    assert.match(text, /3 strengths were measured, 3 within budget/);
    assert.match(text, /coefficient 5\.00 \(relative strength 0\.500\): 1\.80 ± 0\.10 concept terms per text, perplexity ratio 1\.10 ± 0\.01/);
    assert.match(text, /Weaker strengths within budget fell short of the target \(best: 1\.00 terms per text\)/);
  });

  test('a candidate over the perplexity budget is never chosen', () => {
    const cs = [cand(0.5, 3, 0.1, 1.3), cand(1, 2, 0.1, 1.2)];
    const r = chooseStrength(cs, BASE, RULE);
    assert.equal(r.chosen?.relative, 1);
    assert.match(r.explanation.join(' '), /2 strengths were measured, 1 within budget/);
    // The only one reaching the target is over budget: the most concept within budget, not reached.
    const r2 = chooseStrength([cand(0.5, 1.2, 0.1, 1.1), cand(1, 5, 0.1, 1.26)], BASE, RULE);
    assert.equal(r2.chosen?.relative, 0.5);
    assert.equal(r2.reached, false);
  });

  test('a candidate whose distinct-2 dropped too far is vetoed', () => {
    // Base distinct-2 0.8, max drop 0.1: 0.65 is a loop, 0.75 is fine.
    const cs = [cand(0.5, 2, 0.1, 1.1, 0.65), cand(1, 2.2, 0.1, 1.15, 0.75)];
    assert.equal(chooseStrength(cs, BASE, RULE).chosen?.relative, 1);
    // A looser drop allowance lets the weaker one through.
    assert.equal(chooseStrength(cs, BASE, { ...RULE, maxDistinctDrop: 0.2 }).chosen?.relative, 0.5);
  });

  test('clearly present uses mean − se', () => {
    const wide = chooseStrength([cand(0.5, 1.6, 0.2, 1.1), cand(1, 2.5, 0.1, 1.2)], BASE, RULE);
    assert.equal(wide.chosen?.relative, 1, '1.6 − 0.2 = 1.4 < 1.5');
    const narrow = chooseStrength([cand(0.5, 1.6, 0.05, 1.1), cand(1, 2.5, 0.1, 1.2)], BASE, RULE);
    assert.equal(narrow.chosen?.relative, 0.5, '1.6 − 0.05 = 1.55 ≥ 1.5');
    assert.equal(narrow.reached, true);
  });

  test('none reaching: the most concept within budget, ties within one se going to the weaker', () => {
    // Most concept: r=1 with 1.4 ± 0.2 → anything ≥ 1.2 ties; r=0.5 has 1.3, the weakest such.
    const tied = chooseStrength([cand(0.25, 1.0, 0.1, 1.05), cand(0.5, 1.3, 0.3, 1.1), cand(1, 1.4, 0.2, 1.2)], BASE, RULE);
    assert.equal(tied.chosen?.relative, 0.5);
    assert.equal(tied.reached, false);
    const t = tied.explanation.join(' ');
    assert.match(t, /No strength within budget makes the concept clearly present; the most concept within budget is coefficient 10\.0 \(relative strength 1\.00\): 1\.40 ± 0\.20/);
    assert.match(t, /Tie rule: coefficient 5\.00 \(relative strength 0\.500\): 1\.30 ± 0\.30/);
    // Same, but r=1 is 1.4 ± 0.05 → ties need ≥ 1.35; 1.3 does not: the tie rule changes nothing.
    const clear = chooseStrength([cand(0.25, 1.0, 0.1, 1.05), cand(0.5, 1.3, 0.3, 1.1), cand(1, 1.4, 0.05, 1.2)], BASE, RULE);
    assert.equal(clear.chosen?.relative, 1);
    assert.equal(clear.reached, false);
    assert.doesNotMatch(clear.explanation.join(' '), /Tie rule/);
  });

  test('nothing feasible: no choice, not reached, and it says so', () => {
    const r = chooseStrength([cand(0.5, 3, 0.1, 1.3), cand(1, 4, 0.1, 1.1, 0.5)], BASE, RULE);
    assert.equal(r.chosen, undefined);
    assert.equal(r.reached, false);
    close(r.target, 1.5);
    assert.match(r.explanation.join(' '), /2 strengths were measured, 0 within budget/);
    assert.match(r.explanation.at(-1)!, /No strength fits the budget/);
    const empty = chooseStrength([], { presence: 0.1, distinct2: 0.8 }, RULE);
    assert.equal(empty.chosen, undefined);
    close(empty.target, 1.1);
    assert.match(empty.explanation[0], /0\.10 concept terms each; "clearly present" means at least 1\.10/);
  });
});

describe('chooseStrength (harmonic)', () => {
  test('the argmax of the hand-computed harmonic scores', () => {
    // Scores 0.533, 0.686, 0.333 (see 'harmonic score by hand'): r=0.5 wins.
    const cs = [cand(0.25, 0.9, 0.1, 1.05), cand(0.5, 1.3, 0.1, 1.1), cand(1, 2.5, 0.1, 1.2), cand(2, 6, 0.1, 1.4)];
    const r = chooseStrength(cs, BASE, HARMONIC);
    assert.equal(r.chosen?.relative, 0.5);
    assert.equal(r.reached, false, '1.3 − 0.1 < 1.5');
    assert.match(r.explanation.at(-1)!, /Rule "harmonic": the best harmonic mean of concept and fluency, 0\.69, at coefficient 5\.00/);
    // The same candidates under smallest-present: only r=1 is clearly present within budget.
    const sp = chooseStrength(cs, BASE, RULE);
    assert.equal(sp.chosen?.relative, 1);
    assert.equal(sp.reached, true);
  });

  test('a harmonic choice that is clearly present reports reached', () => {
    // concept 1 (capped) and fluency 0.8 → 0.889 beats 2·0.6·0.9/1.5 = 0.72.
    const r = chooseStrength([cand(0.5, 1.1, 0, 1.025), cand(1, 2, 0.1, 1.05)], BASE, HARMONIC);
    assert.equal(r.chosen?.relative, 1);
    assert.equal(r.reached, true);
  });
});

describe('searchGrid', () => {
  /** presence(r) and ppl(r) as functions of the relative strength; records the call order. */
  function synthetic(presence: (r: number) => number, ppl: (r: number) => number, distinct2: (r: number) => number = () => 0.8) {
    const calls: number[] = [];
    return {
      calls,
      measure: async (r: number): Promise<StrengthCandidate> => {
        calls.push(r);
        return { relative: r, coefficient: 3 * r, presence: { mean: presence(r), se: 0 }, pplRatio: { mean: ppl(r), se: 0 }, distinct2: distinct2(r) };
      },
    };
  }
  const g = RELATIVE_GRID;

  test('too strong at the start: down into the budget, then down while still present', async () => {
    // presence 10r, ppl 1 + r: feasible r ≤ 0.25, present 10r ≥ 1.5 ⇔ r ≥ 0.15.
    // 0.5 ✗ → 0.354 ✗ → 0.25 ✓ present → 0.177 ✓ present → 0.125 not present: stop.
    const f = synthetic((r) => 10 * r, (r) => 1 + r);
    const cs = await searchGrid(f.measure, BASE, RULE);
    assert.deepEqual(f.calls, [g[6], g[5], g[4], g[3], g[2]]);
    assert.deepEqual(cs.map((c) => c.relative), [g[2], g[3], g[4], g[5], g[6]], 'sorted by strength');
    const r = chooseStrength(cs, BASE, RULE);
    assert.equal(r.chosen?.relative, g[3]);
    close(r.chosen!.relative, 2 ** -2.5);
    assert.equal(r.reached, true);
  });

  test('within budget but absent: up until present', async () => {
    // presence r, ppl 1 + r/8: present r ≥ 1.5, feasible r ≤ 2 → 0.5, 0.707, 1, 1.414, 2 (present).
    const f = synthetic((r) => r, (r) => 1 + r / 8);
    const cs = await searchGrid(f.measure, BASE, RULE);
    assert.deepEqual(f.calls, [g[6], g[7], g[8], g[9], g[10]]);
    const r = chooseStrength(cs, BASE, RULE);
    close(r.chosen!.relative, 2);
    assert.equal(r.reached, true);
  });

  test('never present: up until the budget breaks, then the most concept within it', async () => {
    // presence 0.5 + 0.1r never reaches 1.5 below r = 10; ppl 1 + r/8 breaks at 2.83.
    const f = synthetic((r) => 0.5 + 0.1 * r, (r) => 1 + r / 8);
    const cs = await searchGrid(f.measure, BASE, RULE);
    assert.deepEqual(f.calls, [g[6], g[7], g[8], g[9], g[10], g[11]]);
    const r = chooseStrength(cs, BASE, RULE);
    close(r.chosen!.relative, 2);
    assert.equal(r.reached, false);
  });

  test('a loop (distinct-2 drop) counts as over budget on the way down', async () => {
    // ppl fine everywhere, distinct-2 collapses above r = 0.3: 0.5 ✗, 0.354 ✗, 0.25 ✓ (presence 2.5, present),
    // 0.177 present, 0.125 not.
    const f = synthetic((r) => 10 * r, () => 1, (r) => (r > 0.3 ? 0.5 : 0.8));
    const cs = await searchGrid(f.measure, BASE, RULE);
    assert.deepEqual(f.calls, [g[6], g[5], g[4], g[3], g[2]]);
    close(chooseStrength(cs, BASE, RULE).chosen!.relative, 2 ** -2.5);
  });

  test('nothing within budget: walks to the bottom of the grid and recommends nothing', async () => {
    const f = synthetic((r) => 10 * r, () => 2);
    const cs = await searchGrid(f.measure, BASE, RULE);
    assert.deepEqual(f.calls, [g[6], g[5], g[4], g[3], g[2], g[1], g[0]]);
    assert.equal(chooseStrength(cs, BASE, RULE).chosen, undefined);
  });

  test('the harmonic rule walks up to the budget even when present', async () => {
    // presence 10r (concept capped at 1 everywhere from 0.15), fluency 1 − r/2: the weakest measured wins.
    const f = synthetic((r) => 10 * r, (r) => 1 + r / 8);
    const cs = await searchGrid(f.measure, BASE, HARMONIC);
    assert.deepEqual(f.calls, [g[6], g[7], g[8], g[9], g[10], g[11]]);
    close(chooseStrength(cs, BASE, HARMONIC).chosen!.relative, 0.5);
  });

  test('the start snaps to the nearest grid point in log scale', async () => {
    // ln(0.6/0.5) = 0.182 > ln(0.707/0.6) = 0.164: 0.6 starts at 0.707.
    for (const [start, first] of [[0.6, g[7]], [0.55, g[6]], [1, g[8]], [100, g[14]], [0.001, g[0]]] as const) {
      const f = synthetic(() => 0, () => 5);
      await searchGrid(f.measure, BASE, RULE, { start, maxEvaluations: 1 });
      assert.equal(f.calls[0], first, `start ${start}`);
    }
  });

  test('respects maxEvaluations on the way up', async () => {
    // From 1/16 upwards (presence r, present at 2): 11 points needed, 8 by default.
    const f = synthetic((r) => r, (r) => 1 + r / 8);
    const cs = await searchGrid(f.measure, BASE, RULE, { start: 1 / 16 });
    assert.deepEqual(f.calls, g.slice(0, 8));
    assert.equal(cs.length, 8);
    assert.equal(chooseStrength(cs, BASE, RULE).reached, false);
    const more = synthetic((r) => r, (r) => 1 + r / 8);
    const all = await searchGrid(more.measure, BASE, RULE, { start: 1 / 16, maxEvaluations: 20 });
    assert.deepEqual(more.calls, g.slice(0, 11));
    close(chooseStrength(all, BASE, RULE).chosen!.relative, 2);
  });

  test('respects maxEvaluations on the way down while present', async () => {
    // presence 10r, ppl 1: present from 0.177 up; start 2, max 3 → 2, 1.414, 1.
    const f = synthetic((r) => 10 * r, () => 1);
    const cs = await searchGrid(f.measure, BASE, RULE, { start: 2, maxEvaluations: 3 });
    assert.deepEqual(f.calls, [g[10], g[9], g[8]]);
    close(chooseStrength(cs, BASE, RULE).chosen!.relative, 1);
  });

  test('respects maxEvaluations on the way down into the budget', async () => {
    // presence 10r, ppl 1 + r: 0.5 ✗, 0.354 ✗, ... With max 2 only 0.5 and 0.354 may be measured.
    const f = synthetic((r) => 10 * r, (r) => 1 + r);
    await searchGrid(f.measure, BASE, RULE, { maxEvaluations: 2 });
    assert.deepEqual(f.calls, [g[6], g[5]]);
  });

  test('measures each point once and rejects a bad rule before measuring', async () => {
    const f = synthetic((r) => 10 * r, (r) => 1 + r);
    await searchGrid(f.measure, BASE, RULE, { maxEvaluations: 20 });
    assert.equal(new Set(f.calls).size, f.calls.length);
    const bad = synthetic(() => 0, () => 1);
    await assert.rejects(searchGrid(bad.measure, BASE, { ...RULE, maxPplRatio: 1 }), InvalidInputError);
    assert.deepEqual(bad.calls, []);
  });
});
