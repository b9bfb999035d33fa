/**
 * A vector and what `vector create --concept` writes beside it, as one file (src/io/bundle.ts):
 * NAME.safetensors plus, when present, NAME.data.json (the contrastive data), NAME.lexicon.json,
 * NAME.report.json and NAME.report.html. The manifest carries the vector's name; member names are
 * derived from it and a fixed list of suffixes, so unpacking writes only those files, in the
 * folder asked for. The vector member must load as a steering vector before anything is kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BUNDLE_LIMITS, packBundle, readBundle } from '../io/bundle.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { stageFiles } from '../io/staged-files.js';
import type { SteeringVector } from './vector.js';
import { loadVector } from './vector-file.js';

export const VECTOR_BUNDLE_FORMAT = 'steerer.vector-bundle/v1';
/** What `vector pack` suggests for its output, and the server names its downloads. */
export const BUNDLE_EXTENSION = '.vector.zip';

/** Vector names: letters, digits, `_`, `-` and inner dots, so a name never spells a path. */
const VECTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
export const MAX_VECTOR_NAME = 64;

export function isVectorName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_VECTOR_NAME && VECTOR_NAME.test(name);
}

const VECTOR_SUFFIX = '.safetensors';
/** Files that may sit beside NAME.safetensors and travel with it, in bundle order. */
export const BESIDE_VECTOR = ['.data.json', '.lexicon.json', '.report.json', '.report.html'] as const;

export interface BundledFile {
  /** `.safetensors` for the vector, else one of BESIDE_VECTOR. */
  readonly suffix: string;
  readonly bytes: Uint8Array;
}

export interface VectorBundle {
  readonly name: string;
  /** The vector first, then what was beside it. */
  readonly files: readonly BundledFile[];
}

/** NAME.safetensors → NAME + suffix (the `vector create --concept` naming). */
function besideVector(vectorFile: string, suffix: string): string {
  return vectorFile.replace(/\.safetensors$/i, '') + suffix;
}

function checkJson(bytes: Uint8Array, what: string): void {
  try {
    JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new InvalidInputError(`${what} is not valid JSON`);
  }
}

/**
 * The bundle of a vector file and the files beside it, named `name` (default: the file's name
 * without .safetensors). The vector must load; the JSON files must parse.
 */
export function packVectorFile(vectorFile: string, name = path.basename(vectorFile).replace(/\.safetensors$/i, '')): { bundle: Buffer; members: string[] } {
  if (!/\.safetensors$/i.test(vectorFile)) throw new InvalidInputError(`${vectorFile}: bundles hold Steerer .safetensors vectors (convert others with \`steerer vector export --format safetensors\`)`);
  if (!isVectorName(name)) throw new InvalidInputError(`${JSON.stringify(name)} cannot name a bundled vector: 1-${MAX_VECTOR_NAME} letters, digits, "_", "-" or inner dots`);
  loadVector(vectorFile);
  const files: BundledFile[] = [{ suffix: VECTOR_SUFFIX, bytes: fs.readFileSync(vectorFile) }];
  for (const suffix of BESIDE_VECTOR) {
    const file = besideVector(vectorFile, suffix);
    if (!fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    if (suffix.endsWith('.json')) checkJson(bytes, file);
    files.push({ suffix, bytes });
  }
  const members = files.map((f) => `${name}${f.suffix}`);
  return { bundle: packBundle(VECTOR_BUNDLE_FORMAT, { name }, files.map((f, i) => ({ path: members[i], bytes: f.bytes }))), members };
}

/** Reads a vector bundle's files, checked (hashes, names, JSON); the vector is checked when written. */
export function readVectorBundle(bytes: Buffer, source: string): VectorBundle {
  const { manifest, members } = readBundle(bytes, source);
  const fail = (problem: string): never => {
    throw new InvalidInputError(`${source}: ${problem}`);
  };
  if (manifest.format !== VECTOR_BUNDLE_FORMAT) fail(`format ${JSON.stringify(manifest.format)} is not ${VECTOR_BUNDLE_FORMAT}`);
  const name = manifest.name;
  if (typeof name !== 'string' || !isVectorName(name)) fail(`the manifest's "name" must be a vector name (1-${MAX_VECTOR_NAME} letters, digits, "_", "-" or inner dots)`);
  const n = name as string;
  const files = members.map((m): BundledFile => {
    const suffix = [VECTOR_SUFFIX, ...BESIDE_VECTOR].find((s) => m.path === `${n}${s}`) ?? fail(`${m.path} is not a file a vector bundle holds (${n}.safetensors, ${BESIDE_VECTOR.map((s) => n + s).join(', ')})`);
    if (suffix.endsWith('.json')) checkJson(m.bytes, `${source}: ${m.path}`);
    return { suffix, bytes: m.bytes };
  });
  const vector = files.find((f) => f.suffix === VECTOR_SUFFIX) ?? fail(`no ${n}${VECTOR_SUFFIX} in the bundle`);
  return { name: n, files: [vector, ...files.filter((f) => f !== vector)] };
}

/** Reads a bundle file, its size checked before a byte is read. */
export function readVectorBundleFile(file: string): VectorBundle {
  let size: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new InvalidInputError(`${file}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    throw new InvalidInputError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (size > BUNDLE_LIMITS.bundleBytes) throw new InvalidInputError(`${file}: ${size} bytes; a bundle is at most ${BUNDLE_LIMITS.bundleBytes}`);
  return readVectorBundle(fs.readFileSync(file), file);
}

/** Loads a staged vector file, blaming the bundle member (not the temp file) when it is no vector. */
export function loadBundledVector(tempFile: string, member: string): SteeringVector {
  try {
    return loadVector(tempFile);
  } catch (e) {
    if (e instanceof ModelFileError) throw new InvalidInputError(`${member} is not a valid vector: ${e.problem}`);
    throw e;
  }
}

/**
 * Writes a bundle's files into `dir` as NAME.safetensors, NAME.data.json, ...: all or nothing,
 * the vector checked first; an existing file is an error unless `force`. Returns the paths.
 */
export function unpackVectorBundle(bundle: VectorBundle, dir: string, opts: { force?: boolean } = {}): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const targets = bundle.files.map((f) => ({ path: path.join(dir, `${bundle.name}${f.suffix}`), bytes: f.bytes }));
  const existing = targets.filter((t) => fs.existsSync(t.path)).map((t) => t.path);
  if (existing.length > 0 && !opts.force) throw new InvalidInputError(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''} (--force replaces)`);
  // The vector last, so it never appears without the files that came with it.
  const staged = stageFiles([...targets.slice(1), targets[0]]);
  try {
    loadBundledVector(staged.files[staged.files.length - 1].temp, `${bundle.name}${VECTOR_SUFFIX}`);
    staged.commit();
  } finally {
    staged.discard();
  }
  return targets.map((t) => t.path);
}
