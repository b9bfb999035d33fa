import { ModelFileError } from '../io/errors.js';

/**
 * Largest weight magnitude a model file may hold. Trained transformers stay orders of magnitude
 * below it (fp16 itself ends at 65504); bytes read under the wrong type or offset give values up
 * to 3e38, which overflow the forward pass into NaN logits instead of failing.
 */
const MAX_WEIGHT_MAGNITUDE = 1e6;

/** A weight read from `file` must be finite and within ±MAX_WEIGHT_MAGNITUDE; anything else is a corrupt file. */
export function checkWeightValues(data: Float32Array, file: string, tensor: string): Float32Array {
  const max = MAX_WEIGHT_MAGNITUDE;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(v <= max && v >= -max)) {
      const problem = Number.isFinite(v)
        ? `holds the value ${v.toExponential(2)}, beyond ±${max.toExponential(0)} (stored under the wrong type or offset?)`
        : `holds a non-finite value (${v})`;
      throw new ModelFileError(file, `tensor ${JSON.stringify(tensor)} ${problem}`);
    }
  }
  return data;
}
