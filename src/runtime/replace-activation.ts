import { int } from '../graph/onnx-builder.js';
import type { Intervention, ParamValue, PrepareContext, StepInfo } from './hooks.js';

/**
 * Replacing an activation outright where a per-step mask says so: zero, mean and resample
 * ablation (steering operators) and activation patching. The selected rows become exactly the
 * given values (ONNX Where, no arithmetic on either side), every other row stays bit-identical.
 */

/** ONNX's element type code for bool (the Cast target of the mask). */
const BOOL = 9;

/** What replaces the selected rows. */
export type ReplaceValue =
  | { readonly kind: 'zero' }
  /** One row [hidden] at every selected position (a mean activation). */
  | { readonly kind: 'row'; readonly row: Float32Array }
  /**
   * Rows per step: [1, seq, hidden] shared by every sequence of the batch (`shared`), or
   * [batch, seq, hidden]. Computed by `rows(step)`.
   */
  | { readonly kind: 'rows'; readonly shared: boolean; rows(step: StepInfo): Float32Array };

export interface ReplaceOptions {
  readonly dim: number;
  readonly value: ReplaceValue;
  /** [batch*seq] 0/1: which rows are replaced this step. */
  mask(step: StepInfo): Float32Array;
  /** Runs before each forward uses the intervention (see Intervention.prepare). */
  prepare?(ctx: PrepareContext): Promise<void>;
}

export function replaceIntervention(opts: ReplaceOptions): Intervention {
  const { dim, value } = opts;
  const shape = value.kind === 'row' ? 'row' : value.kind === 'rows' ? (value.shared ? 'shared_rows' : 'rows') : 'zero';
  return {
    key: `replace_${shape}`,
    dim,
    ...(opts.prepare ? { prepare: opts.prepare } : {}),
    emit(g, x, param) {
      const source =
        value.kind === 'zero'
          ? g.constFloat([0], [1])
          : value.kind === 'row'
            ? param('value', [dim])
            : param('value', [value.shared ? 1 : 'batch', 'seq', dim]);
      const cond = g.node('Cast', [param('mask', ['batch', 'seq', 1])], { to: int(BOOL) }, 'replace.cond');
      return g.node('Where', [cond, source, x], {}, 'replace.out');
    },
    params(step) {
      const p: Record<string, ParamValue> = { mask: { data: opts.mask(step), dims: [step.batch, step.seq, 1] } };
      if (value.kind === 'row') p.value = { data: value.row, dims: [dim] };
      if (value.kind === 'rows') p.value = { data: value.rows(step), dims: [value.shared ? 1 : step.batch, step.seq, dim] };
      return p;
    },
  };
}
