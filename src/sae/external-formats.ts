/**
 * SAEs made by other tools, read into Steerer's convention (see sae.ts), and an exporter to
 * SAELens' layout. Field names and semantics were checked against the tools' own code:
 *
 * SAELens (cfg.json + sae_weights.safetensors): W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in],
 * b_dec; JumpReLU adds `threshold` (training checkpoints hold `log_threshold`). cfg.json comes in
 * two layouts: before 6.0 everything is flat (`hook_name` — earlier `hook_point` —, `model_name`,
 * `activation_fn_str`/`activation_fn`, `activation_fn_kwargs: {k}`, `normalize_activations` once a
 * boolean); 6.x keeps d_in/d_sae/architecture/... flat, puts `k` at the top for topk, and moves
 * model/hook fields into `metadata` (`meta` in some 6.0 release candidates).
 *
 * sparsify (cfg.json + sae.safetensors, one folder per hookpoint): `encoder.weight` [num_latents,
 * d_in] (an nn.Linear, hence transposed here), `encoder.bias`, `W_dec` [num_latents, d_in], `b_dec`.
 * Its encoder subtracts b_dec from the input unless it is a transcoder, applies ReLU, then keeps the
 * top k. cfg.json is the SparseCoderConfig plus `d_in`; it names no hook, so the folder name does.
 */
import { existsSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { HOOK_SITES, hookName, type HookPoint, type HookSite } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/files.js';
import { validateSae, type Sae, type SaeActivation, type SaeWeights } from './sae.js';
import { transpose2d } from '../model/tensor.js';
import { checkNoExtraTensors, floatEntry, quote, readFinite, readTensor, shapeText, trimDescription } from './sae-tensors.js';

export const SAELENS_CFG = 'cfg.json';
export const SAELENS_WEIGHTS = 'sae_weights.safetensors';
export const SPARSIFY_CFG = 'cfg.json';
export const SPARSIFY_WEIGHTS = 'sae.safetensors';

export interface SaeLoadOptions {
  /**
   * Input scale of an SAE trained on normalised activations (SAELens `expected_average_only_in`)
   * whose files do not store the factor. Refused for SAEs that do not normalise their input.
   */
  readonly inputScale?: number;
  /** Hook point, when the files do not say it (a sparsify folder with an unusual name); overrides the files. */
  readonly hook?: HookPoint;
}

// ---------------------------------------------------------------------------------------------
// Hook names

const TL_NAME = /^blocks\.(0|[1-9]\d*)\.(.+)$/;

/**
 * Parse a TransformerLens hook name (`blocks.{layer}.hook_{site}`) without a model to check the
 * layer against (checkSaeFitsModel does that later). Anything that is not one of Steerer's sites
 * (`blocks.3.attn.hook_z`, `blocks.3.hook_mlp_in`, `hook_embed`, ...) is an InvalidInputError.
 */
export function parseHookNameLoose(name: string): HookPoint {
  const m = TL_NAME.exec(name);
  const site = m ? HOOK_SITES.find((s) => m[2] === `hook_${s}`) : undefined;
  if (!m || site === undefined || !Number.isSafeInteger(Number(m[1]))) {
    throw new InvalidInputError(
      `hook ${quote(name)} is not a residual/branch output Steerer can hook (expected blocks.{layer}.hook_{${HOOK_SITES.join('|')}})`,
    );
  }
  return { layer: Number(m[1]), site };
}

function checkHookOption(hook: HookPoint): HookPoint {
  if (!Number.isSafeInteger(hook.layer) || hook.layer < 0 || !HOOK_SITES.includes(hook.site)) {
    throw new InvalidInputError(`invalid hook option ${JSON.stringify(hook)}: expected {layer: a non-negative integer, site: one of ${HOOK_SITES.join(', ')}}`);
  }
  return { layer: hook.layer, site: hook.site };
}

function checkScaleOption(scale: number): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new InvalidInputError(`input scale must be a positive number, got ${String(scale)}`);
  }
  return scale;
}

// ---------------------------------------------------------------------------------------------
// cfg.json access

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Typed reads of a cfg.json; `fallback` is SAELens 6's nested metadata, consulted when a key is not at the top. */
class Cfg {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly top: JsonObject,
    private readonly fallback: JsonObject = {},
  ) {}

  static read(path: string): Cfg {
    const text = readText(path);
    let json: unknown;
    try {
      json = parseJson(path, text);
    } catch (err) {
      // JSON.parse may quote the offending text, newlines included; keep the problem to one line.
      if (err instanceof ModelFileError) throw new ModelFileError(path, err.problem.replace(/\s+/g, ' ').slice(0, 200), { cause: err });
      throw err;
    }
    if (!isObject(json)) throw new ModelFileError(path, 'expected a JSON object');
    const meta = isObject(json.metadata) ? json.metadata : isObject(json.meta) ? json.meta : undefined;
    return new Cfg(path, text, json, meta);
  }

  fail(problem: string): never {
    throw new ModelFileError(this.path, problem);
  }

  /** null counts as absent: SAELens writes `"hook_head_index": null` and the like. */
  get(key: string): unknown {
    const v = Object.hasOwn(this.top, key) ? this.top[key] : this.fallback[key];
    return v === null ? undefined : v;
  }

  str(key: string): string | undefined {
    const v = this.get(key);
    if (v !== undefined && typeof v !== 'string') this.fail(`"${key}" must be a string, got ${JSON.stringify(v)}`);
    return v as string | undefined;
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v !== undefined && typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean | undefined;
  }

  /** A non-negative integer, or undefined when absent. */
  int(key: string): number | undefined {
    const v = this.get(key);
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      this.fail(`"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v as number | undefined;
  }

  positiveInt(key: string): number | undefined {
    const v = this.int(key);
    if (v === 0) this.fail(`"${key}" must be a positive integer, got 0`);
    return v;
  }

  /** A positive finite number, or undefined when absent. */
  scale(key: string): number | undefined {
    const v = this.get(key);
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v as number | undefined;
  }

  object(key: string): JsonObject | undefined {
    const v = this.get(key);
    if (v !== undefined && !isObject(v)) this.fail(`"${key}" must be an object, got ${JSON.stringify(v)}`);
    return v as JsonObject | undefined;
  }
}

function withSafetensors<T>(path: string, body: (f: SafetensorsFile) => T): T {
  const f = SafetensorsFile.open(path);
  try {
    return body(f);
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// SAELens

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
// sparsify

const LAYER_FOLDER = /^(?:gpt_neox\.|model\.|transformer\.)?(?:layers|h)\.(0|[1-9]\d*)(?:\.(mlp|self_attn|attn|attention))?$/;
const EMBED_FOLDER = /^(?:gpt_neox\.|model\.)?(?:embed_tokens|embed_in)$/;
const BRANCH_SITE: Readonly<Record<string, HookSite>> = { mlp: 'mlp_out', self_attn: 'attn_out', attn: 'attn_out', attention: 'attn_out' };

/**
 * The hook point a sparsify folder is named after (sparsify names each folder by the hooked module):
 * a layer module's output is resid_post, its MLP/attention submodule's output is the branch output,
 * and the token embedding is resid_pre of layer 0 (true for Llama/Qwen/NeoX-style models; Gemma
 * scales embeddings after embed_tokens). Undefined for a name we cannot read.
 */
export function sparsifyHookFromFolder(name: string): HookPoint | undefined {
  if (EMBED_FOLDER.test(name)) return { layer: 0, site: 'resid_pre' };
  const m = LAYER_FOLDER.exec(name);
  if (!m || !Number.isSafeInteger(Number(m[1]))) return undefined;
  return { layer: Number(m[1]), site: m[2] === undefined ? 'resid_post' : BRANCH_SITE[m[2]] };
}

/** sparsify writes its run config (with the model name) one level up; best effort, it is not part of the SAE. */
function sparsifyModelName(dir: string): string | undefined {
  try {
    const json: unknown = JSON.parse(readText(join(dirname(resolve(dir)), 'config.json')));
    return isObject(json) && typeof json.model === 'string' ? json.model : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Load a sparsify SAE folder (cfg.json + sae.safetensors). Only plain TopK SAEs are supported:
 * transcoders, skip connections and groupmax activation are refused.
 */
export function loadSparsify(dir: string, opts: SaeLoadOptions = {}): Sae {
  const c = Cfg.read(join(dir, SPARSIFY_CFG));
  if (c.bool('transcode')) c.fail('this is a transcoder (transcode: true); Steerer reads sparse autoencoders only');
  if (c.bool('skip_connection')) c.fail('skip connections (skip_connection: true) are not supported');
  if (c.bool('embed_skip')) c.fail('embedding skip connections (embed_skip: true) are not supported');
  if (c.bool('gram_lookup')) c.fail('n-gram lookup tables (gram_lookup: true) are not supported');
  if (c.bool('signed')) c.fail('signed activations (signed: true) are not supported');
  const act = c.str('activation') ?? 'topk';
  if (act !== 'topk') c.fail(`activation ${quote(act)} is not supported (Steerer reads topk)`);
  const k = c.positiveInt('k') ?? c.fail('no "k"');
  if (opts.inputScale !== undefined) {
    throw new InvalidInputError(`${dir}: sparsify SAEs read raw activations, so an input scale does not apply`);
  }
  const folder = basename(resolve(dir));
  const hook = opts.hook ? checkHookOption(opts.hook) : sparsifyHookFromFolder(folder);
  if (!hook) {
    throw new InvalidInputError(
      `${dir}: cannot tell the hook point from the folder name ${quote(folder)} (sparsify names folders after the hooked module, ` +
        'e.g. layers.5, layers.5.mlp, layers.5.self_attn, embed_tokens); pass the hook, e.g. { layer: 5, site: "resid_post" }',
    );
  }
  const { weights, dIn, dSae } = withSafetensors(join(dir, SPARSIFY_WEIGHTS), (f) => readSparsifyWeights(f, c));
  const modelName = sparsifyModelName(dir);
  const sae: Sae = {
    cfg: {
      dIn,
      dSae,
      activation: { kind: 'topk', k },
      hook,
      // sparsify's encode: x − b_dec, then the encoder (transcoders, refused above, skip this).
      applyBDecToInput: true,
      inputScale: 1,
      ...(modelName !== undefined ? { modelName } : {}),
      format: 'sparsify',
      description: trimDescription(c.text),
    },
    weights,
  };
  return validateSae(sae, dir);
}

function readSparsifyWeights(f: SafetensorsFile, c: Cfg): { weights: SaeWeights; dIn: number; dSae: number } {
  if (f.has('W_skip')) throw new ModelFileError(f.path, 'tensor "W_skip" is a skip connection, which is not supported');
  checkNoExtraTensors(f, ['encoder.weight', 'encoder.bias', 'W_dec', 'b_dec'], 'a sparsify SAE holds only encoder.weight, encoder.bias, W_dec and b_dec; this variant is not supported');
  // d_in and the width come from cfg.json when it says them, else from the encoder itself.
  const enc = floatEntry(f, 'encoder.weight');
  if (enc.shape.length !== 2) throw new ModelFileError(f.path, `tensor "encoder.weight" has shape ${shapeText(enc.shape)}, expected [num_latents, d_in]`);
  const cfgDIn = c.positiveInt('d_in');
  const dIn = cfgDIn ?? enc.shape[1];
  const numLatents = c.int('num_latents') ?? 0;
  const factor = c.positiveInt('expansion_factor');
  // num_latents 0 means d_in × expansion_factor (sparsify's own rule).
  const cfgDSae = numLatents > 0 ? numLatents : factor !== undefined && cfgDIn !== undefined ? cfgDIn * factor : undefined;
  const dSae = cfgDSae ?? enc.shape[0];
  const dims = `d_in ${dIn}${cfgDIn === undefined ? ' from encoder.weight' : ' from cfg.json'}, num_latents ${dSae}${cfgDSae === undefined ? ' from encoder.weight' : ' from cfg.json'}`;
  if (dIn < 1 || dSae < 1) throw new ModelFileError(f.path, `tensor "encoder.weight" has shape ${shapeText(enc.shape)}; an SAE needs d_in and num_latents ≥ 1`);
  const encoder = readTensor(f, 'encoder.weight', [dSae, dIn], dims);
  const weights: SaeWeights = {
    wEnc: transpose2d(encoder, dSae, dIn),
    bEnc: readTensor(f, 'encoder.bias', [dSae], dims),
    wDec: readTensor(f, 'W_dec', [dSae, dIn], dims),
    bDec: readTensor(f, 'b_dec', [dIn], dims),
  };
  return { weights, dIn, dSae };
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
