/**
 * Steering vectors on disk: saving and loading them (the metadata schema and the consistency
 * checks are vector-validation.ts's).
 *
 * Native format: safetensors with one F32 tensor `direction.{layer}` [hidden] per layer, optional
 * `mean.{layer}` [hidden], and the VectorMeta as JSON under the `steerer` metadata key.
 *
 * Also read: GGUF control vectors (llama.cpp `--control-vector`, repeng `export_gguf`) and plain
 * safetensors files of per-layer directions without our metadata (repeng-style dumps). GGUF
 * control vectors can be written too, for use with llama.cpp.
 *
 * llama.cpp's convention, checked against its loader (common_control_vector_load_one) and graph
 * code (build_cvec after each layer's residual add): tensor `direction.N` is added to the output
 * of layer N (0-based), i.e. Steerer's `blocks.N.hook_resid_post`; `direction.0` is rejected by
 * llama.cpp (its buffer starts at layer 1), and `controlvector.layer_count` is not read by it.
 */
import { closeSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { GgmlType, GgufFile, ggmlTypeName } from '../io/gguf.js';
import { writeGguf } from '../io/gguf-write.js';
import type { GgufMetaEntry } from '../io/gguf-format.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors-write.js';
import { openForReading, readFully } from '../io/files.js';
import type { SteeringVector, VectorMeta } from './vector.js';
import { firstNonFinite, parseVectorMeta, validateVector, VECTOR_FORMAT } from './vector-validation.js';

/** safetensors metadata key holding the JSON VectorMeta. */
const META_KEY = 'steerer';
/** GGUF `general.architecture` of a control vector file. */
const CONTROL_VECTOR_ARCH = 'controlvector';

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

// ---------------------------------------------------------------------------------------------
// Native format

const sortedEntries = (m: ReadonlyMap<number, Float32Array>): [number, Float32Array][] => [...m].sort((a, b) => a[0] - b[0]);

/** Save as safetensors. Validates first, so an invalid vector writes nothing; the write is atomic. */
export function saveVector(path: string, v: SteeringVector): void {
  validateVector(v);
  const hidden = v.meta.model.hiddenSize;
  const tensors = new Map<string, TensorToWrite>();
  for (const [layer, d] of sortedEntries(v.directions)) tensors.set(`direction.${layer}`, { shape: [hidden], data: d, dtype: 'F32' });
  for (const [layer, m] of sortedEntries(v.means ?? new Map<number, Float32Array>())) tensors.set(`mean.${layer}`, { shape: [hidden], data: m, dtype: 'F32' });
  writeSafetensors(path, tensors, { [META_KEY]: JSON.stringify(v.meta) });
}

type Kind = 'gguf' | 'safetensors' | 'unknown';

/** Decide by content, not name: GGUF magic, or a safetensors header that starts with '{'. */
function sniff(path: string): Kind {
  const { fd, size } = openForReading(path);
  try {
    const head = Buffer.alloc(Math.min(9, size));
    readFully(fd, head, 0, path);
    if (head.length >= 4 && head.toString('latin1', 0, 4) === 'GGUF') return 'gguf';
    if (head.length === 9 && head[8] === 0x7b) return 'safetensors';
    // A .gguf too short or damaged to show its magic still gets the GGUF reader's precise error.
    return extname(path).toLowerCase() === '.gguf' ? 'gguf' : 'unknown';
  } finally {
    closeSync(fd);
  }
}

/**
 * Load a steering vector: our safetensors format, a GGUF control vector, or a plain safetensors
 * file of per-layer directions (`direction.N`, `layers.N` or `N`; see importPlainSafetensors).
 * Anything else, or any inconsistency, is a ModelFileError naming the file.
 */
export function loadVector(path: string): SteeringVector {
  const kind = sniff(path);
  if (kind === 'gguf') return importControlVectorGguf(path);
  if (kind === 'unknown') {
    throw new ModelFileError(path, 'not a steering vector file: expected safetensors or a GGUF control vector');
  }
  const f = SafetensorsFile.open(path);
  try {
    if (!Object.hasOwn(f.metadata, META_KEY)) return readPlain(f);
    return readNative(f);
  } finally {
    f.close();
  }
}

const NATIVE_NAME = /^(direction|mean)\.(0|[1-9]\d*)$/;

function readNative(f: SafetensorsFile): SteeringVector {
  const path = f.path;
  const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
  let json: unknown;
  try {
    json = JSON.parse(f.metadata[META_KEY]);
  } catch (err) {
    return fail(`"${META_KEY}" metadata is not valid JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 120)})`);
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const format = (json as Record<string, unknown>).format;
    if (format !== VECTOR_FORMAT) {
      fail(`unsupported vector format ${typeof format === 'string' ? quote(format) : String(format)} (expected ${quote(VECTOR_FORMAT)})`);
    }
  }
  const parsed = parseVectorMeta(json);
  if (!parsed.ok) return fail(`invalid vector metadata: ${parsed.problem}`);
  const meta = parsed.meta;
  const directions = new Map<number, Float32Array>();
  const means = new Map<number, Float32Array>();
  for (const [name, entry] of f.entries) {
    const m = NATIVE_NAME.exec(name);
    if (!m) fail(`unexpected tensor ${quote(name)} (a vector file holds only direction.N and mean.N)`);
    const layer = Number(m![2]);
    if (layer >= meta.model.numLayers) fail(`tensor ${quote(name)} is for layer ${layer}, but the model has layers 0..${meta.model.numLayers - 1}`);
    if (entry.shape.length !== 1 || entry.shape[0] !== meta.model.hiddenSize) {
      fail(`tensor ${quote(name)} has shape [${entry.shape.join(', ')}], expected [${meta.model.hiddenSize}] (the model's hidden size)`);
    }
    (m![1] === 'direction' ? directions : means).set(layer, readFinite(f, name));
  }
  if (directions.size === 0) fail('vector file has no direction tensors');
  for (const layer of means.keys()) {
    if (!directions.has(layer)) fail(`tensor "mean.${layer}" has no matching "direction.${layer}"`);
  }
  for (const layer of meta.recommended?.layers ?? []) {
    if (!directions.has(layer)) fail(`recommended layer ${layer} has no direction tensor`);
  }
  return { directions: sortMap(directions), ...(means.size > 0 ? { means: sortMap(means) } : {}), meta };
}

function readFinite(f: SafetensorsFile | GgufFile, name: string): Float32Array {
  const values = f.readF32(name);
  const bad = firstNonFinite(values);
  if (bad >= 0) throw new ModelFileError(f.path, `tensor ${quote(name)} has a non-finite value (${values[bad]}) at index ${bad}`);
  return values;
}

function sortMap(m: Map<number, Float32Array>): Map<number, Float32Array> {
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
const PLAIN_NAME = /^(?:(direction|layers|mean)\.)?(0|[1-9]\d*)$/;

/**
 * A safetensors file of per-layer directions without our metadata, as repeng-style tools dump
 * them: tensors named `direction.N`, `layers.N` or just `N` (1-D, one per layer; `mean.N` is kept
 * as a mean). The model is unknown, so name/architecture are 'unknown', hiddenSize comes from
 * the tensors and numLayers = highest layer + 1; the site is taken to be resid_post.
 */
function readPlain(f: SafetensorsFile): SteeringVector {
  const path = f.path;
  const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
  const directions = new Map<number, Float32Array>();
  const means = new Map<number, Float32Array>();
  let hidden = -1;
  let first = '';
  if (f.entries.size === 0) fail('not a steering vector file: it holds no tensors');
  for (const [name, entry] of f.entries) {
    const m = PLAIN_NAME.exec(name);
    if (!m) fail(`not a steering vector file: tensor ${quote(name)} is not named direction.N, layers.N or N, and there is no "${META_KEY}" metadata`);
    if (!FLOAT_DTYPES.has(entry.dtype)) fail(`tensor ${quote(name)} has dtype ${entry.dtype}; a direction must be floating point`);
    if (entry.shape.length !== 1 || entry.shape[0] === 0) fail(`tensor ${quote(name)} has shape [${entry.shape.join(', ')}]; a direction must be 1-D and non-empty`);
    if (hidden === -1) {
      hidden = entry.shape[0];
      first = name;
    } else if (entry.shape[0] !== hidden) {
      fail(`tensor ${quote(name)} has ${entry.shape[0]} values but ${quote(first)} has ${hidden}: sizes differ across layers`);
    }
    const layer = Number(m![2]);
    const target = m![1] === 'mean' ? means : directions;
    if (target.has(layer)) fail(`layer ${layer} appears twice (tensor ${quote(name)})`);
    target.set(layer, readFinite(f, name));
  }
  if (directions.size === 0) fail('not a steering vector file: it has mean tensors but no directions');
  for (const layer of means.keys()) {
    if (!directions.has(layer)) fail(`tensor "mean.${layer}" has no matching direction`);
  }
  const meta: VectorMeta = {
    format: VECTOR_FORMAT,
    model: { name: 'unknown', architecture: 'unknown', hiddenSize: hidden, numLayers: Math.max(...directions.keys()) + 1 },
    method: 'imported',
    site: 'resid_post',
    createdAt: fileTime(path),
    description: `imported from ${basename(path)} (plain safetensors)`,
  };
  return { directions: sortMap(directions), ...(means.size > 0 ? { means: sortMap(means) } : {}), meta };
}

/** When an imported vector was made is unknown; the file's modification time is the best guess. */
function fileTime(path: string): string {
  try {
    return statSync(path).mtime.toISOString();
  } catch {
    return new Date().toISOString();
  }
}

// ---------------------------------------------------------------------------------------------
// GGUF control vectors

interface ControlVectorExportOptions {
  /** llama.cpp cannot steer layer 0 (it rejects direction.0); drop it instead of failing. */
  readonly dropLayer0?: boolean;
}

/**
 * Write a llama.cpp control vector: general.architecture = "controlvector",
 * controlvector.model_hint = `modelHint` (the model's GGUF architecture, e.g. "llama"),
 * controlvector.layer_count = number of direction tensors (u32, as repeng writes it), and one
 * F32 tensor `direction.N` [hidden] per layer. Only resid_post vectors have this meaning; layer 0
 * is not representable. Means are not part of the format and are not written. Atomic.
 */
export function exportControlVectorGguf(path: string, v: SteeringVector, modelHint: string, opts?: ControlVectorExportOptions): void {
  validateVector(v);
  if (v.meta.site !== 'resid_post') {
    throw new InvalidInputError(
      `only resid_post vectors can be exported as a GGUF control vector (llama.cpp adds direction.N to the output of layer N); this vector is at ${v.meta.site}`,
    );
  }
  if (typeof modelHint !== 'string' || modelHint.trim() === '') {
    throw new InvalidInputError('a control vector needs a model hint: the model\'s GGUF architecture, e.g. "llama"');
  }
  let entries = sortedEntries(v.directions);
  if (v.directions.has(0)) {
    if (!opts?.dropLayer0) {
      throw new InvalidInputError(
        'the vector has a direction for layer 0, which a llama.cpp control vector cannot hold (llama.cpp rejects direction.0); pass dropLayer0 (CLI: --drop-layer0) to leave it out',
      );
    }
    entries = entries.filter(([layer]) => layer !== 0);
    if (entries.length === 0) throw new InvalidInputError('after dropping layer 0 the vector has no directions left to export');
  }
  const hidden = v.meta.model.hiddenSize;
  const metadata: GgufMetaEntry[] = [
    { key: 'general.architecture', type: 'string', value: CONTROL_VECTOR_ARCH },
    { key: `${CONTROL_VECTOR_ARCH}.model_hint`, type: 'string', value: modelHint },
    { key: `${CONTROL_VECTOR_ARCH}.layer_count`, type: 'u32', value: entries.length },
  ];
  writeGguf(path, metadata, entries.map(([layer, d]) => ({ name: `direction.${layer}`, shape: [hidden], data: d, type: GgmlType.F32 })));
}

const GGUF_DIRECTION = /^direction\.(0|[1-9]\d*)$/;
const GGUF_FLOAT_TYPES: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];

/**
 * Read a GGUF control vector. Layer N is `direction.N` (llama.cpp's meaning: added to layer N's
 * output, i.e. resid_post); `direction.0`, which llama.cpp refuses, is read under the same
 * meaning. controlvector.layer_count is not checked against the tensors because writers
 * disagree on it (repeng: number of directions; others: the model's layer count).
 */
export function importControlVectorGguf(path: string): SteeringVector {
  const f = GgufFile.open(path);
  try {
    const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
    const arch = f.get('general.architecture');
    if (arch !== CONTROL_VECTOR_ARCH) {
      fail(arch === undefined
        ? 'not a control vector: GGUF file has no general.architecture'
        : `not a control vector: general.architecture is ${typeof arch === 'string' ? quote(arch) : String(arch)}, expected "controlvector"`);
    }
    const hint = f.get(`${CONTROL_VECTOR_ARCH}.model_hint`);
    if (hint !== undefined && typeof hint !== 'string') fail('controlvector.model_hint is not a string');
    const count = f.get(`${CONTROL_VECTOR_ARCH}.layer_count`);
    if (count !== undefined && typeof count !== 'number' && typeof count !== 'bigint') fail('controlvector.layer_count is not an integer');

    const directions = new Map<number, Float32Array>();
    let hidden = -1;
    let first = '';
    if (f.tensors.size === 0) fail('control vector has no direction tensors');
    for (const [name, t] of f.tensors) {
      const m = GGUF_DIRECTION.exec(name);
      if (!m) fail(`tensor ${quote(name)} is not named direction.N`);
      if (!GGUF_FLOAT_TYPES.includes(t.type)) fail(`tensor ${quote(name)} has type ${ggmlTypeName(t.type)}; control vectors are F32`);
      if (t.dims.length !== 1 || t.dims[0] === 0) fail(`tensor ${quote(name)} has shape [${t.shape.join(', ')}]; a direction must be 1-D and non-empty`);
      if (hidden === -1) {
        hidden = t.dims[0];
        first = name;
      } else if (t.dims[0] !== hidden) {
        fail(`tensor ${quote(name)} has ${t.dims[0]} values but ${quote(first)} has ${hidden}: sizes differ across layers`);
      }
      directions.set(Number(m![1]), readFinite(f, name));
    }
    const meta: VectorMeta = {
      format: VECTOR_FORMAT,
      // The file names no model, only its architecture; the depth is at least the highest layer + 1.
      model: { name: 'unknown', architecture: (hint as string | undefined) ?? 'unknown', hiddenSize: hidden, numLayers: Math.max(...directions.keys()) + 1 },
      method: 'imported',
      site: 'resid_post',
      createdAt: fileTime(path),
      description: `imported from ${basename(path)} (GGUF control vector)`,
    };
    return { directions: sortMap(directions), meta };
  } finally {
    f.close();
  }
}
