/**
 * Reading an activation store (activations of one hook point over a corpus, cached on disk for
 * SAE training): opening and checking it, reading shards and rows, and shuffled batches for
 * training. The layout is activation-store-manifest.ts; writing is activation-store-writer.ts.
 */
import { join } from 'node:path';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { RowPool } from './activation-rows.js';
import { MANIFEST, readManifest, type StoreManifest } from './activation-store-manifest.js';

interface ShardData {
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
