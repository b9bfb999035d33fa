/**
 * The strength people prefer for a steering vector, from pairwise ratings of replies made at
 * different coefficients (0 = unsteered). Two Bradley–Terry models over the same comparisons
 * (./bradley-terry.ts; a tie is half a win to each side):
 *
 * 1. Per coefficient: one strength per rated coefficient, with a 95% Laplace interval (from the
 *    Hessian), reported relative to the unsteered reply (or the weakest rated coefficient).
 * 2. A smooth utility, quadratic in the coefficient: log-odds(A over B) = u(c_A) − u(c_B) with
 *    u(c) = β₁x + β₂x², x = c / max|c|. The preferred strength is the argmax of u over the rated
 *    range (the vertex −β₁/2β₂ when the curve bends down inside it, else the better end, flagged
 *    as at the edge: people may want more, or less, than was tried). Its interval is a seeded
 *    percentile bootstrap over ratings (a rating's two questions resample together).
 *
 * The quadratic is fitted to the comparisons directly, not to the per-coefficient strengths: it
 * pools ratings across neighbouring coefficients, and a rater whose utility is −k(c − c*)² with
 * logistic noise is exactly this model, so c* is what it estimates.
 */
import { createRng } from '../runtime/rng.js';
import { bradleyTerryRow, fitComparisons, type ComparisonRow, type LogisticFit } from './bradley-terry.js';

/** One pairwise judgement between replies at coefficients a and b. */
export interface StrengthComparison {
  readonly a: number;
  readonly b: number;
  /** A's share of the win: 1, 0 or 0.5 (tie). */
  readonly y: number;
  readonly weight: number;
  /** The rating it came from: the bootstrap resamples ratings, keeping a rating's comparisons together. */
  readonly rating: number;
}

interface CoefficientStrength {
  readonly coefficient: number;
  /** Comparisons (weighted) this coefficient took part in, and its weighted wins (ties count half). */
  readonly comparisons: number;
  readonly wins: number;
  /** Bradley–Terry strength (log-odds) minus the reference's, with its 95% Laplace interval. */
  readonly strength: number;
  readonly interval: readonly [number, number];
  /** The fitted quadratic utility here, minus its value at the reference. */
  readonly curve: number | null;
}

export interface PreferredStrength {
  readonly ratings: number;
  readonly comparisons: number;
  /** The coefficient strengths are relative to: 0 when the unsteered reply was rated, else the weakest rated. */
  readonly reference: number | null;
  readonly perCoefficient: readonly CoefficientStrength[];
  /** The argmax of the fitted utility over the rated range; null with `reason` when it cannot be estimated. */
  readonly preferred: number | null;
  /** 95% percentile bootstrap interval of `preferred`. */
  readonly interval: readonly [number, number] | null;
  /** Whether `preferred` is an end of the rated range rather than an inner maximum. */
  readonly atEdge: boolean;
  readonly range: readonly [number, number] | null;
  /** u(c) = linear·(c/scale) + quadratic·(c/scale)², in log-odds. */
  readonly utility: { readonly linear: number; readonly quadratic: number; readonly scale: number } | null;
  readonly reason?: string;
  readonly resamples: number;
  readonly seed: number;
}

export interface PreferredStrengthOptions {
  /** Bootstrap resamples for the interval of the preferred strength (default 400). */
  readonly resamples?: number;
  readonly seed?: number;
}

/**
 * Prior standard deviations (log-odds; the utility's per unit of c / max|c|): weak next to the
 * data, see ./bradley-terry.ts. Tighter ones bias the preferred strength where people care
 * sharply: in simulation (c* = 6.5 of 0..8, 50 ratings) sd 10 on the utility put the 95%
 * interval around c* 25 times in 60, sd 100 53 times.
 */
const STRENGTH_PRIOR_SD = 10;
const UTILITY_PRIOR_SD = 100;
/** z for a two-sided 95% normal interval. */
const Z95 = 1.959963984540054;
/** Fewest distinct coefficients and ratings for a preferred strength: a curve needs three points. */
const MIN_COEFFICIENTS = 3;
const MIN_RATINGS = 5;
/** Most per-coefficient strengths; more distinct coefficients are pooled into neighbouring bins. */
const MAX_COEFFICIENTS = 64;
export const MAX_RESAMPLES = 2000;

/** Coefficients as one key each, without binary-fraction noise (0.30000000000000004 = 0.3). */
const key = (c: number): number => Number(c.toPrecision(12));

/**
 * The distinct coefficients, pooled into at most MAX_COEFFICIENTS bins of neighbours when there
 * are more; each bin is labelled by the mean of its coefficients.
 */
function coefficientBins(values: readonly number[]): { labels: number[]; binOf: (c: number) => number } {
  const distinct = [...new Set(values.map(key))].sort((p, q) => p - q);
  const bins = Math.min(distinct.length, MAX_COEFFICIENTS);
  const members: number[][] = Array.from({ length: bins }, () => []);
  const slot = new Map<number, number>();
  distinct.forEach((c, i) => {
    const bin = Math.floor((i * bins) / distinct.length);
    members[bin].push(c);
    slot.set(c, bin);
  });
  const labels = members.map((m) => (m.length === 1 ? m[0] : key(m.reduce((s, c) => s + c, 0) / m.length)));
  return { labels, binOf: (c) => slot.get(key(c))! };
}

/** Quantile with linear interpolation between order statistics (R's type 7). */
function quantile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

/** The quadratic utility's rows, identical comparisons pooled into one (weights summed): ratings repeat few strengths. */
function utilityRows(comparisons: readonly StrengthComparison[], scale: number): ComparisonRow[] {
  const pooled = new Map<string, { a: number; b: number; y: number; weight: number }>();
  for (const c of comparisons) {
    const k = `${c.a} ${c.b} ${c.y}`;
    const row = pooled.get(k);
    if (row) row.weight += c.weight;
    else pooled.set(k, { a: c.a, b: c.b, y: c.y, weight: c.weight });
  }
  return [...pooled.values()].map((c) => {
    const xa = c.a / scale;
    const xb = c.b / scale;
    return { index: [0, 1], values: [xa - xb, xa * xa - xb * xb], y: c.y, weight: c.weight };
  });
}

/** The argmax of β₁x + β₂x² over [lo, hi] (x units), and whether it is an end. */
function argmax(beta: Float64Array, lo: number, hi: number): { x: number; atEdge: boolean } {
  const u = (x: number) => beta[0] * x + beta[1] * x * x;
  if (beta[1] < 0) {
    const vertex = -beta[0] / (2 * beta[1]);
    if (vertex > lo && vertex < hi) return { x: vertex, atEdge: false };
  }
  return { x: u(hi) > u(lo) ? hi : lo, atEdge: true };
}

function perCoefficientStrengths(comparisons: readonly StrengthComparison[], utility: LogisticFit | null, scale: number): { reference: number; rows: CoefficientStrength[] } {
  const { labels, binOf } = coefficientBins(comparisons.flatMap((c) => [c.a, c.b]));
  const k = labels.length;
  const rows = comparisons.map((c) => bradleyTerryRow(binOf(c.a), binOf(c.b), c.y, c.weight));
  const fit = fitComparisons(rows, k, { priorSd: STRENGTH_PRIOR_SD });
  // The unsteered reply when rated, else the weakest coefficient (the one nearest 0).
  const ref = labels.reduce((best, c, i) => (Math.abs(c) < Math.abs(labels[best]) ? i : best), 0);
  const counts = new Float64Array(k);
  const wins = new Float64Array(k);
  for (const c of comparisons) {
    const [i, j] = [binOf(c.a), binOf(c.b)];
    counts[i] += c.weight;
    counts[j] += c.weight;
    wins[i] += c.weight * c.y;
    wins[j] += c.weight * (1 - c.y);
  }
  const u = (c: number): number => (utility === null ? NaN : utility.beta[0] * (c / scale) + utility.beta[1] * (c / scale) ** 2);
  const cov = (i: number, j: number): number => fit.covariance[i * k + j];
  return {
    reference: labels[ref],
    rows: labels.map((coefficient, i) => {
      const strength = fit.beta[i] - fit.beta[ref];
      const sd = Math.sqrt(Math.max(0, cov(i, i) + cov(ref, ref) - 2 * cov(i, ref)));
      return {
        coefficient,
        comparisons: counts[i],
        wins: wins[i],
        strength,
        interval: [strength - Z95 * sd, strength + Z95 * sd] as const,
        curve: utility === null ? null : u(coefficient) - u(labels[ref]),
      };
    }),
  };
}

/**
 * Fits both models to the comparisons. `ratings` counts the distinct `rating` ids; the bootstrap
 * draws that many ratings with replacement, `resamples` times, from a generator seeded by `seed`.
 */
export function preferredStrength(comparisons: readonly StrengthComparison[], opts: PreferredStrengthOptions = {}): PreferredStrength {
  const resamples = Math.min(Math.max(opts.resamples ?? 400, 1), MAX_RESAMPLES);
  const seed = opts.seed ?? 0;
  const byRating = new Map<number, StrengthComparison[]>();
  for (const c of comparisons) {
    const group = byRating.get(c.rating);
    if (group) group.push(c);
    else byRating.set(c.rating, [c]);
  }
  const groups = [...byRating.values()];
  const base = { ratings: groups.length, comparisons: comparisons.reduce((s, c) => s + c.weight, 0), resamples, seed };
  const none = (reason: string, extra: Partial<PreferredStrength> = {}): PreferredStrength => ({
    ...base,
    reference: null,
    perCoefficient: [],
    preferred: null,
    interval: null,
    atEdge: false,
    range: null,
    utility: null,
    ...extra,
    reason,
  });
  if (comparisons.length === 0) return none('no ratings compare replies at different strengths of this vector');

  const all = comparisons.flatMap((c) => [c.a, c.b]);
  const range = [all.reduce((m, c) => Math.min(m, c)), all.reduce((m, c) => Math.max(m, c))] as const;
  const scale = Math.max(Math.abs(range[0]), Math.abs(range[1]));
  const distinct = new Set(all.map(key)).size;
  const utility = distinct >= MIN_COEFFICIENTS ? fitComparisons(utilityRows(comparisons, scale), 2, { priorSd: UTILITY_PRIOR_SD }) : null;
  const { reference, rows: perCoefficient } = perCoefficientStrengths(comparisons, utility, scale);
  if (utility === null) {
    return none(`the ratings compare only ${distinct} strength${distinct === 1 ? '' : 's'}; a preferred strength needs at least ${MIN_COEFFICIENTS} (e.g. 0 and two others)`, { reference, perCoefficient, range });
  }
  const utilityOut = { linear: utility.beta[0], quadratic: utility.beta[1], scale };
  if (groups.length < MIN_RATINGS) {
    return none(`only ${groups.length} usable rating${groups.length === 1 ? '' : 's'}; a preferred strength needs at least ${MIN_RATINGS}`, { reference, perCoefficient, range, utility: utilityOut });
  }

  const [lo, hi] = [range[0] / scale, range[1] / scale];
  const best = argmax(utility.beta, lo, hi);
  const rng = createRng(seed);
  const draws: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const sample: StrengthComparison[] = [];
    for (let g = 0; g < groups.length; g++) sample.push(...groups[Math.floor(rng.nextFloat() * groups.length)]);
    const fit = fitComparisons(utilityRows(sample, scale), 2, { priorSd: UTILITY_PRIOR_SD, start: utility.beta });
    draws.push(argmax(fit.beta, lo, hi).x * scale);
  }
  draws.sort((p, q) => p - q);
  return {
    ...base,
    reference,
    perCoefficient,
    preferred: best.x * scale,
    interval: [quantile(draws, 0.025), quantile(draws, 0.975)],
    atEdge: best.atEdge,
    range,
    utility: utilityOut,
  };
}
