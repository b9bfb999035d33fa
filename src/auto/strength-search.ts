import { InvalidInputError } from '../io/errors.js';

/** One evaluated coefficient: its concept score and its coherence cost. */
export interface StrengthPoint {
  readonly coefficient: number;
  readonly concept: number;
  /** Coherence cost (perplexity ratio − 1, or mean KL); feasible when ≤ the budget. */
  readonly cost: number;
  /** Standard error of the concept score (0 when not given). */
  readonly conceptError: number;
  readonly feasible: boolean;
}

/** What one evaluation reports. `feasible: false` vetoes a point whatever its cost (e.g. looping text). */
export interface StrengthEvaluation {
  readonly concept: number;
  readonly cost: number;
  readonly conceptError?: number;
  readonly feasible?: boolean;
}

export interface StrengthSearchOptions {
  /** Largest acceptable cost. */
  readonly budget: number;
  /** First coefficient tried (default 1: the mean difference itself for Steerer's vectors). */
  readonly start?: number;
  /** Search no higher (default 64). */
  readonly maxCoefficient?: number;
  /** Search no lower; below it nothing is feasible (default start / 64). */
  readonly minCoefficient?: number;
  /** Stop bisecting when hi / lo − 1 ≤ this (default 0.1). */
  readonly tolerance?: number;
  /** Evaluations at most, the unsteered one included (default 12). */
  readonly maxEvaluations?: number;
  readonly onPoint?: (p: StrengthPoint) => void;
}

export type StrengthStop = 'boundary' | 'max-coefficient' | 'nothing-feasible' | 'evaluations';

export interface StrengthSearchResult {
  /** The chosen coefficient (0 when nothing above 0 fits the budget). */
  readonly coefficient: number;
  readonly concept: number;
  readonly cost: number;
  /** Largest feasible and smallest infeasible coefficient found (hi = Infinity when none). */
  readonly bracket: readonly [number, number];
  readonly stop: StrengthStop;
  /** Every evaluation, by coefficient (0 = unsteered). */
  readonly curve: readonly StrengthPoint[];
}

/**
 * Chooses a steering strength under a coherence budget. Steering harder moves the concept score
 * up and coherence down, so the best feasible coefficient sits at the budget's boundary: it is
 * bracketed by doubling (or halving) from `start`, then narrowed by bisection in log space
 * (strength acts multiplicatively). The result is the feasible coefficient with the best concept
 * score among those evaluated (the boundary when the score rises with strength; a lower one
 * when the score turns down first). Scores within the best one's standard error count as tied,
 * and ties go to the stronger coefficient, so sampling noise does not pull the choice down.
 */
export async function searchStrength(
  evaluate: (coefficient: number) => Promise<StrengthEvaluation>,
  opts: StrengthSearchOptions,
): Promise<StrengthSearchResult> {
  const { budget } = opts;
  const start = opts.start ?? 1;
  const max = opts.maxCoefficient ?? 64;
  const min = opts.minCoefficient ?? start / 64;
  const tolerance = opts.tolerance ?? 0.1;
  const maxEvaluations = opts.maxEvaluations ?? 12;
  if (!Number.isFinite(budget) || budget < 0) throw new InvalidInputError(`the coherence budget must be a finite number >= 0, got ${budget}`);
  if (!(start > 0) || !Number.isFinite(start)) throw new InvalidInputError(`start must be a positive number, got ${start}`);
  if (!(max >= start) || !Number.isFinite(max)) throw new InvalidInputError(`maxCoefficient must be a number >= start (${start}), got ${max}`);
  if (!(min > 0 && min <= start)) throw new InvalidInputError(`minCoefficient must be in (0, start], got ${min}`);
  if (!(tolerance > 0)) throw new InvalidInputError(`tolerance must be positive, got ${tolerance}`);
  if (!Number.isInteger(maxEvaluations) || maxEvaluations < 3) throw new InvalidInputError(`maxEvaluations must be an integer >= 3, got ${maxEvaluations}`);

  const curve: StrengthPoint[] = [];
  const at = async (coefficient: number): Promise<StrengthPoint> => {
    const r = await evaluate(coefficient);
    if (!Number.isFinite(r.concept) || !Number.isFinite(r.cost)) {
      throw new InvalidInputError(`evaluating coefficient ${coefficient} gave a non-finite score (concept ${r.concept}, cost ${r.cost})`);
    }
    const conceptError = r.conceptError ?? 0;
    if (!(conceptError >= 0) || !Number.isFinite(conceptError)) throw new InvalidInputError(`evaluating coefficient ${coefficient} gave a bad standard error ${conceptError}`);
    const p = { coefficient, concept: r.concept, cost: r.cost, conceptError, feasible: (r.feasible ?? true) && r.cost <= budget };
    curve.push(p);
    opts.onPoint?.(p);
    return p;
  };
  const left = (): number => maxEvaluations - curve.length;

  await at(0);
  let lo = 0;
  let hi = Infinity;
  let c = start;
  // Bracket: double while feasible (up to max), or halve while not (down to min).
  if ((await at(c)).feasible) {
    lo = c;
    while (left() > 0 && c < max) {
      c = Math.min(c * 2, max);
      if ((await at(c)).feasible) lo = c;
      else {
        hi = c;
        break;
      }
    }
  } else {
    hi = c;
    while (left() > 0 && c / 2 >= min) {
      c /= 2;
      if ((await at(c)).feasible) {
        lo = c;
        break;
      }
      hi = c;
    }
  }
  // Narrow the bracket by bisection in log space.
  while (lo > 0 && hi < Infinity && hi / lo - 1 > tolerance && left() > 0) {
    const mid = Math.sqrt(lo * hi);
    if ((await at(mid)).feasible) lo = mid;
    else hi = mid;
  }
  let stop: StrengthStop;
  if (lo > 0 && hi < Infinity) stop = hi / lo - 1 <= tolerance ? 'boundary' : 'evaluations';
  else if (hi === Infinity) stop = lo >= max ? 'max-coefficient' : 'evaluations';
  else stop = c / 2 < min ? 'nothing-feasible' : 'evaluations';

  const sorted = [...curve].sort((a, b) => a.coefficient - b.coefficient);
  const feasible = sorted.filter((p) => p.feasible && p.coefficient > 0);
  const best = feasible.reduce<StrengthPoint | undefined>((b, p) => (!b || p.concept >= b.concept ? p : b), undefined);
  // Scores within one standard error of the best are a statistical tie: take the strongest of them.
  const chosen = best ? feasible.filter((p) => p.concept >= best.concept - best.conceptError).at(-1)! : sorted[0];
  return { coefficient: chosen.coefficient, concept: chosen.concept, cost: chosen.cost, bracket: [lo, hi], stop, curve: sorted };
}
