import { InvalidInputError } from '../io/errors.js';
import type { GraphBuilder } from '../graph/onnx-builder.js';
import type { Intervention, ParamValue } from '../runtime/hooks.js';
import { emitMasked, maskParam } from '../runtime/position-mask.js';
import { validatePositions, type PositionSelector } from '../runtime/positions.js';

/**
 * Steering operators, compiled into the forward graph as interventions. For a direction v
 * with unit vector u = v/|v| and an activation x (one row per token):
 *
 *   add              x + c·v
 *   ablate           x − (x·u)u                         (directional ablation)
 *   ablate_then_add  x − (x·u)u + c·v
 *   clamp            x − (x·u)u + c·u                   (the projection on u becomes exactly c)
 *   mean_center      x + c·(v − μ)                      (μ: a stored mean activation)
 *   rotate           x turned by c degrees toward u in the plane of x and u; |x| is kept
 *
 * `preserveNorm` rescales each row back to its original norm afterwards. Rows outside the
 * position selector are left exactly as they were.
 */
export const OPERATORS = ['add', 'ablate', 'ablate_then_add', 'clamp', 'mean_center', 'rotate'] as const;
export type SteeringOperator = (typeof OPERATORS)[number];

export interface OperatorOptions {
  readonly operator: SteeringOperator;
  readonly vector: Float32Array;
  readonly coefficient: number;
  readonly positions?: PositionSelector;
  readonly preserveNorm?: boolean;
  /** Mean activation μ for mean_center. */
  readonly mean?: Float32Array;
}

function assertFinite(values: Float32Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new InvalidInputError(`${what} has a non-finite value at index ${i}`);
  }
}

export function steeringIntervention(opts: OperatorOptions): Intervention {
  const { operator, vector, coefficient } = opts;
  if (!(OPERATORS as readonly string[]).includes(operator)) {
    throw new InvalidInputError(`unknown operator "${operator}" (expected one of ${OPERATORS.join(', ')})`);
  }
  if (typeof coefficient !== 'number' || !Number.isFinite(coefficient)) {
    throw new InvalidInputError(`coefficient must be a finite number, got ${coefficient}`);
  }
  assertFinite(vector, 'steering vector');
  const D = vector.length;
  let norm = 0;
  for (const v of vector) norm += v * v;
  norm = Math.sqrt(norm);
  const needsUnit = operator !== 'add' && operator !== 'mean_center';
  if (needsUnit && norm === 0) throw new InvalidInputError(`operator ${operator} needs a non-zero direction`);
  const unit = vector.map((v) => v / norm);
  if (operator === 'mean_center') {
    if (!opts.mean) throw new InvalidInputError('mean_center needs a stored mean activation (the vector file has none for this layer)');
    if (opts.mean.length !== D) throw new InvalidInputError(`mean activation has size ${opts.mean.length}, vector has ${D}`);
    assertFinite(opts.mean, 'mean activation');
  }
  const positions = validatePositions(opts.positions ?? 'all');
  const masked = positions !== 'all';
  const preserveNorm = opts.preserveNorm === true;

  // What is added after any ablation, already scaled (and mean-centred).
  const addend = new Float32Array(D);
  if (operator === 'add' || operator === 'ablate_then_add') for (let i = 0; i < D; i++) addend[i] = coefficient * vector[i];
  if (operator === 'clamp') for (let i = 0; i < D; i++) addend[i] = coefficient * unit[i];
  if (operator === 'mean_center') for (let i = 0; i < D; i++) addend[i] = coefficient * (vector[i] - opts.mean![i]);
  const theta = (coefficient * Math.PI) / 180;

  return {
    key: `${operator}${masked ? '_masked' : ''}${preserveNorm ? '_norm' : ''}`,
    dim: D,
    emit(g, x, param) {
      const rowNorm = (t: string, name: string): string => g.node('ReduceL2', [t, g.constInt64([-1])], { keepdims: { i: 1 } }, name);
      const origNorm = preserveNorm ? rowNorm(x, 'steer.norm_in') : '';
      let y = x;
      if (operator === 'rotate') {
        y = emitRotation(g, x, param('unit', [D]), param('cos', [1]), param('sin', [1]));
      } else {
        if (operator === 'ablate' || operator === 'ablate_then_add' || operator === 'clamp') {
          const u = param('unit', [D]);
          const proj = g.node('MatMul', [x, g.node('Unsqueeze', [u, g.constInt64([1])], {}, 'steer.unit_col')], {}, 'steer.proj');
          y = g.node('Sub', [x, g.node('Mul', [proj, u], {}, 'steer.along')], {}, 'steer.ablated');
        }
        if (operator !== 'ablate') y = g.node('Add', [y, param('addend', [D])], {}, 'steer.added');
      }
      if (preserveNorm) {
        const eps = g.constFloat([1e-12], [1]);
        const scale = g.node('Div', [origNorm, g.node('Max', [rowNorm(y, 'steer.norm_out'), eps], {}, 'steer.norm_safe')], {}, 'steer.rescale');
        y = g.node('Mul', [y, scale], {}, 'steer.norm_kept');
      }
      return masked ? emitMasked(g, x, y, param) : y;
    },
    params(step) {
      const p: Record<string, ParamValue> = {};
      if (operator === 'rotate') {
        p.unit = { data: unit, dims: [D] };
        p.cos = { data: Float32Array.of(Math.cos(theta)), dims: [1] };
        p.sin = { data: Float32Array.of(Math.sin(theta)), dims: [1] };
      } else {
        if (operator === 'ablate' || operator === 'ablate_then_add' || operator === 'clamp') p.unit = { data: unit, dims: [D] };
        if (operator !== 'ablate') p.addend = { data: addend, dims: [D] };
      }
      if (masked) p.mask = maskParam(positions, step);
      return p;
    },
  };
}

/**
 * Norm-preserving rotation by θ toward u. With d = x·u, p = |x − d·u|:
 *   x' = (d·cosθ + p·sinθ)·u + (cosθ − d·sinθ/p)·(x − d·u)
 * which keeps |x'| = |x| and turns the angle to u down by θ (no trig ops needed in the graph).
 */
function emitRotation(g: GraphBuilder, x: string, u: string, cos: string, sin: string): string {
  const d = g.node('MatMul', [x, g.node('Unsqueeze', [u, g.constInt64([1])], {}, 'steer.unit_col')], {}, 'steer.proj');
  const perp = g.node('Sub', [x, g.node('Mul', [d, u], {}, 'steer.along')], {}, 'steer.perp');
  const p = g.node('Max', [g.node('ReduceL2', [perp, g.constInt64([-1])], { keepdims: { i: 1 } }, 'steer.perp_norm'), g.constFloat([1e-12], [1])], {}, 'steer.perp_safe');
  const alongCoef = g.node('Add', [g.node('Mul', [d, cos], {}, 'steer.d_cos'), g.node('Mul', [p, sin], {}, 'steer.p_sin')], {}, 'steer.along_coef');
  const perpCoef = g.node('Sub', [cos, g.node('Div', [g.node('Mul', [d, sin], {}, 'steer.d_sin'), p], {}, 'steer.d_sin_p')], {}, 'steer.perp_coef');
  return g.node('Add', [g.node('Mul', [alongCoef, u], {}, 'steer.rot_along'), g.node('Mul', [perpCoef, perp], {}, 'steer.rot_perp')], {}, 'steer.rotated');
}

/** x + scale·v at the selected positions (the `add` operator, the basis of CAA, repeng and control vectors). */
export function addVector(vector: Float32Array, opts: { scale?: number; positions?: PositionSelector } = {}): Intervention {
  return steeringIntervention({ operator: 'add', vector, coefficient: opts.scale ?? 1, positions: opts.positions });
}
