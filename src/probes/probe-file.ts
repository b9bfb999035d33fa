/**
 * Probe files: one safetensors file holding, per layer l, F32 tensors
 *
 *   layers.{l}.weight [outputs, hidden]   layers.{l}.bias [outputs]
 *
 * and the rest as JSON under the metadata key `steerer_probe`, tagged `format: "steerer.probe/v1"`.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod/v4';
import { HOOK_SITES } from '../graph/hook-points.js';
import { InvalidInputError, SteererError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors-write.js';
import { probeOutputs, validateProbe, type LinearProbe, type ProbeLayerWeights, type ProbeMetrics } from './probe.js';
import { nonNegativeInt as nonNegInt } from '../util/schemas.js';

export const PROBE_FILE_FORMAT = 'steerer.probe/v1';
const PROBE_META_KEY = 'steerer_probe';

const finite = z.number().min(-1e12).max(1e12);

const MetaSchema = z.object({
  format: z.literal(PROBE_FILE_FORMAT),
  task: z.enum(['classification', 'regression']),
  site: z.enum(HOOK_SITES),
  positions: z.enum(['last', 'mean']),
  classes: z.array(z.string().min(1)),
  hiddenSize: z.number().int().positive(),
  layers: z.array(nonNegInt).min(1),
  model: z.object({ name: z.string().optional(), hiddenSize: z.number().int().positive(), numLayers: z.number().int().positive() }).optional(),
  metrics: z.array(z.object({ layer: nonNegInt, n: nonNegInt, accuracy: finite.optional(), auroc: finite.optional(), r2: finite.optional() })).optional(),
  training: z.object({ l2: z.number().nonnegative(), folds: nonNegInt, seed: z.number().int(), examples: nonNegInt }).optional(),
});

type Meta = z.infer<typeof MetaSchema>;

const weightName = (layer: number): string => `layers.${layer}.weight`;
const biasName = (layer: number): string => `layers.${layer}.bias`;

function toMeta(probe: LinearProbe): Meta {
  return {
    format: PROBE_FILE_FORMAT,
    task: probe.task,
    site: probe.site,
    positions: probe.positions,
    classes: [...probe.classes],
    hiddenSize: probe.hiddenSize,
    layers: [...probe.layers.keys()].sort((a, b) => a - b),
    ...(probe.model ? { model: { ...probe.model } } : {}),
    ...(probe.metrics ? { metrics: [...probe.metrics].sort(([a], [b]) => a - b).map(([layer, m]) => ({ layer, ...m })) } : {}),
    ...(probe.training ? { training: { ...probe.training } } : {}),
  };
}

/** Saves atomically; an invalid probe (or a missing folder) writes nothing. */
export function saveProbe(path: string, probe: LinearProbe): void {
  validateProbe(probe);
  const meta = toMeta(probe);
  const parsed = MetaSchema.safeParse(meta);
  if (!parsed.success) throw new InvalidInputError(`cannot save ${path}: ${issueText(parsed.error.issues[0])}`);
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new InvalidInputError(`cannot save ${path}: folder ${dir} does not exist`);
  const outputs = probeOutputs(probe.task, probe.classes.length);
  const tensors = new Map<string, TensorToWrite>();
  for (const layer of meta.layers) {
    const w = probe.layers.get(layer)!;
    tensors.set(weightName(layer), { shape: [outputs, probe.hiddenSize], data: w.weight, dtype: 'F32' });
    tensors.set(biasName(layer), { shape: [outputs], data: w.bias, dtype: 'F32' });
  }
  writeSafetensors(path, tensors, { [PROBE_META_KEY]: JSON.stringify(meta) });
}

function issueText(issue: { readonly path: readonly PropertyKey[]; readonly message: string }): string {
  return `${issue.path.length > 0 ? issue.path.map(String).join('.') : 'metadata'}: ${issue.message}`;
}

/** Loads a file written by saveProbe; any problem is an InvalidInputError naming the file. */
export function loadProbe(path: string): LinearProbe {
  if (!existsSync(path)) throw new InvalidInputError(`${path}: no such probe file`);
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(path);
  } catch (e) {
    // A truncated or foreign file is a bad --probe argument as far as the caller is concerned.
    if (e instanceof SteererError) throw new InvalidInputError(`not a probe file: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    return readProbe(f, path);
  } catch (e) {
    if (e instanceof SteererError && !(e instanceof InvalidInputError)) throw new InvalidInputError(`${path}: ${e.message}`, { cause: e });
    throw e;
  } finally {
    f.close();
  }
}

function readProbe(f: SafetensorsFile, path: string): LinearProbe {
  const fail = (problem: string): never => {
    throw new InvalidInputError(`${path}: ${problem}`);
  };
  const raw = f.metadata[PROBE_META_KEY];
  if (raw === undefined) fail(`not a Steerer probe file (no "${PROBE_META_KEY}" metadata)`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    fail(`"${PROBE_META_KEY}" metadata is not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
  const format = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).format : undefined;
  if (format !== PROBE_FILE_FORMAT) fail(`unsupported probe format ${JSON.stringify(format)} (expected "${PROBE_FILE_FORMAT}")`);
  const parsed = MetaSchema.safeParse(json);
  if (!parsed.success) return fail(`invalid probe metadata: ${issueText(parsed.error.issues[0])}`);
  const meta = parsed.data;
  const outputs = probeOutputs(meta.task, meta.classes.length);
  const expected = new Set<string>();
  const layers = new Map<number, ProbeLayerWeights>();
  const read = (name: string, shape: readonly number[]): Float32Array => {
    expected.add(name);
    const e = f.entries.get(name);
    if (!e) return fail(`missing tensor "${name}"`);
    if (e.dtype !== 'F32') fail(`tensor "${name}" is ${e.dtype}, expected F32`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) fail(`tensor "${name}" has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}]`);
    return f.readF32(name);
  };
  for (const layer of meta.layers) {
    if (layers.has(layer)) fail(`layer ${layer} is listed twice`);
    layers.set(layer, { weight: read(weightName(layer), [outputs, meta.hiddenSize]), bias: read(biasName(layer), [outputs]) });
  }
  for (const name of f.entries.keys()) if (!expected.has(name)) fail(`unexpected tensor "${name}"`);
  const metrics = meta.metrics ? new Map<number, ProbeMetrics>(meta.metrics.map(({ layer, ...m }) => [layer, m])) : undefined;
  const probe: LinearProbe = {
    task: meta.task,
    site: meta.site,
    positions: meta.positions,
    classes: meta.classes,
    layers,
    hiddenSize: meta.hiddenSize,
    ...(meta.model ? { model: meta.model } : {}),
    ...(metrics ? { metrics } : {}),
    ...(meta.training ? { training: meta.training } : {}),
  };
  return validateProbe(probe, path);
}
