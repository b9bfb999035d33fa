import { InvalidInputError } from '../io/errors.js';
import { hookName, type HookPoint } from '../graph/hook-points.js';

/**
 * A sparse autoencoder over one hook point's activations x ∈ R^dIn:
 *
 *   x̃   = x · inputScale
 *   pre = (x̃ − [applyBDecToInput] b_dec) W_enc + b_enc          W_enc [dIn, dSae]
 *   z   = σ(pre)   topk:     ReLU, then keep the k largest per token
 *                  relu:     ReLU
 *                  jumprelu: pre where pre > threshold, else 0
 *   x̂   = (z W_dec + b_dec) / inputScale                           W_dec [dSae, dIn]
 *
 * This is SAELens' convention (W_enc [d_in, d_sae], W_dec [d_sae, d_in]); sparsify's
 * encoder.weight [num_latents, d_in] is transposed on load. All arrays are float32 row-major.
 */
export type SaeActivation =
  | { readonly kind: 'topk'; readonly k: number }
  | { readonly kind: 'relu' }
  | { readonly kind: 'jumprelu' };

export interface SaeWeights {
  /** [dIn, dSae] */
  readonly wEnc: Float32Array;
  /** [dSae] */
  readonly bEnc: Float32Array;
  /** [dSae, dIn] */
  readonly wDec: Float32Array;
  /** [dIn] */
  readonly bDec: Float32Array;
  /** [dSae], JumpReLU only. */
  readonly threshold?: Float32Array;
}

/** Where an SAE came from, so cards and errors can say so. */
export type SaeFormat = 'steerer' | 'saelens' | 'sparsify';

/** Training summary stored with SAEs Steerer trained. */
export interface SaeTrainingSummary {
  readonly tokens: number;
  readonly steps: number;
  readonly fvu: number;
  readonly l0: number;
  readonly deadFraction: number;
  readonly ceLossRecovered?: number;
  readonly cleanLoss?: number;
  readonly saeLoss?: number;
  readonly zeroAblationLoss?: number;
  readonly corpus?: string;
}

export interface SaeConfig {
  readonly dIn: number;
  readonly dSae: number;
  readonly activation: SaeActivation;
  /** The hook point it reads (and, when steering, writes). */
  readonly hook: HookPoint;
  readonly applyBDecToInput: boolean;
  /** Activations are multiplied by this before encoding; reconstructions divided by it (1 = none). */
  readonly inputScale: number;
  /** Name of the model it was trained on, when known (checked loosely: a warning, not an error). */
  readonly modelName?: string;
  readonly format: SaeFormat;
  readonly training?: SaeTrainingSummary;
  /** Free-form provenance (original cfg.json for imported SAEs). */
  readonly description?: string;
}

export interface Sae {
  readonly cfg: SaeConfig;
  readonly weights: SaeWeights;
}

/** Checks every array's length against the config and that every value is finite. */
export function validateSae(sae: Sae, source = 'SAE'): Sae {
  const { cfg, weights } = sae;
  const fail = (msg: string): never => {
    throw new InvalidInputError(`${source}: ${msg}`);
  };
  if (!Number.isInteger(cfg.dIn) || cfg.dIn < 1) fail(`d_in must be a positive integer, got ${cfg.dIn}`);
  if (!Number.isInteger(cfg.dSae) || cfg.dSae < 1) fail(`d_sae must be a positive integer, got ${cfg.dSae}`);
  if (cfg.activation.kind === 'topk') {
    const k = cfg.activation.k;
    if (!Number.isInteger(k) || k < 1 || k > cfg.dSae) fail(`k must be an integer in 1..${cfg.dSae}, got ${k}`);
  }
  if (!Number.isFinite(cfg.inputScale) || cfg.inputScale <= 0) fail(`input scale must be a positive number, got ${cfg.inputScale}`);
  const expect: [string, Float32Array | undefined, number][] = [
    ['W_enc', weights.wEnc, cfg.dIn * cfg.dSae],
    ['b_enc', weights.bEnc, cfg.dSae],
    ['W_dec', weights.wDec, cfg.dSae * cfg.dIn],
    ['b_dec', weights.bDec, cfg.dIn],
  ];
  if (cfg.activation.kind === 'jumprelu') {
    if (!weights.threshold) fail('a JumpReLU SAE needs a threshold tensor');
    expect.push(['threshold', weights.threshold, cfg.dSae]);
  }
  for (const [name, arr, n] of expect) {
    if (!arr) return fail(`${name} is missing`);
    if (arr.length !== n) fail(`${name} has ${arr.length} values, expected ${n} (d_in ${cfg.dIn}, d_sae ${cfg.dSae})`);
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i])) fail(`${name} has a non-finite value at index ${i}`);
    }
  }
  return sae;
}

/** Checks an SAE can be used with a model: same width, and the hook point exists. */
export function checkSaeFitsModel(sae: Sae, model: { readonly hiddenSize: number; readonly numLayers: number; readonly name?: string }): void {
  const where = `SAE for ${hookName(sae.cfg.hook)}`;
  if (sae.cfg.dIn !== model.hiddenSize) {
    throw new InvalidInputError(`${where} reads ${sae.cfg.dIn}-wide activations but the model's hidden size is ${model.hiddenSize}`);
  }
  if (sae.cfg.hook.layer >= model.numLayers) {
    throw new InvalidInputError(`${where}: the model has layers 0..${model.numLayers - 1}`);
  }
}

/** Row `feature` of W_dec: the direction a latent writes. */
export function decoderRow(sae: Sae, feature: number): Float32Array {
  checkFeature(sae, feature);
  const D = sae.cfg.dIn;
  return sae.weights.wDec.slice(feature * D, (feature + 1) * D);
}

export function checkFeature(sae: Sae, feature: number): void {
  if (!Number.isInteger(feature) || feature < 0 || feature >= sae.cfg.dSae) {
    throw new InvalidInputError(`feature ${feature} does not exist: the SAE has features 0..${sae.cfg.dSae - 1}`);
  }
}
