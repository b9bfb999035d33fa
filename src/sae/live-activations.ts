/**
 * Training batches straight from the model instead of from an activation store: the same rows
 * the store would hold (activation-rows.ts), shuffled through a mixing buffer.
 */
import type { HookPoint } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { checkRowOptions, documentRows, RowPool, type RowBlock } from './activation-rows.js';
import type { CorpusDocument } from './corpus.js';

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
