/**
 * Rows of activations as searchable data: consecutive chunks for scans (exact search, index
 * building) and single rows by number (re-ranking), from memory or from an activation store,
 * whose rows are numbered across shards in store order.
 */
import { join } from 'node:path';
import { InvalidInputError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import type { ActivationStore } from '../sae/activation-store.js';

interface RowChunk {
  /** Row number of the chunk's first row. */
  readonly start: number;
  /** [rows, dim] */
  readonly data: Float32Array;
}

export interface RowSource {
  readonly rows: number;
  readonly dim: number;
  /** Consecutive chunks of at most `maxRows` rows covering rows 0..rows−1 in order. */
  chunks(maxRows: number): AsyncIterable<RowChunk>;
  /** The given rows, [rows.length, dim], in the order asked. */
  readRows(rows: readonly number[]): Float32Array;
}

function checkMaxRows(maxRows: number): void {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new InvalidInputError(`maxRows must be a positive integer, got ${maxRows}`);
}

function checkRow(r: number, rows: number): void {
  if (!Number.isInteger(r) || r < 0 || r >= rows) throw new InvalidInputError(`row ${r} does not exist: there are rows 0..${rows - 1}`);
}

/** A [rows, dim] matrix in memory. */
export function matrixRows(data: Float32Array, dim: number): RowSource {
  if (!Number.isInteger(dim) || dim < 1 || data.length % dim !== 0) throw new InvalidInputError(`${data.length} values are not whole ${dim}-wide rows`);
  const rows = data.length / dim;
  return {
    rows,
    dim,
    async *chunks(maxRows) {
      checkMaxRows(maxRows);
      for (let s = 0; s < rows; s += maxRows) yield { start: s, data: data.subarray(s * dim, Math.min(rows, s + maxRows) * dim) };
    },
    readRows(list) {
      const out = new Float32Array(list.length * dim);
      list.forEach((r, i) => {
        checkRow(r, rows);
        out.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
      });
      return out;
    },
  };
}

/** The first `limit` rows (default all) of an activation store, read shard by shard. */
export function storeRows(store: ActivationStore, limit = store.rows): RowSource {
  if (!Number.isInteger(limit) || limit < 0 || limit > store.rows) throw new InvalidInputError(`limit must be an integer in 0..${store.rows}, got ${limit}`);
  const dim = store.dim;
  const rows = limit;
  // starts[i]: row number of shard i's first row.
  const starts: number[] = [];
  let acc = 0;
  for (const s of store.manifest.shards) {
    starts.push(acc);
    acc += s.rows;
  }
  const shardOf = (r: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= r) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return {
    rows,
    dim,
    async *chunks(maxRows) {
      checkMaxRows(maxRows);
      for (let i = 0; i < starts.length && starts[i] < rows; i++) {
        const inShard = Math.min(store.manifest.shards[i].rows, rows - starts[i]);
        for (let s = 0; s < inShard; s += maxRows) yield { start: starts[i] + s, data: store.readRows(i, s, Math.min(maxRows, inShard - s)) };
      }
    },
    readRows(list) {
      const out = new Float32Array(list.length * dim);
      // Each shard file is opened once however many of its rows are asked for.
      const byShard = new Map<number, number[]>();
      list.forEach((r, i) => {
        checkRow(r, rows);
        const shard = shardOf(r);
        byShard.set(shard, [...(byShard.get(shard) ?? []), i]);
      });
      for (const [shard, at] of byShard) {
        const f = SafetensorsFile.open(join(store.dir, store.manifest.shards[shard].file));
        try {
          for (const i of at) out.set(f.readF32Rows('acts', list[i] - starts[shard], 1), i * dim);
        } finally {
          f.close();
        }
      }
      return out;
    },
  };
}
