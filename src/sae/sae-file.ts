/**
 * Steerer's own SAE file: one safetensors file holding F32 tensors
 *
 *   W_enc [dIn, dSae]   b_enc [dSae]   W_dec [dSae, dIn]   b_dec [dIn]   threshold [dSae] (JumpReLU)
 *
 * and the SaeConfig as JSON under the safetensors metadata key `steerer_sae`, tagged with
 * `format: "steerer.sae/v1"`. The config's own `format` (where the SAE came from) is not stored:
 * an SAE read from this file is, by definition, a 'steerer' SAE; an imported SAE keeps its origin
 * in `description` (the original cfg.json).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod/v4';
import { HOOK_SITES } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors-write.js';
import { validateSae, type Sae, type SaeActivation, type SaeConfig, type SaeTrainingSummary, type SaeWeights } from './sae.js';
import { checkNoExtraTensors, quote, readTensor } from './sae-tensors.js';

export const SAE_FILE_FORMAT = 'steerer.sae/v1';
/** safetensors metadata key holding the JSON config. */
export const SAE_META_KEY = 'steerer_sae';

// ---------------------------------------------------------------------------------------------
// Metadata schema: the one place that says what a valid stored config is, for saving and loading.

const positiveInt = z.number().int().positive();

const ActivationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('topk'), k: positiveInt }),
  z.object({ kind: z.literal('relu') }),
  z.object({ kind: z.literal('jumprelu') }),
]);

// zod v4's z.number() refuses NaN and ±Infinity, which JSON could not hold anyway.
const TrainingSchema = z
  .object({
    tokens: z.number().nonnegative(),
    steps: z.number().int().nonnegative(),
    fvu: z.number(),
    l0: z.number(),
    deadFraction: z.number(),
    ceLossRecovered: z.number().optional(),
    cleanLoss: z.number().optional(),
    saeLoss: z.number().optional(),
    zeroAblationLoss: z.number().optional(),
    corpus: z.string().optional(),
  })
  // Metrics added by a newer trainer survive load → save.
  .loose();

const MetaSchema = z
  .object({
    format: z.literal(SAE_FILE_FORMAT),
    dIn: positiveInt,
    dSae: positiveInt,
    activation: ActivationSchema,
    hook: z.object({ layer: z.number().int().nonnegative(), site: z.enum(HOOK_SITES) }),
    applyBDecToInput: z.boolean(),
    inputScale: z.number().positive(),
    modelName: z.string().optional(),
    training: TrainingSchema.optional(),
    description: z.string().optional(),
  })
  .loose();

type StoredMeta = z.infer<typeof MetaSchema>;

function describeIssue(issue: { readonly path: readonly PropertyKey[]; readonly message: string }): string {
  const where = issue.path.length > 0 ? `meta.${issue.path.map(String).join('.')}` : 'meta';
  return `${where}: ${issue.message}`;
}

function toMeta(cfg: SaeConfig): Record<string, unknown> {
  return {
    format: SAE_FILE_FORMAT,
    dIn: cfg.dIn,
    dSae: cfg.dSae,
    activation: cfg.activation,
    hook: { layer: cfg.hook.layer, site: cfg.hook.site },
    applyBDecToInput: cfg.applyBDecToInput,
    inputScale: cfg.inputScale,
    modelName: cfg.modelName,
    training: cfg.training,
    description: cfg.description,
  };
}

function activationOf(a: StoredMeta['activation']): SaeActivation {
  return a.kind === 'topk' ? { kind: 'topk', k: a.k } : { kind: a.kind };
}

/** Optional keys only when present, so a loaded config deep-equals the one that was saved. */
function fromMeta(m: StoredMeta): SaeConfig {
  const training: SaeTrainingSummary | undefined = m.training;
  return {
    dIn: m.dIn,
    dSae: m.dSae,
    activation: activationOf(m.activation),
    hook: { layer: m.hook.layer, site: m.hook.site },
    applyBDecToInput: m.applyBDecToInput,
    inputScale: m.inputScale,
    ...(m.modelName !== undefined ? { modelName: m.modelName } : {}),
    format: 'steerer',
    ...(training !== undefined ? { training } : {}),
    ...(m.description !== undefined ? { description: m.description } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Saving

/** Save as one safetensors file. Validates first, so an invalid SAE writes nothing; the write is atomic. */
export function saveSae(path: string, sae: Sae): void {
  validateSae(sae);
  const meta = toMeta(sae.cfg);
  const parsed = MetaSchema.safeParse(meta);
  if (!parsed.success) throw new InvalidInputError(`invalid SAE config: ${describeIssue(parsed.error.issues[0])}`);
  // writeSafetensors would fail too, but with a bare ENOENT about its temp file.
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new InvalidInputError(`cannot save ${path}: folder ${dir} does not exist`);
  const { dIn, dSae } = sae.cfg;
  const w = sae.weights;
  const tensors = new Map<string, TensorToWrite>([
    ['W_enc', { shape: [dIn, dSae], data: w.wEnc, dtype: 'F32' }],
    ['b_enc', { shape: [dSae], data: w.bEnc, dtype: 'F32' }],
    ['W_dec', { shape: [dSae, dIn], data: w.wDec, dtype: 'F32' }],
    ['b_dec', { shape: [dIn], data: w.bDec, dtype: 'F32' }],
  ]);
  if (w.threshold) tensors.set('threshold', { shape: [dSae], data: w.threshold, dtype: 'F32' });
  writeSafetensors(path, tensors, { [SAE_META_KEY]: JSON.stringify(meta) });
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Whether an open safetensors file is one of ours (decided by metadata, not by name). */
export function isSteererSaeFile(f: SafetensorsFile): boolean {
  return Object.hasOwn(f.metadata, SAE_META_KEY);
}

/** Load a file written by saveSae. Any inconsistency is a ModelFileError naming the file. */
export function loadSteererSae(path: string): Sae {
  const f = SafetensorsFile.open(path);
  let sae: Sae;
  try {
    const cfg = readConfig(f);
    sae = { cfg, weights: readWeights(f, cfg) };
  } finally {
    f.close();
  }
  return validateSae(sae, path);
}

function readConfig(f: SafetensorsFile): SaeConfig {
  const fail = (problem: string): never => { throw new ModelFileError(f.path, problem); };
  if (!isSteererSaeFile(f)) fail(`not a Steerer SAE file: its safetensors metadata has no ${quote(SAE_META_KEY)} key`);
  let json: unknown;
  try {
    json = JSON.parse(f.metadata[SAE_META_KEY]);
  } catch (err) {
    return fail(`${quote(SAE_META_KEY)} metadata is not valid JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 120)})`);
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    // A clearer message than a schema issue when a newer (or foreign) writer made the file.
    const format = (json as Record<string, unknown>).format;
    if (format !== SAE_FILE_FORMAT) {
      fail(`unsupported SAE format ${typeof format === 'string' ? quote(format) : String(format)} (expected ${quote(SAE_FILE_FORMAT)})`);
    }
  }
  const parsed = MetaSchema.safeParse(json);
  if (!parsed.success) return fail(`invalid SAE metadata: ${describeIssue(parsed.error.issues[0])}`);
  const cfg = fromMeta(parsed.data);
  if (cfg.activation.kind === 'topk' && cfg.activation.k > cfg.dSae) {
    fail(`k is ${cfg.activation.k} but the SAE has only ${cfg.dSae} latents`);
  }
  return cfg;
}

function readWeights(f: SafetensorsFile, cfg: SaeConfig): SaeWeights {
  const { dIn, dSae } = cfg;
  const dims = `d_in ${dIn}, d_sae ${dSae} from the metadata`;
  checkNoExtraTensors(f, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'], 'a Steerer SAE file holds only W_enc, b_enc, W_dec, b_dec and threshold');
  const hasThreshold = cfg.activation.kind === 'jumprelu' || f.has('threshold');
  return {
    wEnc: readTensor(f, 'W_enc', [dIn, dSae], dims),
    bEnc: readTensor(f, 'b_enc', [dSae], dims),
    wDec: readTensor(f, 'W_dec', [dSae, dIn], dims),
    bDec: readTensor(f, 'b_dec', [dIn], dims),
    ...(hasThreshold ? { threshold: readTensor(f, 'threshold', [dSae], dims) } : {}),
  };
}
