/**
 * A seeded train / validation split, used to hold out contrastive pairs (and concept items) when
 * extracting and scoring steering vectors. Generic over the items, so it has no dataset types.
 */
import { InvalidInputError } from '../io/errors.js';
import { createRng, validateSeed } from '../runtime/rng.js';

/**
 * A deterministic split: the items are shuffled with a seeded generator and the first
 * round(n·fraction) become validation — at least 1 when fraction > 0 and n ≥ 2, and never all of
 * them. Both parts keep the items' original order. fraction 0 → no validation.
 */
export function splitTrainValidation<T>(items: readonly T[], fraction = 0.2, seed = 0): { train: T[]; validation: T[] } {
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) {
    throw new InvalidInputError(`the validation fraction must be in [0, 1), got ${String(fraction)}`);
  }
  validateSeed(seed);
  const n = items.length;
  const k = fraction === 0 || n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = createRng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const isValidation = new Uint8Array(n);
  for (let i = 0; i < k; i++) isValidation[order[i]] = 1;
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((item, i) => (isValidation[i] ? validation : train).push(item));
  return { train, validation };
}
