/**
 * Direct logit effects of SAE features: which tokens a feature's decoder direction pushes up or
 * down through the unembedding, ignoring the layers after the hook point (the "logit lens" of
 * Neuronpedia's feature pages). For a feature f:
 *
 *   w_f = (W_dec[f] ⊙ g) · W_U        g = final norm gain (ones when the model has none)
 *
 * computed by the shared core of every direction lens (../runtime/unembed.ts).
 */
import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { directLogitWeights, type TopTokens } from '../runtime/unembed.js';
import { tokenString } from './feature-activations.js';
import { checkFeature, checkSaeFitsModel, type Sae } from './sae.js';

export interface TokenWeight {
  readonly id: number;
  readonly token: string;
  readonly weight: number;
}

export interface FeatureLogitEffect {
  readonly feature: number;
  /** Largest weights first. */
  readonly promoted: readonly TokenWeight[];
  /** Most negative weights first. */
  readonly suppressed: readonly TokenWeight[];
}

/** Row i of a top-k result as token weights (token text for display). */
export function tokenWeights(model: HookedModel, t: TopTokens, i: number): TokenWeight[] {
  return Array.from({ length: t.k }, (_, j) => {
    const id = t.ids[i * t.k + j];
    return { id, token: tokenString(model, id), weight: t.values[i * t.k + j] };
  });
}

/** The `top` most promoted and most suppressed tokens of each feature, in one MatMul. */
export async function featureLogitEffects(
  model: HookedModel,
  sae: Sae,
  features: readonly number[],
  opts: { top?: number } = {},
): Promise<FeatureLogitEffect[]> {
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  if (features.length === 0) return [];
  for (const f of features) checkFeature(sae, f);
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  const D = sae.cfg.dIn;
  const dirs = new Float32Array(features.length * D);
  features.forEach((f, i) => dirs.set(sae.weights.wDec.subarray(f * D, (f + 1) * D), i * D));
  const { promoted, suppressed } = await directLogitWeights(model, dirs, features.length, top);
  return features.map((feature, i) => ({ feature, promoted: tokenWeights(model, promoted, i), suppressed: tokenWeights(model, suppressed, i) }));
}

/**
 * A feature as a logit bias for decode-time steering: token id → strength × weight for the
 * `top` (default 50) most promoted tokens with a positive weight.
 */
export async function featureLogitBias(
  model: HookedModel,
  sae: Sae,
  feature: number,
  strength: number,
  opts: { top?: number } = {},
): Promise<Map<number, number>> {
  if (!Number.isFinite(strength)) throw new InvalidInputError(`strength must be a finite number, got ${strength}`);
  const [effect] = await featureLogitEffects(model, sae, [feature], { top: opts.top ?? 50 });
  return new Map(effect.promoted.filter((t) => t.weight > 0).map((t) => [t.id, strength * t.weight]));
}
