/**
 * Activations of one hook point over a corpus, cached on disk for SAE training (like
 * SAELens' cached activations or sparsify's): safetensors shards plus a JSON manifest,
 * written resumably and read back as shuffled batches.
 *
 * Layout of a store directory:
 *   manifest.json              StoreManifest (rewritten atomically after every shard)
 *   shard-00000.safetensors    acts F32 [rows, dim], tokens/doc/pos I32 [rows]
 *
 * Shards end at document boundaries, so `documentsDone` says exactly where to resume.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod/v4';
import { HOOK_SITES, hookName, type HookPoint } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/files.js';
import type { HookedModel } from '../runtime/model.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { checkRowOptions, documentRows, RowPool, type RowBlock } from './activation-rows.js';
import type { CorpusDocument } from './corpus.js';
import { nonNegativeInt as nonNegInt, positiveInt } from '../util/schemas.js';

export const STORE_FORMAT = 'steerer.activations/v1';
const MANIFEST = 'manifest.json';

export interface StoreManifest {
  readonly format: typeof STORE_FORMAT;
  readonly model: { readonly name: string; readonly hiddenSize: number; readonly numLayers: number };
  readonly hook: string;
  readonly point: HookPoint;
  readonly dim: number;
  readonly contextSize: number;
  readonly excludeBos: boolean;
  /** Rows stored. */
  readonly rows: number;
  /** Tokens run through the model for those rows (stored rows plus excluded BOS rows). */
  readonly tokens: number;
  /** Documents with index < documentsDone are fully stored. */
  readonly documentsDone: number;
  readonly shards: readonly { readonly file: string; readonly rows: number }[];
  /** The corpus (or the maxTokens budget) is exhausted: resuming does nothing. */
  readonly complete: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}


const ManifestSchema = z.object({
  format: z.literal(STORE_FORMAT),
  model: z.object({ name: z.string(), hiddenSize: positiveInt, numLayers: positiveInt }),
  hook: z.string(),
  point: z.object({ layer: nonNegInt, site: z.enum(HOOK_SITES) }),
  dim: positiveInt,
  contextSize: positiveInt,
  excludeBos: z.boolean(),
  rows: nonNegInt,
  tokens: nonNegInt,
  documentsDone: nonNegInt,
  shards: z.array(z.object({ file: z.string(), rows: nonNegInt })),
  complete: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

// Compile-time guard: whatever the schema accepts is a StoreManifest.
const asManifest = (m: z.infer<typeof ManifestSchema>): StoreManifest => m;

export function shardFileName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.safetensors`;
}

/** The manifest in `dir`, validated; undefined when there is none. */
function readManifest(dir: string): StoreManifest | undefined {
  const path = join(dir, MANIFEST);
  if (!fs.existsSync(path)) return undefined;
  const json = parseJson(path, readText(path));
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(path, `${issue.path.length > 0 ? issue.path.map(String).join('.') : 'manifest'}: ${issue.message}`);
  }
  const m = asManifest(parsed.data);
  const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
  if (m.hook !== hookName(m.point)) fail(`hook ${m.hook} does not match point ${hookName(m.point)}`);
  if (m.dim !== m.model.hiddenSize) fail(`dim ${m.dim} differs from the model's hidden size ${m.model.hiddenSize}`);
  m.shards.forEach((s, i) => {
    if (s.file !== shardFileName(i)) fail(`shard ${i} is named ${JSON.stringify(s.file)}, expected ${shardFileName(i)}`);
  });
  const sum = m.shards.reduce((a, s) => a + s.rows, 0);
  if (sum !== m.rows) fail(`shards hold ${sum} rows but the manifest says ${m.rows}`);
  return m;
}

function writeManifest(dir: string, m: StoreManifest): void {
  writeFileAtomic(join(dir, MANIFEST), (write) => write(Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8')));
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface CollectStoreOptions {
  readonly dir: string;
  readonly point: HookPoint;
  /** Tokens per context, BOS included (default 128). */
  readonly contextSize?: number;
  /** Contexts per forward pass (default 16). */
  readonly batchSize?: number;
  /** A shard is written at the first document boundary with at least this many rows buffered (default 65536). */
  readonly shardRows?: number;
  /** Stop after this many rows (mid-document if need be); the store is then complete. */
  readonly maxTokens?: number;
  /** Leave out BOS rows (default true): their activations are outliers SAEs should not fit. */
  readonly excludeBos?: boolean;
  /** Rows stored so far (this run and earlier ones). */
  readonly onProgress?: (tokens: number, maxTokens?: number) => void;
  /** Stops at the next document boundary, after writing what is buffered; resume later. */
  readonly signal?: AbortSignal;
}

type Identity = Pick<StoreManifest, 'model' | 'hook' | 'point' | 'dim' | 'contextSize' | 'excludeBos'>;

function describeDifferences(m: StoreManifest, want: Identity): string[] {
  const diffs: string[] = [];
  const check = (what: string, have: unknown, need: unknown): void => {
    if (have !== need) diffs.push(`${what} ${JSON.stringify(have)} (now ${JSON.stringify(need)})`);
  };
  check('model', m.model.name, want.model.name);
  check('hidden size', m.model.hiddenSize, want.model.hiddenSize);
  check('layers', m.model.numLayers, want.model.numLayers);
  check('hook', m.hook, want.hook);
  check('contextSize', m.contextSize, want.contextSize);
  check('excludeBos', m.excludeBos, want.excludeBos);
  return diffs;
}

/**
 * Collects the point's activations over `documents` into `opts.dir`, resuming a store
 * already there (documents it holds are skipped by index, so pass the corpus from the start).
 */
export async function collectActivationStore(
  model: HookedModel,
  documents: AsyncIterable<CorpusDocument>,
  opts: CollectStoreOptions,
): Promise<StoreManifest> {
  const { dir, point, maxTokens, signal } = opts;
  const contextSize = opts.contextSize ?? 128;
  const forwardBatch = opts.batchSize ?? 16;
  const shardRows = opts.shardRows ?? 65536;
  const excludeBos = opts.excludeBos ?? true;
  checkRowOptions(model, { point, contextSize, forwardBatch });
  if (!Number.isInteger(shardRows) || shardRows < 1) throw new InvalidInputError(`shardRows must be a positive integer, got ${shardRows}`);
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 0)) {
    throw new InvalidInputError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  }

  const { spec } = model;
  const identity: Identity = {
    model: { name: model.source.name, hiddenSize: spec.hiddenSize, numLayers: spec.numLayers },
    hook: hookName(point),
    point: { layer: point.layer, site: point.site },
    dim: spec.hiddenSize,
    contextSize,
    excludeBos,
  };
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new InvalidInputError(`cannot use ${dir} as an activation store directory: ${(e as Error).message}`);
  }
  let manifest: StoreManifest;
  if (fs.existsSync(join(dir, MANIFEST))) {
    manifest = ActivationStore.open(dir).manifest; // also checks the shards it lists
    const diffs = describeDifferences(manifest, identity);
    if (diffs.length > 0) {
      throw new InvalidInputError(`${dir} holds activations collected with different settings: ${diffs.join(', ')}; use a new directory`);
    }
    if (manifest.complete) return manifest;
  } else {
    const now = new Date().toISOString();
    manifest = { format: STORE_FORMAT, ...identity, rows: 0, tokens: 0, documentsDone: 0, shards: [], complete: false, createdAt: now, updatedAt: now };
  }

  const buffer: RowBlock[] = [];
  let buffered = 0;
  let bufferedTokens = 0;
  let documentsDone = manifest.documentsDone;
  const flush = (complete: boolean): void => {
    const shards = [...manifest.shards];
    if (buffered > 0) {
      const file = shardFileName(shards.length);
      writeShard(join(dir, file), buffer, buffered, spec.hiddenSize, identity.hook);
      shards.push({ file, rows: buffered });
    }
    manifest = {
      ...manifest,
      rows: manifest.rows + buffered,
      tokens: manifest.tokens + bufferedTokens,
      documentsDone,
      shards,
      complete,
      updatedAt: new Date().toISOString(),
    };
    writeManifest(dir, manifest);
    buffer.length = 0;
    buffered = 0;
    bufferedTokens = 0;
  };

  if (maxTokens !== undefined && manifest.rows >= maxTokens) {
    flush(true);
    return manifest;
  }
  if (signal?.aborted) return manifest;

  let stop: 'limit' | 'abort' | undefined;
  const rows = documentRows(model, documents, { point, contextSize, forwardBatch, excludeBos, skipBelow: manifest.documentsDone });
  for await (let block of rows) {
    if (maxTokens !== undefined) {
      const room = maxTokens - manifest.rows - buffered;
      if (block.rows >= room) {
        if (block.rows > room) block = sliceBlock(block, room);
        stop = 'limit';
      }
    }
    buffer.push(block);
    buffered += block.rows;
    bufferedTokens += block.rows + block.excluded;
    if (block.endsDocument) documentsDone = block.doc + 1;
    opts.onProgress?.(manifest.rows + buffered, maxTokens);
    if (stop) break;
    if (!block.endsDocument) continue;
    if (signal?.aborted) {
      stop = 'abort';
      break;
    }
    if (buffered >= shardRows) flush(false);
  }
  flush(stop !== 'abort');
  return manifest;
}

/** The first `n` rows of a block; it no longer ends its document. */
function sliceBlock(b: RowBlock, n: number): RowBlock {
  const D = b.acts.length / b.rows;
  return {
    ...b,
    rows: n,
    acts: b.acts.slice(0, n * D),
    tokens: b.tokens.slice(0, n),
    pos: b.pos.slice(0, n),
    endsDocument: false,
  };
}

function writeShard(path: string, blocks: readonly RowBlock[], rows: number, dim: number, hook: string): void {
  const acts = new Float32Array(rows * dim);
  const tokens = new Int32Array(rows);
  const doc = new Int32Array(rows);
  const pos = new Int32Array(rows);
  let r = 0;
  for (const b of blocks) {
    acts.set(b.acts, r * dim);
    tokens.set(b.tokens, r);
    doc.fill(b.doc, r, r + b.rows);
    pos.set(b.pos, r);
    r += b.rows;
  }
  writeSafetensors(
    path,
    {
      acts: { shape: [rows, dim], data: acts },
      tokens: { shape: [rows], data: tokens, dtype: 'I32' },
      doc: { shape: [rows], data: doc, dtype: 'I32' },
      pos: { shape: [rows], data: pos, dtype: 'I32' },
    },
    { format: STORE_FORMAT, hook },
  );
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ShardData {
  /** [rows, dim] */
  readonly acts: Float32Array;
  readonly tokens: Int32Array;
  readonly doc: Int32Array;
  readonly pos: Int32Array;
  readonly rows: number;
}

export interface BatchOptions {
  /** Rows per batch; a last partial batch of each epoch is dropped. */
  readonly batchSize: number;
  /** Default 0. */
  readonly seed?: number;
  /** Passes over the store (default 1), each in a fresh shard order. */
  readonly epochs?: number;
  /** Shards' worth of rows mixed at a time (default 4). */
  readonly bufferShards?: number;
  /** Read only these shards (e.g. all but a held-out one); default all. */
  readonly shards?: readonly number[];
}

const INT_TENSORS = ['tokens', 'doc', 'pos'] as const;

export class ActivationStore {
  readonly dir: string;
  readonly manifest: StoreManifest;
  readonly dim: number;
  readonly rows: number;

  private constructor(dir: string, manifest: StoreManifest) {
    this.dir = dir;
    this.manifest = manifest;
    this.dim = manifest.dim;
    this.rows = manifest.rows;
  }

  /** Opens a store (complete or not), checking its manifest and every shard's tensors. */
  static open(dir: string): ActivationStore {
    const manifest = readManifest(dir);
    if (!manifest) throw new ModelFileError(dir, `no ${MANIFEST}: not an activation store`);
    manifest.shards.forEach((s) => {
      const path = join(dir, s.file);
      const f = SafetensorsFile.open(path);
      try {
        const expect = (name: string, dtype: string, shape: readonly number[]): void => {
          const e = f.entries.get(name);
          if (!e) throw new ModelFileError(path, `no tensor "${name}"`);
          if (e.dtype !== dtype || e.shape.join() !== shape.join()) {
            throw new ModelFileError(path, `tensor "${name}" is ${e.dtype} [${e.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}]`);
          }
        };
        expect('acts', 'F32', [s.rows, manifest.dim]);
        for (const name of INT_TENSORS) expect(name, 'I32', [s.rows]);
      } finally {
        f.close();
      }
    });
    return new ActivationStore(dir, manifest);
  }

  get shardCount(): number {
    return this.manifest.shards.length;
  }

  private shardPath(i: number): string {
    if (!Number.isInteger(i) || i < 0 || i >= this.shardCount) {
      throw new InvalidInputError(`shard ${i} does not exist: the store has shards 0..${this.shardCount - 1}`);
    }
    return join(this.dir, this.manifest.shards[i].file);
  }

  readShard(i: number): ShardData {
    const f = SafetensorsFile.open(this.shardPath(i));
    try {
      return { acts: f.readF32('acts'), tokens: f.readI32('tokens'), doc: f.readI32('doc'), pos: f.readI32('pos'), rows: this.manifest.shards[i].rows };
    } finally {
      f.close();
    }
  }

  /** Rows [start, start+count) of shard i's activations, without reading the rest. */
  readRows(i: number, start: number, count: number): Float32Array {
    const f = SafetensorsFile.open(this.shardPath(i));
    try {
      return f.readF32Rows('acts', start, count);
    } finally {
      f.close();
    }
  }

  /**
   * [batchSize, dim] batches of rows shuffled across shards: each epoch visits the shards in
   * a seeded random order, keeps about `bufferShards` shards of rows in a mixing buffer and
   * takes random rows from it. Every row appears at most once per epoch.
   */
  batches(opts: BatchOptions): AsyncGenerator<Float32Array> {
    const { batchSize } = opts;
    const seed = opts.seed ?? 0;
    const epochs = opts.epochs ?? 1;
    const bufferShards = opts.bufferShards ?? 4;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(epochs) || epochs < 1) throw new InvalidInputError(`epochs must be a positive integer, got ${epochs}`);
    if (!Number.isInteger(bufferShards) || bufferShards < 1) throw new InvalidInputError(`bufferShards must be a positive integer, got ${bufferShards}`);
    validateSeed(seed);
    const use = opts.shards ?? Array.from({ length: this.shardCount }, (_, i) => i);
    for (const i of use) {
      if (!Number.isInteger(i) || i < 0 || i >= this.shardCount) throw new InvalidInputError(`shard ${i} does not exist: the store has shards 0..${this.shardCount - 1}`);
    }
    if (use.length === 0) throw new InvalidInputError('no shards to read');
    return this.shuffledBatches(batchSize, seed, epochs, bufferShards, use);
  }

  private async *shuffledBatches(batchSize: number, seed: number, epochs: number, bufferShards: number, use: readonly number[]): AsyncGenerator<Float32Array> {
    const rng = createRng(seed);
    const largest = Math.max(0, ...use.map((i) => this.manifest.shards[i].rows));
    const capacity = bufferShards * largest;
    const pool = new RowPool(this.dim, capacity + batchSize);
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (const j of shuffled(use.length, rng)) {
        const i = use[j];
        const { rows } = this.manifest.shards[i];
        // Make room for the next shard by handing out rows, keeping the pool well mixed.
        while (pool.size + rows > capacity && pool.size >= batchSize) yield pool.take(batchSize, rng);
        pool.add(this.readShard(i).acts);
      }
      while (pool.size >= batchSize) yield pool.take(batchSize, rng);
      pool.clear(); // the epoch's last partial batch is dropped
    }
  }
}

/** 0..n-1 in a seeded random order (Fisher–Yates). */
function shuffled(n: number, rng: ReturnType<typeof createRng>): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Mean L2 norm of up to `rows` rows, taken evenly from the shards (for input scaling). */
export function estimateNorm(store: ActivationStore, rows = 4096): number {
  if (!Number.isInteger(rows) || rows < 1) throw new InvalidInputError(`rows must be a positive integer, got ${rows}`);
  if (store.rows === 0) throw new InvalidInputError(`the store in ${store.dir} has no rows`);
  const D = store.dim;
  const perShard = Math.ceil(rows / store.shardCount);
  let sum = 0;
  let n = 0;
  store.manifest.shards.forEach((s, i) => {
    const take = Math.min(s.rows, perShard, rows - n);
    if (take <= 0) return;
    const acts = store.readRows(i, 0, take);
    for (let r = 0; r < take; r++) {
      let sq = 0;
      for (let d = 0; d < D; d++) sq += acts[r * D + d] ** 2;
      sum += Math.sqrt(sq);
    }
    n += take;
  });
  return sum / n;
}

// ---------------------------------------------------------------------------------------------
// Live source

export interface LiveBatchOptions {
  readonly point: HookPoint;
  /** Tokens per context, BOS included (default 128). */
  readonly contextSize?: number;
  /** Rows per yielded batch. */
  readonly batchSize: number;
  /** Contexts per forward pass (default 16). */
  readonly forwardBatch?: number;
  readonly excludeBos?: boolean;
  /** Rows kept in the mixing buffer (default 16 × batchSize). */
  readonly bufferRows?: number;
  /** Default 0. */
  readonly seed?: number;
}

/**
 * [batchSize, dim] batches straight from the model, for training without a store: the same
 * rows the store would hold, shuffled through a buffer of `bufferRows` rows. A last partial
 * batch is dropped.
 */
export function liveActivationBatches(
  model: HookedModel,
  documents: AsyncIterable<CorpusDocument>,
  opts: LiveBatchOptions,
): AsyncGenerator<Float32Array> {
  const { batchSize, point } = opts;
  const contextSize = opts.contextSize ?? 128;
  const forwardBatch = opts.forwardBatch ?? 16;
  const bufferRows = opts.bufferRows ?? 16 * batchSize;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(bufferRows) || bufferRows < batchSize) throw new InvalidInputError(`bufferRows must be an integer >= batchSize (${batchSize}), got ${bufferRows}`);
  checkRowOptions(model, { point, contextSize, forwardBatch });
  validateSeed(seed);
  const rows = documentRows(model, documents, { point, contextSize, forwardBatch, excludeBos: opts.excludeBos ?? true });
  return mixRows(rows, model.spec.hiddenSize, batchSize, bufferRows, seed);
}

async function* mixRows(blocks: AsyncIterable<RowBlock>, dim: number, batchSize: number, bufferRows: number, seed: number): AsyncGenerator<Float32Array> {
  const rng = createRng(seed);
  const pool = new RowPool(dim, bufferRows + batchSize);
  for await (const b of blocks) {
    pool.add(b.acts);
    while (pool.size >= bufferRows) yield pool.take(batchSize, rng);
  }
  while (pool.size >= batchSize) yield pool.take(batchSize, rng);
}
