import { InvalidInputError } from '../io/errors.js';
import { createRng, validateSeed } from '../runtime/rng.js';

interface Fold {
  /** Indices, ascending. */
  readonly train: readonly number[];
  readonly test: readonly number[];
}

function shuffle(items: number[], next: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/**
 * Seeded k-fold split of `n` examples. With `strata` (a class per example) each class is shuffled
 * on its own and the classes are dealt in turn across the folds, so every fold holds each class's
 * count / k (±1) and fold sizes differ by at most one. Without strata: a shuffled plain k-fold.
 */
export function kFold(n: number, k: number, seed = 0, strata?: ArrayLike<number>): Fold[] {
  validateSeed(seed);
  if (!Number.isInteger(k) || k < 2) throw new InvalidInputError(`folds must be an integer >= 2, got ${k}`);
  if (!Number.isInteger(n) || n < k) throw new InvalidInputError(`${n} examples cannot be split into ${k} folds`);
  if (strata && strata.length !== n) throw new InvalidInputError(`strata has ${strata.length} entries for ${n} examples`);
  const rng = createRng(seed);
  const next = (): number => rng.nextFloat();
  let order: number[];
  if (strata) {
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const list = byClass.get(strata[i]) ?? [];
      list.push(i);
      byClass.set(strata[i], list);
    }
    order = [];
    // Classes in a fixed order (by label), each shuffled: dealing the concatenation round-robin
    // spreads every class evenly and keeps the fold sizes balanced.
    for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
      const list = byClass.get(c)!;
      shuffle(list, next);
      order.push(...list);
    }
  } else {
    order = Array.from({ length: n }, (_, i) => i);
    shuffle(order, next);
  }
  const foldOf = new Int32Array(n);
  order.forEach((example, position) => (foldOf[example] = position % k));
  return Array.from({ length: k }, (_, f) => {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (foldOf[i] === f ? test : train).push(i);
    return { train, test };
  });
}

/** Rows `indices` of a [rows, dim] matrix, copied into a new [indices.length, dim] matrix. */
export function gatherRows(X: Float32Array, dim: number, indices: readonly number[]): Float32Array {
  const out = new Float32Array(indices.length * dim);
  indices.forEach((r, i) => out.set(X.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

export function gather<T extends Float32Array | Float64Array | Int32Array>(values: T, indices: readonly number[]): T {
  const out = new (values.constructor as new (n: number) => T)(indices.length);
  indices.forEach((r, i) => (out[i] = values[r]));
  return out;
}
