import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { searchStrength } from '../src/auto/strength-search.js';

/** A synthetic curve: concept rises with strength, cost grows as a power of it. */
function curve(costAt: (c: number) => number, conceptAt: (c: number) => number = (c) => Math.log1p(c)) {
  const calls: number[] = [];
  return {
    calls,
    evaluate: async (c: number) => {
      calls.push(c);
      return { concept: conceptAt(c), cost: costAt(c) };
    },
  };
}

describe('strength search', () => {
  test('finds the budget boundary of a monotone curve within the tolerance', async () => {
    // cost = c²/10 ≤ 2.5 ⇔ c ≤ 5
    for (const [budget, boundary] of [[2.5, 5], [0.1, 1], [40, 20]] as const) {
      const f = curve((c) => (c * c) / 10);
      const r = await searchStrength(f.evaluate, { budget, tolerance: 0.05 });
      assert.equal(r.stop, 'boundary');
      assert.ok(r.coefficient <= boundary + 1e-9 && r.coefficient >= boundary / 1.05, `budget ${budget}: chose ${r.coefficient}, boundary ${boundary}`);
      assert.ok(r.bracket[0] <= boundary && r.bracket[1] > boundary);
      assert.ok(r.bracket[1] / r.bracket[0] - 1 <= 0.05);
      assert.ok(r.cost <= budget);
      assert.equal(f.calls[0], 0, 'the unsteered point comes first');
      assert.ok(f.calls.length <= 12);
    }
  });

  test('halves from an infeasible start', async () => {
    const f = curve((c) => 100 * c); // boundary 0.1
    const r = await searchStrength(f.evaluate, { budget: 10, tolerance: 0.1 });
    assert.equal(r.stop, 'boundary');
    assert.ok(r.coefficient <= 0.1 && r.coefficient >= 0.1 / 1.1, `chose ${r.coefficient}`);
    assert.deepEqual(f.calls.slice(0, 6), [0, 1, 0.5, 0.25, 0.125, 0.0625]);
  });

  test('uses far fewer evaluations than a grid of the same resolution', async () => {
    const f = curve((c) => c ** 3); // boundary 2 for budget 8
    const r = await searchStrength(f.evaluate, { budget: 8, tolerance: 0.02 });
    assert.ok(Math.abs(r.coefficient - 2) / 2 <= 0.02);
    // A log grid from 1/64 to 64 at 2 % steps has ~420 points.
    assert.ok(f.calls.length <= 10, `${f.calls.length} evaluations`);
  });

  test('stops at the maximum when everything fits, and at 0 when nothing does', async () => {
    const free = await searchStrength(curve(() => 0).evaluate, { budget: 1, maxCoefficient: 16 });
    assert.equal(free.stop, 'max-coefficient');
    assert.equal(free.coefficient, 16);
    const f = curve((c) => (c === 0 ? 0 : 5));
    const none = await searchStrength(f.evaluate, { budget: 1, minCoefficient: 0.25 });
    assert.equal(none.stop, 'nothing-feasible');
    assert.equal(none.coefficient, 0);
    assert.deepEqual(f.calls, [0, 1, 0.5, 0.25]);
  });

  test('prefers a weaker coefficient when the concept score turns down before the budget', async () => {
    // Concept peaks at 2; cost boundary at 8.
    const r = await searchStrength(curve((c) => c / 8, (c) => -((c - 2) ** 2)).evaluate, { budget: 1 });
    assert.equal(r.coefficient, 2);
    assert.ok(r.bracket[0] >= 8 / 1.1 && r.bracket[0] <= 8);
  });

  test('reports the whole curve sorted, and refuses bad options and non-finite scores', async () => {
    const r = await searchStrength(curve((c) => c).evaluate, { budget: 3 });
    const cs = r.curve.map((p) => p.coefficient);
    assert.deepEqual(cs, [...cs].sort((a, b) => a - b));
    assert.ok(r.curve.every((p) => p.feasible === p.cost <= 3));
    await assert.rejects(searchStrength(curve((c) => c).evaluate, { budget: Number.NaN }), /budget/);
    await assert.rejects(searchStrength(curve((c) => c).evaluate, { budget: 1, start: 0 }), /start/);
    await assert.rejects(searchStrength(curve(() => Number.NaN).evaluate, { budget: 1 }), /non-finite/);
  });
});

describe('strength search with noisy scores and vetoes', () => {
  test('a score within the standard error of the best counts as a tie and the stronger one wins', async () => {
    // Boundary at 4; the score at 2 beats 4 by less than the error.
    const concept = (c: number): number => (c === 2 ? 1.05 : Math.min(c, 4) / 4);
    const noisy = await searchStrength(async (c) => ({ concept: concept(c), cost: c / 4, conceptError: 0.1 }), { budget: 1, maxCoefficient: 4 });
    assert.equal(noisy.coefficient, 4);
    const exact = await searchStrength(async (c) => ({ concept: concept(c), cost: c / 4 }), { budget: 1, maxCoefficient: 4 });
    assert.equal(exact.coefficient, 2);
  });

  test('feasible: false vetoes a point whatever its cost', async () => {
    // Cost is always 0, but text loops from coefficient 3 on: the boundary is 3.
    const r = await searchStrength(async (c) => ({ concept: c, cost: 0, feasible: c < 3 }), { budget: 1, tolerance: 0.05 });
    assert.ok(r.coefficient < 3 && r.coefficient >= 3 / 1.05, `chose ${r.coefficient}`);
  });
});
