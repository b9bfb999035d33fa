import { InvalidInputError } from '../io/errors.js';

/**
 * Which token positions an intervention or capture applies to. Positions are absolute
 * indices in each sequence (BOS = 0); the prompt is what the first forward on a cache fed.
 */
export type PositionSelector =
  | 'all'
  | 'prompt'
  | 'generated'
  /** The last n prompt tokens. */
  | { readonly last: number }
  /** Explicit absolute indices. */
  | { readonly indices: readonly number[] }
  /** Half-open range [from, to) of absolute indices (`to` omitted: to the end). */
  | { readonly from: number; readonly to?: number };

export function validatePositions(sel: PositionSelector): PositionSelector {
  if (sel === 'all' || sel === 'prompt' || sel === 'generated') return sel;
  const nonNegInt = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0) throw new InvalidInputError(`${what} must be a non-negative integer, got ${v}`);
  };
  if ('last' in sel) {
    nonNegInt(sel.last, 'positions.last');
  } else if ('indices' in sel) {
    sel.indices.forEach((i) => nonNegInt(i, 'positions.indices[]'));
  } else if ('from' in sel) {
    nonNegInt(sel.from, 'positions.from');
    if (sel.to !== undefined) nonNegInt(sel.to, 'positions.to');
  } else {
    throw new InvalidInputError(`unknown position selector ${JSON.stringify(sel)}`);
  }
  return sel;
}

/** Whether absolute position p of a sequence whose prompt has `promptLength` tokens is selected. */
function selects(sel: PositionSelector, p: number, promptLength: number): boolean {
  if (sel === 'all') return true;
  if (sel === 'prompt') return p < promptLength;
  if (sel === 'generated') return p >= promptLength;
  if ('last' in sel) return p < promptLength && p >= promptLength - sel.last;
  if ('indices' in sel) return sel.indices.includes(p);
  return p >= sel.from && (sel.to === undefined || p < sel.to);
}

/**
 * A [batch*seq] 0/1 mask for one forward step. `positions` holds absolute positions, -1 for
 * padding (never selected).
 */
export function positionMask(sel: PositionSelector, positions: Int32Array, seq: number, promptLengths: readonly number[]): Float32Array {
  const mask = new Float32Array(positions.length);
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r];
    if (p >= 0 && selects(sel, p, promptLengths[Math.floor(r / seq)])) mask[r] = 1;
  }
  return mask;
}
