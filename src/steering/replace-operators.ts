import { InvalidInputError } from '../io/errors.js';
import type { HookPoint } from '../graph/hook-points.js';
import type { Intervention, PrepareContext } from '../runtime/hooks.js';
import { positionMask, validatePositions, type PositionSelector } from '../runtime/positions.js';
import { replaceIntervention } from '../runtime/replace-activation.js';

/**
 * Whole-activation ablation as steering operators: the selected rows of the activation are
 * replaced outright, not moved along a direction.
 *
 *   zero      x := 0
 *   mean      x := μ              (a mean activation: a vector file's stored mean, or inline)
 *   resample  x := x_source[p]    (the activation at the same position p of another text)
 *
 * Resample positions the source text does not reach (p ≥ its token count, e.g. generated
 * tokens) are left as they are.
 */
export const REPLACE_OPERATORS = ['zero', 'mean', 'resample'] as const;
export type ReplaceOperator = (typeof REPLACE_OPERATORS)[number];

export function isReplaceOperator(op: string): op is ReplaceOperator {
  return (REPLACE_OPERATORS as readonly string[]).includes(op);
}

export interface ReplaceOperatorOptions {
  readonly operator: ReplaceOperator;
  /** Hidden size. */
  readonly dim: number;
  readonly positions?: PositionSelector;
  /** mean: the activation put in place [dim]. */
  readonly mean?: Float32Array;
  /** resample: the text whose activations are put in place, and the hook point they are read at. */
  readonly source?: { readonly text: string; readonly point: HookPoint };
}

export function replaceOperatorIntervention(opts: ReplaceOperatorOptions): Intervention {
  const { operator, dim } = opts;
  if (!isReplaceOperator(operator)) throw new InvalidInputError(`unknown ablation operator "${String(operator)}" (expected one of ${REPLACE_OPERATORS.join(', ')})`);
  if (!Number.isInteger(dim) || dim < 1) throw new InvalidInputError(`hidden size must be a positive integer, got ${dim}`);
  const sel = validatePositions(opts.positions ?? 'all');
  const selected = (positions: Int32Array, seq: number, promptLengths: readonly number[]): Float32Array => positionMask(sel, positions, seq, promptLengths);
  if (operator === 'zero') {
    return replaceIntervention({ dim, value: { kind: 'zero' }, mask: (s) => selected(s.positions, s.seq, s.promptLengths) });
  }
  if (operator === 'mean') {
    const mean = opts.mean;
    if (!mean) throw new InvalidInputError('operator mean needs a mean activation');
    if (mean.length !== dim) throw new InvalidInputError(`mean activation has size ${mean.length}, the model's hidden size is ${dim}`);
    for (let i = 0; i < dim; i++) if (!Number.isFinite(mean[i])) throw new InvalidInputError(`mean activation has a non-finite value at index ${i}`);
    return replaceIntervention({ dim, value: { kind: 'row', row: mean }, mask: (s) => selected(s.positions, s.seq, s.promptLengths) });
  }
  const source = opts.source;
  if (!source || source.text === '') throw new InvalidInputError('operator resample needs a source text');
  return resampleIntervention(source.text, source.point, dim, selected);
}

function resampleIntervention(
  text: string,
  point: HookPoint,
  dim: number,
  selected: (positions: Int32Array, seq: number, promptLengths: readonly number[]) => Float32Array,
): Intervention {
  // Captured once per model (the prepare context is one object per model).
  const captured = new WeakMap<PrepareContext, Promise<Float32Array>>();
  let rows: Float32Array = new Float32Array(0);
  const length = (): number => rows.length / dim;
  return replaceIntervention({
    dim,
    value: {
      kind: 'rows',
      shared: false,
      rows(step) {
        const out = new Float32Array(step.positions.length * dim);
        step.positions.forEach((p, r) => {
          if (p >= 0 && p < length()) out.set(rows.subarray(p * dim, (p + 1) * dim), r * dim);
        });
        return out;
      },
    },
    mask(step) {
      const m = selected(step.positions, step.seq, step.promptLengths);
      step.positions.forEach((p, r) => {
        if (p >= length()) m[r] = 0;
      });
      return m;
    },
    async prepare(ctx) {
      let c = captured.get(ctx);
      if (!c) {
        const ids = ctx.encode(text);
        if (ids.length === 0) throw new InvalidInputError('the resample source text has no tokens');
        c = ctx.capture(ids, point);
        captured.set(ctx, c);
        c.catch(() => captured.delete(ctx));
      }
      rows = await c;
    },
  });
}
