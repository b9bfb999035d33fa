import type { RopeSpec } from './spec.js';

/**
 * Inverse frequencies of rotary embeddings, with the scalings models ship:
 * linear (position interpolation), Llama 3's wavelength-dependent blend, and explicit
 * per-frequency divisors (GGUF's rope_freqs tensor).
 */
export function ropeInvFreq(rope: RopeSpec): Float64Array {
  const half = rope.dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(rope.theta, (2 * i) / rope.dim);
  const s = rope.scaling;
  if (!s) return inv;
  if (s.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] /= s.factor;
  } else if (s.type === 'factors') {
    for (let i = 0; i < half; i++) inv[i] /= s.factors[i];
  } else {
    // Llama 3: keep high frequencies, divide low ones by `factor`, blend in between.
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen < highWavelen) continue;
      if (wavelen > lowWavelen) {
        inv[i] /= s.factor;
        continue;
      }
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
    }
  }
  return inv;
}

/** cos/sin tables [length, dim/2] for positions 0..length-1, as RotaryEmbedding takes them. */
export function ropeTables(rope: RopeSpec, length: number): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(rope);
  const half = inv.length;
  const cos = new Float32Array(length * half);
  const sin = new Float32Array(length * half);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * inv[i];
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}
