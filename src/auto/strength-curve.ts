import type { CurvePoint } from '../steering/auto-record.js';
import type { TrialOutcome } from './story-trial.js';
import type { StrengthCandidate } from './strength-choice.js';

/**
 * The strength curve's points as the pipeline (concept-vector.ts) records them: kept apart so
 * the pipeline reads as its steps.
 */

/**
 * One measured setting as a point of the strength curve recorded in the vector's metadata; `c` is
 * the candidate the rule saw (for 'away', presence is the drop below `baseRate`).
 */
export function curvePoint(layers: readonly number[], c: StrengthCandidate, o: TrialOutcome, feasible: boolean, why: string | undefined, direction: 'toward' | 'away', baseRate: number): CurvePoint {
  return {
    coefficient: c.coefficient,
    relative: c.relative,
    layers: [...layers],
    // The curve shows presence itself (not the drop) in both directions: what a reader sees.
    concept: direction === 'away' ? baseRate - c.presence.mean : c.presence.mean,
    conceptError: c.presence.se,
    cost: c.pplRatio.mean - 1,
    costError: c.pplRatio.se,
    feasible,
    ...(why ? { why } : {}),
    perplexity: o.perplexity,
    meanKl: null,
    distinct2: c.distinct2,
    metrics: Object.fromEntries(Object.entries(o.metrics).map(([k, v]) => [k, v.mean])),
  };
}
