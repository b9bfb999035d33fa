/**
 * The on-disk layout of an activation index (activation-index.ts) and its checked reads:
 *
 *   manifest.json      IndexManifest: settings, source, and the size and SHA-256 of each file
 *   index.usearch      the HNSW graph with its vectors (USearch's own format; none for L1)
 *   rows.safetensors   doc / pos / token I32 [rows] of every indexed row, mean F32 [dim] of
 *                      the rows, and (metadata) the text of every token id that occurs
 *
 * Each file is written atomically and the manifest last, so an interrupted build leaves whole
 * files whose sizes or hashes no longer match the manifest: opening then fails with a clear
 * error. The sizes and hashes are checked before USearch reads a byte, because a truncated
 * file makes USearch abort the process rather than throw.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod/v4';
import { HOOK_SITES, hookName, type HookPoint } from '../graph/hook-points.js';
import { ModelFileError } from '../io/errors.js';
import { openForReading, readFully, writeFileAtomic } from '../io/files.js';
import { parseJson, readText } from '../io/json-records.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { nonNegativeInt, positiveInt } from '../util/schemas.js';
import { INDEX_METRICS, type IndexMetric } from './exact-search.js';

export const INDEX_FORMAT = 'steerer.activation-index/v1';
const INDEX_MANIFEST = 'manifest.json';
export const GRAPH_FILE = 'index.usearch';
export const ROWS_FILE = 'rows.safetensors';

export const QUANTIZATIONS = ['f32', 'f16'] as const;
/** How the graph stores vectors: f16 halves its memory at a small cost in recall (exact re-ranking recovers it). */
export type IndexQuantization = (typeof QUANTIZATIONS)[number];

interface FileEntry {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface HnswSettings {
  /** Neighbours per node (HNSW M). */
  readonly connectivity: number;
  /** Candidates kept while inserting (efConstruction). */
  readonly expansionAdd: number;
  /** Candidates kept while searching (ef); a search may override it. */
  readonly expansionSearch: number;
  readonly quantization: IndexQuantization;
}

export interface IndexManifest {
  readonly format: typeof INDEX_FORMAT;
  readonly library: { readonly name: 'usearch'; readonly version: string };
  readonly metric: IndexMetric;
  /** The rows' mean was subtracted before indexing (see ActivationIndex). */
  readonly centered: boolean;
  readonly dim: number;
  readonly rows: number;
  readonly hook: string;
  readonly point: HookPoint;
  readonly model: { readonly name: string; readonly hiddenSize: number; readonly numLayers: number };
  /** The activation store the rows came from, relative to the index folder (exact search and re-ranking read it). */
  readonly store: string;
  /** Absent for L1, which the graph library lacks: such an index searches exactly. */
  readonly hnsw?: HnswSettings;
  readonly files: { readonly graph?: FileEntry; readonly rows: FileEntry };
  /** Shared with rows.safetensors, so a file from another build is told apart even before hashing. */
  readonly buildId: string;
  readonly buildSeconds: number;
  readonly createdAt: string;
}

const FileSchema = z.object({ name: z.string(), bytes: nonNegativeInt, sha256: z.string().regex(/^[0-9a-f]{64}$/) });

const ManifestSchema = z.object({
  format: z.literal(INDEX_FORMAT),
  library: z.object({ name: z.literal('usearch'), version: z.string() }),
  metric: z.enum(INDEX_METRICS),
  centered: z.boolean(),
  dim: positiveInt,
  rows: positiveInt,
  hook: z.string(),
  point: z.object({ layer: nonNegativeInt, site: z.enum(HOOK_SITES) }),
  model: z.object({ name: z.string(), hiddenSize: positiveInt, numLayers: positiveInt }),
  store: z.string(),
  hnsw: z.object({ connectivity: positiveInt, expansionAdd: positiveInt, expansionSearch: positiveInt, quantization: z.enum(QUANTIZATIONS) }).optional(),
  files: z.object({ graph: FileSchema.optional(), rows: FileSchema }),
  buildId: z.string(),
  buildSeconds: z.number().nonnegative(),
  createdAt: z.string(),
});

// Compile-time guard: whatever the schema accepts is an IndexManifest.
const asManifest = (m: z.infer<typeof ManifestSchema>): IndexManifest => m;

export function newBuildId(): string {
  return randomBytes(8).toString('hex');
}

/** The manifest in `dir`, validated and consistent with itself. */
export function readIndexManifest(dir: string): IndexManifest {
  const path = join(dir, INDEX_MANIFEST);
  if (!fs.existsSync(path)) throw new ModelFileError(dir, `no ${INDEX_MANIFEST}: not an activation index (build one with \`steerer index build\`)`);
  const parsed = ManifestSchema.safeParse(parseJson(path, readText(path)));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(path, `not an activation index manifest: ${issue.path.length > 0 ? issue.path.map(String).join('.') : 'file'}: ${issue.message}`);
  }
  const m = asManifest(parsed.data);
  const fail = (problem: string): never => {
    throw new ModelFileError(path, problem);
  };
  if (m.hook !== hookName(m.point)) fail(`hook ${m.hook} does not match point ${hookName(m.point)}`);
  if (m.dim !== m.model.hiddenSize) fail(`dim ${m.dim} differs from the model's hidden size ${m.model.hiddenSize}`);
  if (m.metric === 'l1' && (m.hnsw || m.files.graph)) fail('an L1 index has no graph, but the manifest lists one');
  if (m.metric !== 'l1' && !(m.hnsw && m.files.graph)) fail(`a ${m.metric} index needs a graph, but the manifest lists none`);
  if (m.files.graph && m.files.graph.name !== GRAPH_FILE) fail(`the graph file must be ${GRAPH_FILE}, not ${JSON.stringify(m.files.graph.name)}`);
  if (m.files.rows.name !== ROWS_FILE) fail(`the rows file must be ${ROWS_FILE}, not ${JSON.stringify(m.files.rows.name)}`);
  return m;
}

export function writeIndexManifest(dir: string, m: IndexManifest): void {
  writeFileAtomic(join(dir, INDEX_MANIFEST), (write) => write(Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8')));
}

/** Size and SHA-256 of a file, read in 16 MiB pieces. */
export function describeFile(path: string): FileEntry {
  const { fd, size } = openForReading(path);
  try {
    const hash = createHash('sha256');
    const buf = new Uint8Array(Math.min(size, 1 << 24));
    for (let at = 0; at < size; at += buf.length) {
      const piece = buf.subarray(0, Math.min(buf.length, size - at));
      readFully(fd, piece, at, path);
      hash.update(piece);
    }
    return { name: basename(path), bytes: size, sha256: hash.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/** Throws unless `dir/entry.name` has the recorded size and (when `hash`) the recorded SHA-256. */
export function checkFile(dir: string, entry: FileEntry, hash: boolean): void {
  const path = join(dir, entry.name);
  const { fd, size } = openForReading(path);
  fs.closeSync(fd);
  const rebuild = 'the index is damaged or its build was interrupted: rebuild it with `steerer index build`';
  if (size !== entry.bytes) throw new ModelFileError(path, `${size < entry.bytes ? 'truncated' : 'too long'}: ${size} bytes where the manifest says ${entry.bytes}; ${rebuild}`);
  if (hash && describeFile(path).sha256 !== entry.sha256) throw new ModelFileError(path, `its contents do not match the manifest's SHA-256; ${rebuild}`);
}

/** Atomic write for a library that can only save to a path: save to a temporary name, then rename. */
export function saveAtomicVia(path: string, save: (tmp: string) => void): void {
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    save(tmp);
    const fd = fs.openSync(tmp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// rows.safetensors

export interface IndexRows {
  readonly doc: Int32Array;
  readonly pos: Int32Array;
  readonly token: Int32Array;
  readonly mean: Float32Array;
  /** Text of every token id in `token`. */
  readonly tokenText: ReadonlyMap<number, string>;
}

export function writeRowsFile(path: string, rows: IndexRows, buildId: string): void {
  const n = rows.doc.length;
  const ids = [...rows.tokenText.keys()].sort((a, b) => a - b);
  writeSafetensors(
    path,
    {
      doc: { shape: [n], data: rows.doc, dtype: 'I32' },
      pos: { shape: [n], data: rows.pos, dtype: 'I32' },
      token: { shape: [n], data: rows.token, dtype: 'I32' },
      mean: { shape: [rows.mean.length], data: rows.mean },
    },
    { format: INDEX_FORMAT, buildId, tokenIds: JSON.stringify(ids), tokenTexts: JSON.stringify(ids.map((id) => rows.tokenText.get(id))) },
  );
}

const TokenIds = z.array(nonNegativeInt);
const TokenTexts = z.array(z.string());

/** Reads and checks rows.safetensors against the manifest. */
export function readRowsFile(dir: string, m: IndexManifest): IndexRows {
  const path = join(dir, ROWS_FILE);
  const fail = (problem: string): never => {
    throw new ModelFileError(path, problem);
  };
  const f = SafetensorsFile.open(path);
  try {
    const expect = (name: string, dtype: string, shape: readonly number[]): void => {
      const e = f.entries.get(name);
      if (!e) fail(`no tensor "${name}"`);
      else if (e.dtype !== dtype || e.shape.join() !== shape.join()) fail(`tensor "${name}" is ${e.dtype} [${e.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}]`);
    };
    for (const name of ['doc', 'pos', 'token']) expect(name, 'I32', [m.rows]);
    expect('mean', 'F32', [m.dim]);
    if (f.metadata.buildId !== m.buildId) fail(`belongs to another build (${String(f.metadata.buildId)}) than the manifest (${m.buildId}); rebuild the index`);
    const parse = <T>(key: string, schema: z.ZodType<T>): T => {
      const raw = f.metadata[key];
      if (raw === undefined) fail(`no "${key}" metadata`);
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        fail(`"${key}" metadata is not JSON`);
      }
      const r = schema.safeParse(json);
      return r.success ? r.data : fail(`"${key}" metadata: ${r.error.issues[0].message}`);
    };
    const ids = parse('tokenIds', TokenIds);
    const texts = parse('tokenTexts', TokenTexts);
    if (ids.length !== texts.length) fail(`${ids.length} token ids but ${texts.length} token texts`);
    const tokenText = new Map(ids.map((id, i) => [id, texts[i]]));
    const rows: IndexRows = { doc: f.readI32('doc'), pos: f.readI32('pos'), token: f.readI32('token'), mean: f.readF32('mean'), tokenText };
    for (let r = 0; r < m.rows; r++) {
      if (rows.doc[r] < 0 || rows.pos[r] < 0) fail(`row ${r} has a negative document or position`);
      if (!tokenText.has(rows.token[r])) fail(`row ${r} has token ${rows.token[r]}, which has no text`);
    }
    if (rows.mean.some((v) => !Number.isFinite(v))) fail('the mean row holds a non-finite value');
    return rows;
  } finally {
    f.close();
  }
}
