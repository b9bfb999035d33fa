/**
 * How well an automatic judge agrees with people. Two kinds of human rating are compared:
 * pairwise preferences (A, B or tie) against the judge's preference (the side it scored
 * higher), by raw agreement and Cohen's kappa; and 1-5 scores against the judge's 0-2
 * scores, by Spearman's rank correlation (ties get mid-ranks).
 */

export type Preference = 'a' | 'b' | 'tie';

/** The side with the higher score (tie when equal). */
export function preferenceOf(a: number, b: number): Preference {
  return a > b ? 'a' : b > a ? 'b' : 'tie';
}

/** Fraction of items on which the two raters gave the same label; null for no items. */
export function rawAgreement<T>(x: readonly T[], y: readonly T[]): number | null {
  checkSameLength(x, y);
  if (x.length === 0) return null;
  return x.filter((v, i) => v === y[i]).length / x.length;
}

/**
 * Cohen's kappa: (p_o − p_e) / (1 − p_e) with p_e from each rater's label frequencies.
 * null for no items, or when chance agreement is already 1 (both raters used one label).
 */
export function cohenKappa<T>(x: readonly T[], y: readonly T[]): number | null {
  checkSameLength(x, y);
  const n = x.length;
  if (n === 0) return null;
  const po = rawAgreement(x, y)!;
  const labels = new Set([...x, ...y]);
  let pe = 0;
  for (const label of labels) pe += (x.filter((v) => v === label).length / n) * (y.filter((v) => v === label).length / n);
  if (pe >= 1) return null;
  return (po - pe) / (1 - pe);
}

/** Ranks 1..n, tied values sharing the mean of their ranks. */
export function midRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1][0] === order[start][0]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k][1]] = rank;
    start = end + 1;
  }
  return ranks;
}

/** Spearman's rho: Pearson correlation of the mid-ranks. null with < 2 pairs or a constant side. */
export function spearman(x: readonly number[], y: readonly number[]): number | null {
  checkSameLength(x, y);
  if (x.length < 2) return null;
  const rx = midRanks(x);
  const ry = midRanks(y);
  const mean = (v: readonly number[]) => v.reduce((s, t) => s + t, 0) / v.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  if (sxx === 0 || syy === 0) return null;
  return sxy / Math.sqrt(sxx * syy);
}

/** One rating with what the people and the judge said about replies A and B on one dimension. */
export interface DimensionPair {
  /** The person's pairwise choice, when they gave one (else derived from their scores). */
  readonly humanPreference?: Preference;
  /** The person's 1-5 scores of A and B, when they gave them. */
  readonly humanScores?: readonly [number, number];
  /** The judge's scores of A and B. */
  readonly judgeScores: readonly [number, number];
}

export interface DimensionAgreement {
  /** Ratings with a human preference (given or from scores). */
  readonly pairs: number;
  readonly agreement: number | null;
  readonly kappa: number | null;
  /** Over every scored reply: human 1-5 score vs judge score. */
  readonly scoredReplies: number;
  readonly spearman: number | null;
}

export function dimensionAgreement(items: readonly DimensionPair[]): DimensionAgreement {
  const human: Preference[] = [];
  const judge: Preference[] = [];
  const hs: number[] = [];
  const js: number[] = [];
  for (const it of items) {
    const h = it.humanPreference ?? (it.humanScores ? preferenceOf(it.humanScores[0], it.humanScores[1]) : undefined);
    if (h !== undefined) {
      human.push(h);
      judge.push(preferenceOf(it.judgeScores[0], it.judgeScores[1]));
    }
    if (it.humanScores) {
      hs.push(it.humanScores[0], it.humanScores[1]);
      js.push(it.judgeScores[0], it.judgeScores[1]);
    }
  }
  return { pairs: human.length, agreement: rawAgreement(human, judge), kappa: cohenKappa(human, judge), scoredReplies: hs.length, spearman: spearman(hs, js) };
}

function checkSameLength(x: readonly unknown[], y: readonly unknown[]): void {
  if (x.length !== y.length) throw new RangeError(`rater label lists differ in length (${x.length} vs ${y.length})`);
}
