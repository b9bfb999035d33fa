import { InvalidInputError } from '../io/errors.js';
import type { Intervention, ParamValue } from '../runtime/hooks.js';
import { validatePositions, type PositionSelector } from '../runtime/positions.js';
import { emitMasked, maskParam } from '../runtime/position-mask.js';
import { emitDecode, emitEncode, type SaeParamNames } from './sae-graphs.js';
import { checkFeature, decoderRow, type Sae } from './sae.js';

/**
 * SAEs inside the model's forward graph, as compiled interventions at the SAE's hook point:
 *
 *   splice      x → x̂                                   (the model run "through" the SAE)
 *   zero        x → 0                                    (the zero-ablation baseline)
 *   clamp       x → x + Σᵢ (cᵢ − zᵢ(x)) · W_dec[i] / s    (set latents to values, error term kept)
 *   add         x → x + c · Σᵢ W_dec[i]                   (steer along decoder directions)
 *
 * Clamping is SAELens/Neuronpedia's "steer by clamping": only the chosen latents change, and
 * whatever the SAE fails to reconstruct (x − x̂) is left in place; ablation is clamping to 0.
 */

/** Declares the SAE's weights as inputs of the intervention (the decoder only when it is used). */
function saeParams(sae: Sae, param: (name: string, dims: readonly (number | string)[]) => string, withDecoder: boolean): SaeParamNames {
  const { dIn, dSae } = sae.cfg;
  return {
    wEnc: param('W_enc', [dIn, dSae]),
    bEnc: param('b_enc', [dSae]),
    wDec: withDecoder ? param('W_dec', [dSae, dIn]) : '',
    bDec: param('b_dec', [dIn]),
    threshold: sae.cfg.activation.kind === 'jumprelu' ? param('threshold', [dSae]) : undefined,
    scale: param('scale', [1]),
  };
}

function saeParamValues(sae: Sae, withDecoder: boolean): Record<string, ParamValue> {
  const { cfg, weights: w } = sae;
  const p: Record<string, ParamValue> = {
    W_enc: { data: w.wEnc, dims: [cfg.dIn, cfg.dSae] },
    b_enc: { data: w.bEnc, dims: [cfg.dSae] },
    b_dec: { data: w.bDec, dims: [cfg.dIn] },
    scale: { data: Float32Array.of(cfg.inputScale), dims: [1] },
  };
  if (withDecoder) p.W_dec = { data: w.wDec, dims: [cfg.dSae, cfg.dIn] };
  if (w.threshold) p.threshold = { data: w.threshold, dims: [cfg.dSae] };
  return p;
}

function structure(sae: Sae): string {
  const a = sae.cfg.activation;
  return `${a.kind}${a.kind === 'topk' ? a.k : ''}_${sae.cfg.dSae}_${sae.cfg.applyBDecToInput ? 'c' : 'u'}`;
}

/** Replaces the activation by its SAE reconstruction (at the selected positions). */
export function saeSpliceIntervention(sae: Sae, positions: PositionSelector = 'all'): Intervention {
  const sel = validatePositions(positions);
  const masked = sel !== 'all';
  return {
    key: `sae_splice_${structure(sae)}${masked ? '_masked' : ''}`,
    dim: sae.cfg.dIn,
    emit(g, x, param) {
      const p = saeParams(sae, param, true);
      const { z } = emitEncode(g, x, p, sae.cfg, 'sae');
      const recon = emitDecode(g, z, p, 'sae');
      return masked ? emitMasked(g, x, recon, param) : recon;
    },
    params(step) {
      const p = saeParamValues(sae, true);
      if (masked) p.mask = maskParam(sel, step);
      return p;
    },
  };
}

/** Replaces the activation by zeros (the baseline of "CE loss recovered"). */
export function zeroAblationIntervention(dim: number, positions: PositionSelector = 'all'): Intervention {
  const sel = validatePositions(positions);
  const masked = sel !== 'all';
  return {
    key: `zero_ablation${masked ? '_masked' : ''}`,
    dim,
    emit(g, x, param) {
      const zero = g.node('Mul', [x, g.constFloat([0], [])], {}, 'ablate.zero');
      return masked ? emitMasked(g, x, zero, param) : zero;
    },
    params: (step): Record<string, ParamValue> => (masked ? { mask: maskParam(sel, step) } : {}),
  };
}

export interface FeatureValue {
  readonly feature: number;
  /** The activation the latent is set to (in the SAE's units, as encodeSparse reports them). */
  readonly value: number;
}

/**
 * Sets latents to given values by adding (cᵢ − zᵢ(x))·W_dec[i]/s: with cᵢ equal to the current
 * activation nothing changes, and the reconstruction error is never touched.
 */
export function featureClampIntervention(sae: Sae, clamps: readonly FeatureValue[], positions: PositionSelector = 'all'): Intervention {
  if (clamps.length === 0) throw new InvalidInputError('clamp needs at least one feature');
  const seen = new Set<number>();
  for (const c of clamps) {
    checkFeature(sae, c.feature);
    if (seen.has(c.feature)) throw new InvalidInputError(`feature ${c.feature} is clamped twice`);
    seen.add(c.feature);
    if (!Number.isFinite(c.value)) throw new InvalidInputError(`clamp value for feature ${c.feature} must be a finite number, got ${c.value}`);
  }
  const sel = validatePositions(positions);
  const masked = sel !== 'all';
  const { dIn, dSae } = sae.cfg;
  const n = clamps.length;
  // One-hot [dSae, n] picks the clamped latents out of z exactly (products with 1 and 0 only).
  const pick = new Float32Array(dSae * n);
  clamps.forEach((c, j) => (pick[c.feature * n + j] = 1));
  const rows = new Float32Array(n * dIn);
  clamps.forEach((c, j) => rows.set(decoderRow(sae, c.feature), j * dIn));
  const targets = Float32Array.from(clamps, (c) => c.value);
  return {
    key: `sae_clamp_${structure(sae)}_${n}${masked ? '_masked' : ''}`,
    dim: dIn,
    emit(g, x, param) {
      const p = saeParams(sae, param, false);
      const { z } = emitEncode(g, x, p, sae.cfg, 'clamp');
      const current = g.node('MatMul', [z, param('pick', [dSae, n])], {}, 'clamp.current');
      const change = g.node('Sub', [param('target', [n]), current], {}, 'clamp.change');
      const delta = g.node('Div', [g.node('MatMul', [change, param('rows', [n, dIn])], {}, 'clamp.delta_scaled'), p.scale!], {}, 'clamp.delta');
      const y = g.node('Add', [x, delta], {}, 'clamp.out');
      return masked ? emitMasked(g, x, y, param) : y;
    },
    params(step) {
      const p = saeParamValues(sae, false);
      p.pick = { data: pick, dims: [dSae, n] };
      p.rows = { data: rows, dims: [n, dIn] };
      p.target = { data: targets, dims: [n] };
      if (masked) p.mask = maskParam(sel, step);
      return p;
    },
  };
}
