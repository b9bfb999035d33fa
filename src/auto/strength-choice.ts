import { InvalidInputError } from '../io/errors.js';
import type { Estimate } from './story-trial.js';

/**
 * Choosing a steering strength the way a user would: the concept must be clearly present in the
 * text, and the text must stay about as coherent as the unsteered model's. Strength is searched
 * in multiples of the layer's own activation scale ("relative strength" r: |c·v| = r × the mean
 * norm of the residual stream there), on a grid of factors of √2.
 */

/**
 * 'smallest-present': the weakest strength at which the concept is clearly present (least
 * coherence spent); 'harmonic': the best harmonic mean of concept and fluency (AxBench's way);
 * 'most-present': the most concept whose perplexity ratio is within budget by one standard error.
 */
export const STRENGTH_RULES = ['smallest-present', 'harmonic', 'most-present'] as const;
export type StrengthRuleKind = (typeof STRENGTH_RULES)[number];

/** What one strength did, against the unsteered texts of the same prompts and seeds. */
export interface StrengthCandidate {
  readonly relative: number;
  readonly coefficient: number;
  /** Concept terms per text. */
  readonly presence: Estimate;
  /** Perplexity under the unsteered model ÷ the unsteered texts'. */
  readonly pplRatio: Estimate;
  readonly distinct2: number;
}

export interface StrengthRule {
  readonly kind: StrengthRuleKind;
  /** Coherence budget: perplexity ratio at most this (default 1.25). */
  readonly maxPplRatio: number;
  /** Loops: mean distinct-2 may drop at most this far below the unsteered texts' (default 0.1). */
  readonly maxDistinctDrop: number;
  /** Clearly present: at least this many times the unsteered rate ... (default 3) */
  readonly targetRatio: number;
  /** ... and at least this many more concept terms per text (default 2: a reader notices two mentions in a story, one may be chance). */
  readonly minGain: number;
}

export const DEFAULT_RULE: StrengthRule = { kind: 'smallest-present', maxPplRatio: 1.25, maxDistinctDrop: 0.1, targetRatio: 3, minGain: 2 };

export function validateRule(r: StrengthRule): void {
  if (!(STRENGTH_RULES as readonly string[]).includes(r.kind)) throw new InvalidInputError(`the strength rule must be one of ${STRENGTH_RULES.join(', ')}, got "${String(r.kind)}"`);
  if (!(r.maxPplRatio > 1) || !Number.isFinite(r.maxPplRatio)) throw new InvalidInputError(`the perplexity budget must be a ratio above 1, got ${r.maxPplRatio}`);
  if (!(r.maxDistinctDrop >= 0 && r.maxDistinctDrop <= 1)) throw new InvalidInputError(`maxDistinctDrop must be in [0, 1], got ${r.maxDistinctDrop}`);
  if (!(r.targetRatio >= 1) || !Number.isFinite(r.targetRatio)) throw new InvalidInputError(`targetRatio must be >= 1, got ${r.targetRatio}`);
  if (!(r.minGain >= 0) || !Number.isFinite(r.minGain)) throw new InvalidInputError(`minGain must be >= 0, got ${r.minGain}`);
}

/** Concept terms per text that count as clearly present, given the unsteered rate. */
export function presenceTarget(baseRate: number, rule: StrengthRule): number {
  return Math.max(rule.targetRatio * baseRate, baseRate + rule.minGain);
}

/** Within the coherence budget and not looping; `why` says what failed. */
export function feasibility(c: StrengthCandidate, baseDistinct2: number, rule: StrengthRule): { feasible: boolean; why?: string } {
  if (c.pplRatio.mean > rule.maxPplRatio) return { feasible: false, why: `perplexity ratio ${c.pplRatio.mean.toFixed(2)} > ${rule.maxPplRatio}` };
  if (c.distinct2 < baseDistinct2 - rule.maxDistinctDrop) return { feasible: false, why: `repetition: distinct-2 ${c.distinct2.toFixed(2)} < ${(baseDistinct2 - rule.maxDistinctDrop).toFixed(2)}` };
  return { feasible: true };
}

/** Clearly present: the presence rate less one standard error reaches the target. */
export function reachesTarget(c: StrengthCandidate, target: number): boolean {
  return c.presence.mean - c.presence.se >= target;
}

/** AxBench-style score in [0, 1]: harmonic mean of concept (gain ÷ target gain, capped at 1) and fluency (1 at ratio 1, 0 at the budget). */
export function harmonicScore(c: StrengthCandidate, baseRate: number, rule: StrengthRule): number {
  const gainNeeded = presenceTarget(baseRate, rule) - baseRate;
  const concept = Math.max(0, Math.min(1, (c.presence.mean - baseRate) / Math.max(gainNeeded, 1e-9)));
  const fluency = Math.max(0, Math.min(1, 1 - (c.pplRatio.mean - 1) / (rule.maxPplRatio - 1)));
  return concept + fluency === 0 ? 0 : (2 * concept * fluency) / (concept + fluency);
}

export interface StrengthChoice {
  /** The chosen candidate (undefined: nothing but the unsteered model fits the budget). */
  readonly chosen?: StrengthCandidate;
  /** Whether the chosen strength makes the concept clearly present. */
  readonly reached: boolean;
  readonly target: number;
  /** The choice in words, one sentence each. */
  readonly explanation: readonly string[];
}

/**
 * Picks among measured candidates. smallest-present: the weakest feasible candidate that reaches
 * the target; when none does, the feasible one with the most concept (ties within a standard
 * error go to the weaker one, which costs less coherence). harmonic: the best harmonic score.
 */
export function chooseStrength(
  candidates: readonly StrengthCandidate[],
  base: { presence: number; distinct2: number },
  rule: StrengthRule,
  /** Steering away: candidates' presence is the drop below `unsteered` concept terms per text. */
  away?: { readonly unsteered: number },
): StrengthChoice {
  validateRule(rule);
  const target = presenceTarget(base.presence, rule);
  const sorted = [...candidates].sort((a, b) => a.relative - b.relative);
  const feasible = sorted.filter((c) => feasibility(c, base.distinct2, rule).feasible);
  const explanation: string[] = [
    away
      ? `Steering away: unsteered texts have ${away.unsteered.toFixed(2)} concept terms each; "clearly removed" means a drop of at least ${target.toFixed(2)} (to a third or less), counted as the mean drop less one standard error.`
      : `Unsteered texts have ${base.presence.toFixed(2)} concept terms each; "clearly present" means at least ${target.toFixed(2)} (${rule.targetRatio}× that, and at least ${rule.minGain} more), counted as the mean less one standard error.`,
    `A strength is within budget when the texts' perplexity under the unsteered model is at most ${rule.maxPplRatio}× the unsteered texts' and distinct-2 drops by at most ${rule.maxDistinctDrop}; "cost" is that ratio minus 1.`,
    `${sorted.length} strengths were measured, ${feasible.length} within budget.`,
  ];
  if (feasible.length === 0) {
    explanation.push('No strength fits the budget, so no coefficient is recommended (0).');
    return { reached: false, target, explanation };
  }
  const fmt = (c: StrengthCandidate): string =>
    `coefficient ${c.coefficient.toPrecision(3)} (relative strength ${c.relative.toPrecision(3)}): ${c.presence.mean.toFixed(2)} ± ${c.presence.se.toFixed(2)} concept terms per text, perplexity ratio ${c.pplRatio.mean.toFixed(2)} ± ${c.pplRatio.se.toFixed(2)}`;
  if (rule.kind === 'harmonic') {
    const scored = feasible.map((c) => ({ c, h: harmonicScore(c, base.presence, rule) }));
    const best = scored.reduce((a, b) => (b.h > a.h ? b : a));
    explanation.push(`Rule "harmonic": the best harmonic mean of concept and fluency, ${best.h.toFixed(2)}, at ${fmt(best.c)}.`);
    return { chosen: best.c, reached: reachesTarget(best.c, target), target, explanation };
  }
  if (rule.kind === 'most-present') {
    const safe = feasible.filter((c) => c.pplRatio.mean + c.pplRatio.se <= rule.maxPplRatio);
    const pool = safe.length > 0 ? safe : feasible;
    const best = pool.reduce((a, b) => (b.presence.mean > a.presence.mean ? b : a));
    explanation.push(
      `Rule "most-present": the most concept among strengths whose perplexity ratio stays within budget by one standard error${safe.length > 0 ? '' : ' (none did, so within budget at all)'}: ${fmt(best)}.`,
    );
    return { chosen: best, reached: reachesTarget(best, target), target, explanation };
  }
  const present = feasible.find((c) => reachesTarget(c, target));
  if (present) {
    explanation.push(`Rule "smallest-present": the weakest strength within budget at which the concept is clearly present is ${fmt(present)}.`);
    const weaker = feasible.filter((c) => c.relative < present.relative);
    if (weaker.length > 0) explanation.push(`Weaker strengths within budget fell short of the target (best: ${weaker.reduce((a, b) => (b.presence.mean > a.presence.mean ? b : a)).presence.mean.toFixed(2)} terms per text).`);
    return { chosen: present, reached: true, target, explanation };
  }
  const most = feasible.reduce((a, b) => (b.presence.mean > a.presence.mean ? b : a));
  // Within one standard error of the most concept, the weakest wins: it spends the least coherence.
  const tie = feasible.find((c) => c.presence.mean >= most.presence.mean - most.presence.se)!;
  explanation.push(`No strength within budget makes the concept clearly present; the most concept within budget is ${fmt(most)}.`);
  if (tie !== most) explanation.push(`Tie rule: ${fmt(tie)} is within one standard error of that and weaker, so it is chosen.`);
  return { chosen: tie, reached: false, target, explanation };
}

/** The grid of relative strengths: factors of √2 from 1/16 to 8. */
export const RELATIVE_GRID: readonly number[] = Array.from({ length: 15 }, (_, i) => 2 ** (-4 + i / 2));

interface GridSearchOptions {
  /** Start here (default 0.5, index 6 of the grid). */
  readonly start?: number;
  /** Candidates measured at most (default 8). */
  readonly maxEvaluations?: number;
}

/**
 * Walks the grid from `start`: first down until within budget; then, if the concept is clearly
 * present there, further down while it stays so (the weakest such strength); otherwise up until
 * it is present or the budget breaks (the harmonic rule always walks up to the budget). Returns
 * every measured candidate.
 */
export async function searchGrid(
  measure: (relative: number) => Promise<StrengthCandidate>,
  base: { presence: number; distinct2: number },
  rule: StrengthRule,
  opts: GridSearchOptions = {},
): Promise<StrengthCandidate[]> {
  validateRule(rule);
  const grid = RELATIVE_GRID;
  const startValue = opts.start ?? 0.5;
  let i = grid.reduce((best, g, k) => (Math.abs(Math.log(g / startValue)) < Math.abs(Math.log(grid[best] / startValue)) ? k : best), 0);
  const max = opts.maxEvaluations ?? 8;
  const target = presenceTarget(base.presence, rule);
  const seen = new Map<number, StrengthCandidate>();
  const at = async (k: number): Promise<StrengthCandidate> => {
    let c = seen.get(k);
    if (!c) {
      c = await measure(grid[k]);
      seen.set(k, c);
    }
    return c;
  };
  const ok = (c: StrengthCandidate): boolean => feasibility(c, base.distinct2, rule).feasible;
  const room = (): boolean => seen.size < max;
  // Too strong already: down until within budget.
  let here = await at(i);
  while (!ok(here) && i > 0 && room()) here = await at(--i);
  if (rule.kind === 'smallest-present' && ok(here) && reachesTarget(here, target)) {
    // Present within budget: down while it stays so, to find the weakest such strength.
    while (i > 0 && room()) {
      const c = await at(i - 1);
      if (!ok(c) || !reachesTarget(c, target)) break;
      i--;
    }
  } else if (ok(here)) {
    // Within budget but not yet present (or the harmonic rule): up until present or over budget.
    while (i < grid.length - 1 && room()) {
      const c = await at(++i);
      if (!ok(c) || (rule.kind === 'smallest-present' && reachesTarget(c, target))) break;
    }
  }
  return [...seen.values()].sort((a, b) => a.relative - b.relative);
}
