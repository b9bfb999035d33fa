import { InvalidInputError } from '../io/errors.js';
import type { Intervention } from '../runtime/hooks.js';
import type { PositionSelector } from '../runtime/positions.js';
import { decoderRow, type Sae } from '../sae/sae.js';
import { steeringIntervention } from './operators.js';

/** Adds coefficient × (sum of the features' decoder rows): steering along SAE features. */
export function featureAddIntervention(sae: Sae, features: readonly number[], coefficient: number, positions: PositionSelector = 'all'): Intervention {
  if (features.length === 0) throw new InvalidInputError('add needs at least one feature');
  const direction = new Float32Array(sae.cfg.dIn);
  for (const f of features) {
    const row = decoderRow(sae, f);
    for (let d = 0; d < row.length; d++) direction[d] += row[d] / sae.cfg.inputScale;
  }
  return steeringIntervention({ operator: 'add', vector: direction, coefficient, positions });
}
