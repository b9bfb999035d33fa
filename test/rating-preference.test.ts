import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bradleyTerryRow, fitComparisons } from '../src/evals/bradley-terry.js';
import { preferredStrength, type StrengthComparison } from '../src/evals/preferred-strength.js';
import { adoptedCoefficient, parseRatingsText, ratedComparisons, strengthPreference } from '../src/evals/rating-preference.js';
import { rng } from './helpers/prng.js';
import { peaked, simulatedRatings } from './helpers/simulated-rater.js';

/**
 * Ratings tune strength: the Bradley–Terry fits against closed forms and independent optimizers,
 * a simulated rater whose preferred strength is known, and how ratings become comparisons.
 */

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Root of a decreasing function on [lo, hi] by bisection. */
function bisect(f: (x: number) => number, lo: number, hi: number): number {
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Maximum of a concave function on [lo, hi] by golden-section search. */
function goldenMax(f: (x: number) => number, lo: number, hi: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let [a, b] = [lo, hi];
  for (let i = 0; i < 90; i++) {
    const c = b - g * (b - a);
    const d = a + g * (b - a);
    if (f(c) > f(d)) b = d;
    else a = c;
  }
  return (a + b) / 2;
}

/** n comparisons of coefficient `a` against `b`: `winsA` won by a, `ties` tied, the rest won by b; one rating each. */
function pairs(a: number, b: number, n: number, winsA: number, ties: number): StrengthComparison[] {
  return Array.from({ length: n }, (_, i) => ({ a, b, y: i < winsA ? 1 : i < winsA + ties ? 0.5 : 0, weight: 1, rating: i }));
}

describe('Bradley–Terry fit', () => {
  test('two items: the strength difference is the log-odds of the win share (ties half), variance 1/(n p (1 - p))', () => {
    // 7 wins, 2 ties, 3 losses: p = 8/12 = 2/3, log-odds log 2; a prior of sd 1000 is no prior at all.
    const rows = pairs(0, 1, 12, 7, 2).map((c) => bradleyTerryRow(c.a, c.b, c.y, c.weight));
    const fit = fitComparisons(rows, 2, { priorSd: 1000 });
    assert.ok(Math.abs(fit.beta[0] - fit.beta[1] - Math.log(2)) < 1e-6, `${fit.beta[0] - fit.beta[1]}`);
    const [v00, v01, v11] = [fit.covariance[0], fit.covariance[1], fit.covariance[3]];
    assert.ok(Math.abs(v00 + v11 - 2 * v01 - 1 / (12 * (2 / 3) * (1 / 3))) < 1e-6, `variance ${v00 + v11 - 2 * v01}`);
  });

  test('two coefficients through preferredStrength: the MAP under the sd-10 prior, solved by bisection', () => {
    // By symmetry θ₀ = −θ₁ = −d/2; the log-posterior's derivative in d is n(p̂ − σ(d)) − d / (2·100).
    const n = 20;
    const p = preferredStrength(pairs(4, 0, n, 13, 4));
    const d = bisect((x) => n * (15 / 20 - sigmoid(x)) - x / 200, -20, 20);
    assert.equal(p.reference, 0);
    const at4 = p.perCoefficient.find((c) => c.coefficient === 4)!;
    assert.ok(Math.abs(at4.strength - d) < 1e-8, `${at4.strength} vs ${d}`);
    assert.equal(at4.comparisons, 20);
    assert.equal(at4.wins, 15);
    assert.ok(at4.interval[0] < d && d < at4.interval[1]);
    assert.equal(p.preferred, null, 'two strengths cannot place a preferred one');
    assert.match(p.reason ?? '', /only 2 strengths/);
  });

  test('five items agree with the MM algorithm (Hunter 2004) on random comparisons with ties', () => {
    const next = rng(7);
    const truth = [0, 0.8, -0.5, 1.5, 0.3];
    const comparisons: StrengthComparison[] = [];
    for (let i = 0; i < 300; i++) {
      const a = Math.floor(next() * 5);
      const b = (a + 1 + Math.floor(next() * 4)) % 5;
      const u = next();
      const pa = sigmoid(truth[a] - truth[b]);
      comparisons.push({ a, b, y: u < 0.1 ? 0.5 : u < 0.1 + 0.9 * pa ? 1 : 0, weight: 1, rating: i });
    }
    const fit = fitComparisons(comparisons.map((c) => bradleyTerryRow(c.a, c.b, c.y, c.weight)), 5, { priorSd: 1000 });
    // MM: π_i ← W_i / Σ_j n_ij / (π_i + π_j), W_i the (fractional) wins.
    let pi = new Float64Array(5).fill(1);
    for (let it = 0; it < 5000; it++) {
      const next = new Float64Array(5);
      for (let i = 0; i < 5; i++) {
        let wins = 0;
        let denom = 0;
        for (const c of comparisons) {
          if (c.a === i) (wins += c.y, (denom += 1 / (pi[c.a] + pi[c.b])));
          if (c.b === i) (wins += 1 - c.y, (denom += 1 / (pi[c.a] + pi[c.b])));
        }
        next[i] = wins / denom;
      }
      pi = next;
    }
    for (let i = 1; i < 5; i++) {
      const mm = Math.log(pi[i] / pi[0]);
      assert.ok(Math.abs(fit.beta[i] - fit.beta[0] - mm) < 1e-5, `item ${i}: ${fit.beta[i] - fit.beta[0]} vs MM ${mm}`);
    }
  });

  test('the quadratic utility and its argmax agree with a golden-section search of the same posterior', () => {
    const ratings = simulatedRatings({ vector: 'v', grid: [0, 2, 4, 6, 8], ratings: 60, seed: 3, concept: peaked(5, 0.1), coherence: peaked(5, 0.1) });
    const { comparisons } = ratedComparisons(ratings, 'v');
    const p = preferredStrength(comparisons, { resamples: 1 });
    // Independently: the log-posterior in (β₁, β₂) with x = c/8 and the N(0, 100²) prior,
    // maximized over β₁ for each β₂ (concave, so golden sections nest).
    const logPost = (b1: number, b2: number): number =>
      comparisons.reduce((s, c) => {
        const [xa, xb] = [c.a / 8, c.b / 8];
        const e = b1 * (xa - xb) + b2 * (xa * xa - xb * xb);
        return s + c.weight * (c.y * Math.log(sigmoid(e)) + (1 - c.y) * Math.log(sigmoid(-e)));
      }, 0) - (b1 * b1 + b2 * b2) / 20000;
    const best1 = (b2: number): number => goldenMax((b1) => logPost(b1, b2), -200, 200);
    const b2 = goldenMax((x) => logPost(best1(x), x), -200, 200);
    const b1 = best1(b2);
    assert.ok(Math.abs(p.utility!.linear - b1) < 1e-4 && Math.abs(p.utility!.quadratic - b2) < 1e-4, `${JSON.stringify(p.utility)} vs ${b1}, ${b2}`);
    assert.ok(Math.abs(p.preferred! - (-b1 / (2 * b2)) * 8) < 1e-3, `${p.preferred} vs ${(-b1 / (2 * b2)) * 8}`);
    assert.equal(p.atEdge, false);
  });
});

describe('a simulated rater with a known preferred strength', () => {
  const grid = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const cStar = 3.3;
  const u = peaked(cStar, 0.15);
  const fit = (n: number, seed: number, resamples = 300) =>
    strengthPreference(simulatedRatings({ vector: 'sad', grid, ratings: n, seed, concept: u, coherence: u, tie: 0.3 }), 'sad', undefined, { seed, resamples });

  test('the fit recovers c* within its interval, and the interval shrinks with more ratings', () => {
    const small = fit(50, 1);
    const large = fit(400, 2);
    for (const p of [small, large]) {
      assert.ok(p.interval![0] <= cStar && cStar <= p.interval![1], `c* = ${cStar} outside [${p.interval}] (n = ${p.n})`);
      assert.equal(p.atEdge, false);
    }
    const width = (p: typeof small) => p.interval![1] - p.interval![0];
    assert.ok(width(large) < width(small) / 2, `widths: ${width(small)} at n = 50, ${width(large)} at n = 400`);
    assert.equal(large.n, 400);
    // The per-coefficient strengths follow the true utility: strongest near c*, weakest at 8.
    const best = large.perCoefficient.reduce((m, c) => (c.strength > m.strength ? c : m));
    assert.ok(Math.abs(best.coefficient - cStar) <= 1, `strongest at ${best.coefficient}`);
    assert.equal(large.perCoefficient.reduce((m, c) => (c.strength < m.strength ? c : m)).coefficient, 8);
  });

  test('over 40 simulated studies of 60 ratings, the 95% interval holds c* at least 34 times', () => {
    // A calibrated interval misses about 2 in 40 (a few more with the bootstrap's few resamples);
    // one biased by too tight a prior misses far more (sd 10 on the utility: 25 of 60 held c*
    // when it sat near the top of the range).
    let covered = 0;
    for (let s = 0; s < 40; s++) {
      const p = fit(60, 100 + s, 200);
      if (p.interval![0] <= cStar && cStar <= p.interval![1]) covered++;
    }
    assert.ok(covered >= 34, `covered ${covered} of 40`);
  });

  test('a rater for whom strength buys concept and costs coherence: each question alone goes to an end, both together in between', () => {
    const [concept, coherence] = [(c: number) => 1.5 * c, (c: number) => -0.15 * c * c];
    const ratings = simulatedRatings({ vector: 'sad', grid, ratings: 200, seed: 1, concept, coherence });
    const byConcept = strengthPreference(ratings, 'sad', undefined, { dimension: 'concept', resamples: 50 });
    const byCoherence = strengthPreference(ratings, 'sad', undefined, { dimension: 'coherence', resamples: 50 });
    const overall = strengthPreference(ratings, 'sad', undefined, { resamples: 300 });
    // Concept alone rises with strength (best at the top, 8); coherence alone falls from 0.
    assert.ok(byConcept.preferred! > 7.5, `concept ${byConcept.preferred}`);
    assert.ok(byCoherence.preferred! < 0.5, `coherence ${byCoherence.preferred}`);
    assert.equal(overall.comparisons, 200, 'both questions, half a comparison each');
    // What the overall fit estimates: the same model fitted to the rater's expected answers over
    // every pair of the grid (no sampling noise). Near the maximum of the summed utilities (c = 5),
    // not at it: the two questions' win probabilities are averaged, not their log-odds.
    const expected: StrengthComparison[] = grid.flatMap((a, i) =>
      grid.filter((b) => b !== a).map((b, j) => ({ a, b, y: (sigmoid(concept(a) - concept(b)) + sigmoid(coherence(a) - coherence(b))) / 2, weight: 1000, rating: i * 9 + j })),
    );
    const target = preferredStrength(expected, { resamples: 1 }).preferred!;
    assert.ok(target > 4 && target < 5.5, `target ${target}`);
    assert.equal(overall.atEdge, false);
    assert.ok(overall.interval![0] <= target && target <= overall.interval![1], `target ${target} outside [${overall.interval}]`);
  });
});

describe('ratings to comparisons', () => {
  const steer = (vector: string, coefficient: unknown, extra: Record<string, unknown> = {}) => ({ interventions: [{ vector, layers: [1], coefficient, ...extra }] });
  const rating = (a: unknown, b: unknown, extra: Record<string, unknown> = {}) => ({ prompt: 'p', seed: 1, blind: true, a: { text: 'x', steering: a }, b: { text: 'y', steering: b }, preference: { concept: 'a', coherence: 'tie' }, ...extra });

  test('unsteered is 0, a file names the vector by its stem, and each question is half a comparison', () => {
    const r = ratedComparisons([rating(null, steer('vectors/sad.safetensors', 4)), rating(steer('sad', 2), steer('sad', 6))], 'sad');
    assert.equal(r.used, 2);
    assert.deepEqual(r.comparisons, [
      { a: 0, b: 4, y: 1, weight: 0.5, rating: 0 },
      { a: 0, b: 4, y: 0.5, weight: 0.5, rating: 0 },
      { a: 2, b: 6, y: 1, weight: 0.5, rating: 1 },
      { a: 2, b: 6, y: 0.5, weight: 0.5, rating: 1 },
    ]);
    assert.deepEqual(r.layers, [[1]]);
    const concept = ratedComparisons([rating(null, steer('sad', 4))], 'sad', 'concept');
    assert.deepEqual(concept.comparisons, [{ a: 0, b: 4, y: 1, weight: 1, rating: 0 }]);
  });

  test('without a pick, the 1-5 scores decide', () => {
    const scored = { preference: undefined, scores: { a: { concept: 2, coherence: 5 }, b: { concept: 4, coherence: 5 } } };
    const r = ratedComparisons([rating(steer('sad', 3), null, scored)], 'sad');
    assert.deepEqual(r.comparisons.map((c) => [c.a, c.b, c.y]), [[3, 0, 0], [3, 0, 0.5]]);
  });

  test('confounded or unreadable ratings are skipped with their reason; ratings about other vectors are not counted', () => {
    const r = ratedComparisons(
      [
        rating(null, { interventions: [...steer('sad', 4).interventions, { vector: 'happy', layers: [1], coefficient: 2 }] }),
        rating(null, { interventions: [{ sae: 's.safetensors', features: [3] }, ...steer('sad', 4).interventions] }),
        rating(null, { ...steer('sad', 4), decoding: { processors: [] } }),
        rating(null, steer('sad', 4, { operator: 'rotate' })),
        rating(null, steer('sad', 'recommended')),
        rating(null, { interventions: [{ vector: 'sad', layers: [1] }] }),
        rating(steer('sad', 2), { interventions: [{ vector: 'sad', layers: [0], coefficient: 4 }] }),
        rating(steer('sad', 4), steer('sad', 4)),
        rating(null, steer('sad', 4), { preference: undefined }),
        rating(null, steer('happy', 4)),
        { a: { steering: steer('sad', 4) } },
      ],
      'sad',
    );
    assert.equal(r.used, 0);
    assert.deepEqual(r.skipped, { 'other steering': 4, 'no coefficient': 2, 'different settings': 1, 'same strength': 1, 'no answer': 1, unreadable: 1 });
  });

  test('ratings files: JSONL (export lines), a JSON array or the list route; a bad line is named', () => {
    const line = JSON.stringify({ id: 'rating_1', createdAt: 't', ...rating(null, steer('sad', 4)) });
    assert.equal(parseRatingsText(`${line}\n\n${line}\n`, 'r.jsonl').length, 2);
    assert.equal(parseRatingsText(`[${line}]`, 'r.json').length, 1);
    assert.equal(parseRatingsText(JSON.stringify({ object: 'list', data: [JSON.parse(line), JSON.parse(line)] }), 'r.json').length, 2);
    assert.deepEqual(parseRatingsText('', 'empty'), []);
    assert.throws(() => parseRatingsText(`${line}\n{oops\n`, 'r.jsonl'), /r\.jsonl line 2: not valid JSON/);
  });

  test('an adopted strength is rounded to a tenth of its interval, down to a power of ten', () => {
    assert.equal(adoptedCoefficient(4.97511, [4.79, 5.18]), 4.98); // width 0.39: hundredths
    assert.equal(adoptedCoefficient(3.14159, [2, 5]), 3.1); // width 3: tenths
    assert.equal(adoptedCoefficient(123.456, [100, 150]), 123); // width 50: ones
    assert.equal(adoptedCoefficient(-2.345, [-3, -2]), -2.3);
    assert.equal(adoptedCoefficient(2.345, [2.345, 2.345]), 2.345, 'no width: kept as it is');
  });

  test('the automatic recommendation is the one before any adoption', () => {
    const meta = {
      format: 'steerer.vector/v1' as const,
      model: { name: 'm', architecture: 'llama', hiddenSize: 4, numLayers: 2 },
      method: 'diffmean' as const,
      site: 'resid_post' as const,
      createdAt: 't',
      recommended: { layers: [1], coefficient: 3.5 },
      adoptions: [{ source: 'human ratings' as const, coefficient: 3.5, previous: 6, ratings: 40, interval: [3, 4] as const, dimension: 'overall', adoptedAt: 't' }],
    };
    const p = strengthPreference([], 'sad', meta);
    assert.deepEqual([p.automatic.coefficient, p.automatic.source], [6, 'vector file']);
    assert.deepEqual([p.recommended.coefficient, p.recommended.source], [3.5, 'human ratings']);
    assert.equal(p.preferred, null);
    assert.match(p.reason ?? '', /no ratings/);
  });
});
