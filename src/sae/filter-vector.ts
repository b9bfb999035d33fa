import { InvalidInputError } from '../io/errors.js';
import { saeRunnerFor } from './runner-cache.js';
import type { Sae } from './sae.js';
import { defaultThreads } from '../graph/session-options.js';

/**
 * SAE-filtered steering vectors: express what a vector does in feature space, keep only the
 * strongest concept features, and decode back, so components the SAE attributes to unrelated
 * features (the off-concept part of a contrastive difference) are dropped.
 *
 * The vector's effect is measured where it acts: for reference activations X (ordinary text at
 * the SAE's hook), Δz = mean over rows of z(x + v) − z(x). The filtered vector is
 * Σ_{i ∈ top-k} Δzᵢ · W_dec[i] / s, rescaled to |v| so coefficients stay comparable.
 */
export interface FilteredVector {
  readonly direction: Float32Array;
  /** Kept features with their mean activation change, largest first. */
  readonly features: readonly { readonly feature: number; readonly delta: number }[];
  /** cos(v, filtered): how much of the vector's direction survived. */
  readonly cosine: number;
  /** Share of Σ|Δz| the kept features carry. */
  readonly keptMass: number;
}

export interface FilterOptions {
  /** Features kept, by |Δz| (default 64, or every feature of a smaller SAE). */
  readonly topK?: number;
  /**
   * Keep only features the vector turns up (default false). Turning "sad" up also turns
   * "happy" features down, and on TinyStories dropping those loses most of the effect.
   */
  readonly positiveOnly?: boolean;
  /** Rows per encoder call (default 2048). */
  readonly chunk?: number;
}

/** Mean latent change Δz when `vector` is added to each of the reference rows. */
export async function featureEffect(sae: Sae, vector: Float32Array, reference: Float32Array, rows: number, chunk = 2048): Promise<Float64Array> {
  const { dIn, dSae } = sae.cfg;
  if (vector.length !== dIn) throw new InvalidInputError(`vector has ${vector.length} values but the SAE reads ${dIn}`);
  if (rows < 1 || reference.length !== rows * dIn) throw new InvalidInputError(`reference activations have ${reference.length} values, expected ${rows} rows × ${dIn}`);
  const runner = saeRunnerFor(sae, defaultThreads());
  const delta = new Float64Array(dSae);
  for (let r = 0; r < rows; r += chunk) {
    const n = Math.min(chunk, rows - r);
    const sum = await runner.latentShiftSum(reference.subarray(r * dIn, (r + n) * dIn), n, vector);
    for (let i = 0; i < dSae; i++) delta[i] += sum[i] / rows;
  }
  return delta;
}

export async function saeFilteredVector(sae: Sae, vector: Float32Array, reference: Float32Array, rows: number, opts: FilterOptions = {}): Promise<FilteredVector> {
  const topK = opts.topK ?? Math.min(64, sae.cfg.dSae);
  if (!Number.isInteger(topK) || topK < 1 || topK > sae.cfg.dSae) throw new InvalidInputError(`topK must be an integer in 1..${sae.cfg.dSae}, got ${topK}`);
  const delta = await featureEffect(sae, vector, reference, rows, opts.chunk);
  const positiveOnly = opts.positiveOnly ?? false;
  const order = Array.from(delta.keys())
    .filter((i) => (positiveOnly ? delta[i] > 0 : delta[i] !== 0))
    .sort((a, b) => Math.abs(delta[b]) - Math.abs(delta[a]) || a - b)
    .slice(0, topK);
  if (order.length === 0) throw new InvalidInputError('the vector changes no SAE feature on the reference activations; nothing to keep');
  const { dIn, inputScale } = sae.cfg;
  const W = sae.weights.wDec;
  const direction = new Float32Array(dIn);
  for (const i of order) for (let d = 0; d < dIn; d++) direction[d] += (delta[i] * W[i * dIn + d]) / inputScale;
  const norm = (v: Float32Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  const nv = norm(vector);
  const nf = norm(direction);
  if (nf === 0) throw new InvalidInputError('the kept features decode to a zero vector');
  let dot = 0;
  for (let d = 0; d < dIn; d++) dot += vector[d] * direction[d];
  for (let d = 0; d < dIn; d++) direction[d] *= nv / nf;
  const total = delta.reduce((a, x) => a + Math.abs(x), 0);
  const kept = order.reduce((a, i) => a + Math.abs(delta[i]), 0);
  return {
    direction,
    features: order.map((feature) => ({ feature, delta: delta[feature] })),
    cosine: nv > 0 ? dot / (nv * nf) : 0,
    keptMass: total > 0 ? kept / total : 0,
  };
}
