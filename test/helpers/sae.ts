import type { HookPoint } from '../../src/graph/hook-points.js';
import type { Sae } from '../../src/sae/sae.js';

/** A lossless ReLU SAE: latents relu(x) and relu(−x), so the decoder gives back x exactly. */
export function losslessSae(D: number, hook: HookPoint): Sae {
  const dSae = 2 * D;
  const wEnc = new Float32Array(D * dSae);
  const wDec = new Float32Array(dSae * D);
  for (let d = 0; d < D; d++) {
    wEnc[d * dSae + d] = 1;
    wEnc[d * dSae + D + d] = -1;
    wDec[d * D + d] = 1;
    wDec[(D + d) * D + d] = -1;
  }
  return {
    cfg: { dIn: D, dSae, activation: { kind: 'relu' }, hook, applyBDecToInput: false, inputScale: 1, format: 'steerer' },
    weights: { wEnc, bEnc: new Float32Array(dSae), wDec, bDec: new Float32Array(D) },
  };
}
