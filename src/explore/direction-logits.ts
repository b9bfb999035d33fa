import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { directLogitWeights } from '../runtime/unembed.js';
import { tokenWeights, type TokenWeight } from '../sae/logit-lens.js';
import type { SteeringVector } from '../steering/vector.js';

/**
 * The tokens a direction promotes and suppresses through the unembedding: (v ⊙ g) · W_U, g the
 * final norm's gain (v centred first for LayerNorm models). It reads a direction as if it were
 * added straight before the head, skipping the layers between; a steering vector is read at each
 * of its layers, a probe or SAE direction as one vector.
 */
export interface DirectionLogits {
  /** The vector's layer (absent for a bare direction). */
  readonly layer?: number;
  /** |v|: the weights scale with it. */
  readonly norm: number;
  /** Largest weights first. */
  readonly promoted: readonly TokenWeight[];
  /** Most negative weights first. */
  readonly suppressed: readonly TokenWeight[];
}

export async function directionLogits(
  model: HookedModel,
  vector: SteeringVector | Float32Array,
  opts: { layer?: number; top?: number } = {},
): Promise<DirectionLogits[]> {
  const D = model.spec.hiddenSize;
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  let entries: [number | undefined, Float32Array][];
  if (vector instanceof Float32Array) {
    entries = [[opts.layer, vector]];
  } else {
    const layers = [...vector.directions.keys()].sort((a, b) => a - b);
    if (opts.layer !== undefined && !vector.directions.has(opts.layer)) {
      throw new InvalidInputError(`the vector has no direction for layer ${opts.layer} (it has ${layers.join(', ')})`);
    }
    entries = (opts.layer === undefined ? layers : [opts.layer]).map((l) => [l, vector.directions.get(l)!]);
  }
  if (entries.length === 0) throw new InvalidInputError('the vector has no directions');
  const dirs = new Float32Array(entries.length * D);
  entries.forEach(([layer, d], i) => {
    if (d.length !== D) throw new InvalidInputError(`direction${layer === undefined ? '' : ` for layer ${layer}`} has size ${d.length}, the model's hidden size is ${D}`);
    for (let j = 0; j < D; j++) if (!Number.isFinite(d[j])) throw new InvalidInputError(`direction${layer === undefined ? '' : ` for layer ${layer}`} has a non-finite value at index ${j}`);
    dirs.set(d, i * D);
  });
  const { promoted, suppressed } = await directLogitWeights(model, dirs, entries.length, top);
  return entries.map(([layer, d], i) => ({
    ...(layer === undefined ? {} : { layer }),
    norm: Math.sqrt(d.reduce((a, x) => a + x * x, 0)),
    promoted: tokenWeights(model, promoted, i),
    suppressed: tokenWeights(model, suppressed, i),
  }));
}
