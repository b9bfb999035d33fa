import { InvalidInputError } from '../io/errors.js';
import type { Intervention, ParamValue } from '../runtime/hooks.js';
import { maskParam } from '../runtime/position-mask.js';
import { validatePositions, type PositionSelector } from '../runtime/positions.js';

/**
 * Target-level steering, compiled into the forward graph: instead of adding a fixed multiple
 * of a direction, hold a linear read-out of every selected row at a target, adding only what
 * is missing. For a read-out s = a·x + c (a vector's projection, or a probe's logit):
 *
 *   at least t:   x' = x + max(0, t − s)·d
 *   at most t:    x' = x − max(0, s − t)·d        with d = a / |a|²
 *
 * a·d = 1, so a row short of the target ends exactly on it (s' = t) by the smallest change
 * that gets there, and a row already past it is left bit for bit as it was (a select, not an
 * add of zero). The strength so adapts to the context: a token that already carries the
 * concept gets nothing, one that carries its opposite gets more.
 */
export interface TargetOptions {
  /** The read-out's weights a [hidden]: a unit direction, or a probe's weight row. */
  readonly read: Float32Array;
  /** The read-out's constant c: −μ·u for a centred projection, a probe's bias, or 0. */
  readonly offset: number;
  readonly target: number;
  /** Hold the read-out at most at the target instead of at least. */
  readonly atMost?: boolean;
  readonly positions?: PositionSelector;
}

export function targetIntervention(opts: TargetOptions): Intervention {
  const { read, offset, target } = opts;
  for (const [what, x] of [['target', target], ['read-out offset', offset]] as const) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new InvalidInputError(`${what} must be a finite number, got ${x}`);
  }
  let sq = 0;
  for (let i = 0; i < read.length; i++) {
    if (!Number.isFinite(read[i])) throw new InvalidInputError(`target read-out has a non-finite value at index ${i}`);
    sq += read[i] * read[i];
  }
  if (!(sq > 0)) throw new InvalidInputError('target steering needs a non-zero direction');
  const D = read.length;
  const push = Float32Array.from(read, (x) => x / sq);
  const positions = validatePositions(opts.positions ?? 'all');
  const masked = positions !== 'all';
  const atMost = opts.atMost === true;
  const values = { read: Float32Array.from(read), offset: Float32Array.of(offset), target: Float32Array.of(target) };

  return {
    key: `target${atMost ? '_at_most' : ''}${masked ? '_masked' : ''}`,
    dim: D,
    emit(g, x, param) {
      const col = g.node('Unsqueeze', [param('read', [D]), g.constInt64([1])], {}, 'target.read_col');
      const s = g.node('Add', [g.node('MatMul', [x, col], {}, 'target.dot'), param('offset', [1])], {}, 'target.readout');
      const t = param('target', [1]);
      // How far the row is from the target on the wrong side; 0 when it is already there.
      let need = g.node('Relu', [atMost ? g.node('Sub', [s, t], {}, 'target.over') : g.node('Sub', [t, s], {}, 'target.short')], {}, 'target.need');
      if (masked) need = g.node('Mul', [need, param('mask', ['batch', 'seq', 1])], {}, 'target.need_masked');
      const step = g.node('Mul', [need, param('push', [D])], {}, 'target.step');
      const moved = g.node(atMost ? 'Sub' : 'Add', [x, step], {}, 'target.moved');
      const act = g.node('Greater', [need, g.constFloat([0], [1])], {}, 'target.acts');
      return g.node('Where', [act, moved, x], {}, 'target.out');
    },
    params(step) {
      const p: Record<string, ParamValue> = {
        read: { data: values.read, dims: [D] },
        offset: { data: values.offset, dims: [1] },
        target: { data: values.target, dims: [1] },
        push: { data: push, dims: [D] },
      };
      if (masked) p.mask = maskParam(positions, step);
      return p;
    },
  };
}
