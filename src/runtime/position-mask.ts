import type { Dim, GraphBuilder } from '../graph/onnx-builder.js';
import type { ParamValue, StepInfo } from './hooks.js';
import { positionMask, type PositionSelector } from './positions.js';

/** Restricting a graph intervention to selected token positions (steering operators, SAE edits). */

/**
 * x + m·(y − x) with a per-step position mask `mask` [batch, seq, 1]: rows outside the
 * selector stay bit-identical. Shared by every intervention that honours positions.
 */
export function emitMasked(g: GraphBuilder, x: string, y: string, param: (name: string, dims: readonly Dim[]) => string): string {
  const delta = g.node('Mul', [param('mask', ['batch', 'seq', 1]), g.node('Sub', [y, x], {}, 'steer.delta')], {}, 'steer.masked');
  return g.node('Add', [x, delta], {}, 'steer.out');
}

/** The value of emitMasked's `mask` input for one step. */
export function maskParam(positions: PositionSelector, step: StepInfo): ParamValue {
  return { data: positionMask(positions, step.positions, step.seq, step.promptLengths), dims: [step.batch, step.seq, 1] };
}
