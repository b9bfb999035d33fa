/**
 * Writing an activation store: runs the model over a corpus and stores one hook point's
 * activations as safetensors shards plus a manifest (activation-store-manifest.ts), resumably.
 * Reading it back is activation-store.ts.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { hookName, type HookPoint } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import type { HookedModel } from '../runtime/model.js';
import { checkRowOptions, documentRows, type RowBlock } from './activation-rows.js';
import { ActivationStore } from './activation-store.js';
import { MANIFEST, shardFileName, STORE_FORMAT, writeManifest, type StoreManifest } from './activation-store-manifest.js';
import type { CorpusDocument } from './corpus.js';

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
