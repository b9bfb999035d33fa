import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { ActivationStore } from '../../src/sae/activation-store.js';
import { shardFileName, STORE_FORMAT, writeManifest } from '../../src/sae/activation-store-manifest.js';

export interface HandStoreOptions {
  /** Rows per shard (default: all in one). */
  readonly shardRows?: number;
  /** Rows per document (default 50): row r is document ⌊r / docRows⌋ at position r mod docRows + 1. */
  readonly docRows?: number;
  /** The model the rows claim to come from (default a 2-layer "random" model of the rows' width). */
  readonly model?: { readonly name: string; readonly hiddenSize: number; readonly numLayers: number };
  /** Token id of row r (default r mod 97). */
  readonly token?: (row: number) => number;
}

/** An activation store of blocks.1.hook_resid_post rows written by hand: [rows, dim] `data`, in shards. */
export function writeHandStore(dir: string, data: Float32Array, dim: number, opts: HandStoreOptions = {}): ActivationStore {
  fs.mkdirSync(dir, { recursive: true });
  const rows = data.length / dim;
  const shardRows = opts.shardRows ?? rows;
  const docRows = opts.docRows ?? 50;
  const token = opts.token ?? ((r: number) => r % 97);
  const shards: { file: string; rows: number }[] = [];
  for (let s = 0; s * shardRows < rows; s++) {
    const n = Math.min(shardRows, rows - s * shardRows);
    const at = (i: number): number => s * shardRows + i;
    const file = shardFileName(s);
    writeSafetensors(path.join(dir, file), {
      acts: { shape: [n, dim], data: data.slice(at(0) * dim, at(n) * dim) },
      tokens: { shape: [n], data: Int32Array.from({ length: n }, (_, i) => token(at(i))), dtype: 'I32' },
      doc: { shape: [n], data: Int32Array.from({ length: n }, (_, i) => Math.floor(at(i) / docRows)), dtype: 'I32' },
      pos: { shape: [n], data: Int32Array.from({ length: n }, (_, i) => (at(i) % docRows) + 1), dtype: 'I32' },
    });
    shards.push({ file, rows: n });
  }
  const now = new Date().toISOString();
  writeManifest(dir, {
    format: STORE_FORMAT,
    model: opts.model ?? { name: 'random', hiddenSize: dim, numLayers: 2 },
    hook: 'blocks.1.hook_resid_post',
    point: { layer: 1, site: 'resid_post' },
    dim,
    contextSize: 64,
    excludeBos: true,
    rows,
    tokens: rows,
    documentsDone: Math.ceil(rows / docRows),
    shards,
    complete: true,
    createdAt: now,
    updatedAt: now,
  });
  return ActivationStore.open(dir);
}
