/**
 * SAELens SAEs, read into Steerer's convention (see sae.ts), and an exporter to SAELens' layout;
 * one of the external formats load-sae.ts dispatches to. Field names and semantics were checked
 * against SAELens' own code:
 *
 * SAELens (cfg.json + sae_weights.safetensors): W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in],
 * b_dec; JumpReLU adds `threshold` (training checkpoints hold `log_threshold`). cfg.json comes in
 * two layouts: before 6.0 everything is flat (`hook_name` — earlier `hook_point` —, `model_name`,
 * `activation_fn_str`/`activation_fn`, `activation_fn_kwargs: {k}`, `normalize_activations` once a
 * boolean); 6.x keeps d_in/d_sae/architecture/... flat, puts `k` at the top for topk, and moves
 * model/hook fields into `metadata` (`meta` in some 6.0 release candidates).
 */
import { existsSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hookName, type HookPoint } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors-write.js';
import { writeFileAtomic } from '../io/files.js';
import { validateSae, type Sae, type SaeActivation, type SaeWeights } from './sae.js';
import { checkNoExtraTensors, floatEntry, quote, readFinite, readTensor, shapeText, trimDescription } from './sae-tensors.js';
import { Cfg, checkHookOption, checkScaleOption, parseHookNameLoose, withSafetensors, type SaeLoadOptions } from './external-cfg.js';

export const SAELENS_CFG = 'cfg.json';
export const SAELENS_WEIGHTS = 'sae_weights.safetensors';

// ---------------------------------------------------------------------------------------------
// Reading

const SAELENS_ARCHITECTURES = 'Steerer reads "standard" (ReLU), "topk" and "jumprelu" SAEs';

function saeLensActivation(c: Cfg): SaeActivation {
  const architecture = c.str('architecture') ?? 'standard';
  const fn = c.str('activation_fn_str') ?? c.str('activation_fn') ?? 'relu';
  const kwargs = c.object('activation_fn_kwargs') ?? {};
  const kOf = (): number => {
    const k = c.positiveInt('k') ?? kwargs.k;
    if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) {
      return c.fail(`a topk SAE needs k as a positive integer (top-level "k" or activation_fn_kwargs.k), got ${JSON.stringify(k)}`);
    }
    return k;
  };
  switch (architecture) {
    case 'standard':
      if (fn === 'relu') return { kind: 'relu' };
      // Before 6.0, TopK SAEs were "standard" with activation_fn "topk".
      if (fn === 'topk') return { kind: 'topk', k: kOf() };
      return c.fail(`activation function ${quote(fn)} is not supported (Steerer reads relu and topk)`);
    case 'topk':
      // Newer SAELens can rescale TopK activations by decoder norms at run time; not expressible here.
      if (c.bool('rescale_acts_by_decoder_norm')) c.fail('rescale_acts_by_decoder_norm is not supported');
      return { kind: 'topk', k: kOf() };
    case 'jumprelu':
      return { kind: 'jumprelu' };
    case 'gated':
      return c.fail(`architecture "gated" is not supported: ${SAELENS_ARCHITECTURES}`);
    default:
      return c.fail(`architecture ${quote(architecture)} is not supported: ${SAELENS_ARCHITECTURES}`);
  }
}

function saeLensHook(c: Cfg, opts: SaeLoadOptions): HookPoint {
  if (opts.hook) return checkHookOption(opts.hook);
  if (c.get('hook_head_index') !== undefined) c.fail('hook_head_index is set: SAEs on a single attention head are not supported');
  if (c.str('reshape_activations') === 'hook_z') c.fail('reshape_activations "hook_z" is not supported: Steerer cannot hook per-head attention outputs');
  const name = c.str('hook_name') ?? c.str('hook_point');
  if (name === undefined) return c.fail('no "hook_name": cannot tell which activations the SAE reads');
  try {
    return parseHookNameLoose(name);
  } catch (err) {
    return c.fail((err as Error).message);
  }
}

/** Whether the SAE was trained on activations scaled to mean norm √d_in (Anthropic's April 2024 recipe). */
function saeLensNormalizes(c: Cfg): boolean {
  const n = c.get('normalize_activations');
  // Before 6.0 this was a boolean meaning expected_average_only_in.
  if (n === undefined || n === false || n === 'none') return false;
  if (n === true || n === 'expected_average_only_in') return true;
  if (n === 'constant_norm_rescale' || n === 'layer_norm') {
    return c.fail(`normalize_activations "${n}" is not supported: it rescales each token at run time, which a fixed input scale cannot express`);
  }
  return c.fail(`unknown normalize_activations ${JSON.stringify(n)}`);
}

/** SAELens' trainer keeps the factor beside checkpoints as {"scaling_factor": x}. */
function activationScalerFile(dir: string): number | undefined {
  const path = join(dir, 'activation_scaler.json');
  if (!existsSync(path)) return undefined;
  return Cfg.read(path).scale('scaling_factor');
}

function saeLensInputScale(c: Cfg, dir: string, opts: SaeLoadOptions): number {
  if (!saeLensNormalizes(c)) {
    if (opts.inputScale !== undefined) {
      throw new InvalidInputError(`${dir}: this SAE was not trained on normalised activations (normalize_activations is "none"), so an input scale does not apply`);
    }
    return 1;
  }
  if (opts.inputScale !== undefined) return checkScaleOption(opts.inputScale);
  const stored = c.scale('scaling_factor') ?? c.scale('norm_scaling_factor') ?? activationScalerFile(dir);
  if (stored !== undefined) return stored;
  return c.fail(
    'normalize_activations is "expected_average_only_in" but the scaling factor is not stored in the file; ' +
      'pass it as inputScale (SAELens lists it as norm_scaling_factor in pretrained_saes.yaml)',
  );
}

/**
 * Load a SAELens SAE folder (cfg.json + sae_weights.safetensors), old flat or 6.x layout.
 * Supported: standard (ReLU), topk and jumprelu SAEs on blocks.{l}.hook_{resid_pre|attn_out|
 * resid_mid|mlp_out|resid_post}, with or without expected_average_only_in normalisation.
 */
export function loadSaeLens(dir: string, opts: SaeLoadOptions = {}): Sae {
  const c = Cfg.read(join(dir, SAELENS_CFG));
  const activation = saeLensActivation(c);
  const dIn = c.positiveInt('d_in') ?? c.fail('no "d_in"');
  const dSae = c.positiveInt('d_sae') ?? c.fail('no "d_sae"');
  const hook = saeLensHook(c, opts);
  const inputScale = saeLensInputScale(c, dir, opts);
  const modelName = c.str('model_name');
  const weights = withSafetensors(join(dir, SAELENS_WEIGHTS), (f) => readSaeLensWeights(f, c, activation, dIn, dSae));
  const sae: Sae = {
    cfg: {
      dIn,
      dSae,
      activation,
      hook,
      applyBDecToInput: c.bool('apply_b_dec_to_input') ?? true,
      inputScale,
      ...(modelName !== undefined ? { modelName } : {}),
      format: 'saelens',
      description: trimDescription(c.text),
    },
    weights,
  };
  return validateSae(sae, dir);
}

function readSaeLensWeights(f: SafetensorsFile, c: Cfg, activation: SaeActivation, dIn: number, dSae: number): SaeWeights {
  const dims = `d_in ${dIn}, d_sae ${dSae} from cfg.json`;
  const jump = activation.kind === 'jumprelu';
  const allowed = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'scaling_factor', ...(jump ? ['threshold', 'log_threshold'] : [])];
  checkNoExtraTensors(f, allowed, `a SAELens ${activation.kind} SAE holds only ${allowed.join(', ')}; this variant is not supported`);
  const wEnc = readTensor(f, 'W_enc', [dIn, dSae], dims);
  const bEnc = readTensor(f, 'b_enc', [dSae], dims);
  let wDec = readTensor(f, 'W_dec', [dSae, dIn], dims);
  const bDec = readTensor(f, 'b_dec', [dIn], dims);
  if (f.has('scaling_factor')) wDec = foldScalingFactor(f, c, wDec, dSae, dIn);
  return { wEnc, bEnc, wDec, bDec, ...(jump ? { threshold: saeLensThreshold(f, c, dSae, dims) } : {}) };
}

function saeLensThreshold(f: SafetensorsFile, c: Cfg, dSae: number, dims: string): Float32Array {
  let threshold: Float32Array;
  if (f.has('threshold')) {
    threshold = readTensor(f, 'threshold', [dSae], dims);
  } else if (f.has('log_threshold')) {
    const log = readTensor(f, 'log_threshold', [dSae], dims);
    threshold = Float32Array.from(log, Math.exp);
    const bad = threshold.findIndex((t) => !Number.isFinite(t));
    if (bad >= 0) throw new ModelFileError(f.path, `tensor "log_threshold" overflows at index ${bad} (exp(${log[bad]}) is not finite)`);
  } else {
    // Llama Scope–style configs give one threshold for every latent.
    const scalar = c.get('jump_relu_threshold');
    if (typeof scalar !== 'number' || !Number.isFinite(scalar)) {
      throw new ModelFileError(f.path, 'a jumprelu SAE needs a "threshold" (or "log_threshold") tensor of shape ' + shapeText([dSae]));
    }
    threshold = new Float32Array(dSae).fill(scalar);
  }
  // SAELens computes ReLU(pre)·[pre > t]; Steerer computes pre·[pre > t]. They agree exactly once
  // t is clamped at 0: for t < 0 SAELens still zeroes every pre ≤ 0.
  return threshold.map((t) => (t < 0 ? 0 : t));
}

/**
 * Older SAELens SAEs may carry `scaling_factor` [d_sae] (finetuning_scaling_factor): decode was
 * (z ⊙ s) W_dec + b_dec. Scaling row i of W_dec by s[i] gives the same reconstruction and leaves
 * encoding (and so feature activations) unchanged. All ones — which SAELens wrote for a while — is a no-op.
 */
function foldScalingFactor(f: SafetensorsFile, c: Cfg, wDec: Float32Array, dSae: number, dIn: number): Float32Array {
  const e = floatEntry(f, 'scaling_factor');
  const n = e.shape.reduce((a, b) => a * b, 1);
  if (!(n === 1 && e.shape.length <= 1) && !(e.shape.length === 1 && n === dSae)) {
    throw new ModelFileError(f.path, `tensor "scaling_factor" has shape ${shapeText(e.shape)}, expected [${dSae}] or a scalar`);
  }
  const s = readFinite(f, 'scaling_factor');
  if (s.every((v) => v === 1)) return wDec;
  // SAELens itself refuses a real factor that the config says is not used.
  if (c.bool('finetuning_scaling_factor') === false) {
    c.fail('sae_weights.safetensors has a scaling_factor that is not all ones, but finetuning_scaling_factor is false');
  }
  const out = new Float32Array(wDec);
  for (let i = 0; i < dSae; i++) {
    const si = s.length === 1 ? s[0] : s[i];
    for (let j = 0; j < dIn; j++) out[i * dIn + j] *= si;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Export to SAELens

/**
 * Weights with the input scale folded in, so they need no normalisation (what SAELens'
 * fold_activation_norm_scaling_factor does): with s the scale, (s·x − b)·W_enc = (x − b/s)·(s·W_enc)
 * and (z·W_dec + b)/s = z·(W_dec/s) + b/s.
 */
function foldInputScale(sae: Sae): SaeWeights {
  const s = sae.cfg.inputScale;
  const w = sae.weights;
  if (s === 1) return w;
  return { ...w, wEnc: w.wEnc.map((v) => v * s), wDec: w.wDec.map((v) => v / s), bDec: w.bDec.map((v) => v / s) };
}

function saeLensConfig(sae: Sae): Record<string, unknown> {
  const { cfg } = sae;
  const architecture = cfg.activation.kind === 'relu' ? 'standard' : cfg.activation.kind;
  const k = cfg.activation.kind === 'topk' ? cfg.activation.k : undefined;
  const hook = hookName(cfg.hook);
  const meta = { model_name: cfg.modelName ?? null, hook_name: hook, hook_layer: cfg.hook.layer, hook_head_index: null };
  // Both layouts at once: SAELens 6 reads the flat fields of a config without sae_lens_version
  // through its pre-6.0 path, and older SAELens and Neuronpedia's tools read them directly.
  return {
    architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    finetuning_scaling_factor: false,
    activation_fn: k === undefined ? 'relu' : 'topk',
    activation_fn_kwargs: k === undefined ? {} : { k },
    ...(k === undefined ? {} : { k }),
    ...meta,
    metadata: meta,
  };
}

/**
 * Write an SAE as a SAELens folder (cfg.json + sae_weights.safetensors), e.g. for Neuronpedia.
 * The input scale is folded into the weights. The folder is created if needed; each file is
 * written atomically, weights first, and a failure removes what this call wrote.
 */
export function exportSaeLens(dir: string, sae: Sae): void {
  validateSae(sae);
  const { cfg } = sae;
  if (cfg.activation.kind === 'jumprelu' && sae.weights.threshold!.some((t) => t < 0)) {
    // SAELens applies ReLU before the threshold gate, so a negative threshold would change the SAE.
    throw new InvalidInputError('this JumpReLU SAE has negative thresholds, which SAELens cannot represent (it applies ReLU first)');
  }
  const w = foldInputScale(sae);
  const tensors = new Map<string, TensorToWrite>([
    ['W_enc', { shape: [cfg.dIn, cfg.dSae], data: w.wEnc }],
    ['b_enc', { shape: [cfg.dSae], data: w.bEnc }],
    ['W_dec', { shape: [cfg.dSae, cfg.dIn], data: w.wDec }],
    ['b_dec', { shape: [cfg.dIn], data: w.bDec }],
  ]);
  if (cfg.activation.kind === 'jumprelu') tensors.set('threshold', { shape: [cfg.dSae], data: w.threshold! });
  const json = Buffer.from(`${JSON.stringify(saeLensConfig(sae), null, 2)}\n`, 'utf8');

  // mkdirSync returns the first folder it had to create: that is what to remove on failure.
  const created = existsSync(dir) ? undefined : mkdirSync(dir, { recursive: true });
  const weightsPath = join(dir, SAELENS_WEIGHTS);
  let wroteWeights = false;
  try {
    writeSafetensors(weightsPath, tensors);
    wroteWeights = true;
    writeFileAtomic(join(dir, SAELENS_CFG), (write) => write(json));
  } catch (err) {
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    else if (wroteWeights) {
      try { unlinkSync(weightsPath); } catch { /* already gone */ }
    }
    throw err;
  }
}
