/**
 * Documents → activation rows at one hook point: the tokenisation and capture path shared by
 * the on-disk activation store and the live (no disk) training source, so both see exactly
 * the same rows.
 */
import { checkPoint, hookName, type HookPoint } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { Xoshiro128StarStar } from '../runtime/rng.js';
import type { CorpusDocument } from './corpus.js';

interface RowOptions {
  readonly point: HookPoint;
  /** Tokens per context, BOS included. */
  readonly contextSize: number;
  /** Contexts per forward pass. */
  readonly forwardBatch: number;
  /** Drop the BOS row of every context. */
  readonly excludeBos: boolean;
  /** Documents with a smaller index are skipped untokenized (resume). */
  readonly skipBelow?: number;
}

/** Consecutive rows of one context of one document. */
export interface RowBlock {
  readonly doc: number;
  readonly rows: number;
  /** [rows, dim] */
  readonly acts: Float32Array;
  readonly tokens: Int32Array;
  /** Position of each row's token in the document's token list (BOS rows: 0). */
  readonly pos: Int32Array;
  /** BOS rows of this context left out (0 or 1). */
  readonly excluded: number;
  /** The document's last context: every row of `doc` has now been yielded. */
  readonly endsDocument: boolean;
}

interface Context {
  readonly doc: number;
  readonly ids: readonly number[];
  /** Document position of ids[bos ? 1 : 0]. */
  readonly firstPos: number;
  readonly bos: boolean;
  readonly last: boolean;
}

/** Whether `model.encode` puts a BOS token in front of every document. */
export function usesBos(model: HookedModel): boolean {
  return model.spec.addBos && model.spec.bosTokenId !== undefined;
}

/** Checks the options every row source shares; throws InvalidInputError naming the bad one. */
export function checkRowOptions(model: HookedModel, opts: { point: HookPoint; contextSize: number; forwardBatch: number }): void {
  checkPoint(opts.point, model.spec.numLayers);
  const { contextSize, forwardBatch } = opts;
  const min = usesBos(model) ? 2 : 1;
  if (!Number.isInteger(contextSize) || contextSize < min) throw new InvalidInputError(`contextSize must be an integer >= ${min}, got ${contextSize}`);
  const maxPositions = model.spec.maxPositions;
  if (maxPositions > 0 && contextSize > maxPositions) {
    throw new InvalidInputError(`contextSize ${contextSize} exceeds the model's context of ${maxPositions} tokens`);
  }
  if (!Number.isInteger(forwardBatch) || forwardBatch < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${forwardBatch}`);
}

/**
 * Splits a document's tokens into contexts of at most `contextSize`. With a BOS model every
 * context after the first starts with BOS again, so each one looks like a document start to
 * the model (as SAELens and sparsify do) rather than a mid-document cut with no anchor.
 */
function splitContexts(ids: readonly number[], doc: number, contextSize: number, bos: boolean): Context[] {
  const content = bos ? ids.slice(1) : ids;
  const step = bos ? contextSize - 1 : contextSize;
  const prefix = bos ? [ids[0]] : [];
  const out: Context[] = [];
  for (let s = 0; s < content.length; s += step) {
    out.push({
      doc,
      ids: [...prefix, ...content.slice(s, s + step)],
      firstPos: s + (bos ? 1 : 0),
      bos,
      last: s + step >= content.length,
    });
  }
  return out;
}

/**
 * Streams a document's rows in order, one block per context, running `forwardBatch` contexts
 * (possibly from several documents, left-padded) per forward pass that stops at the point.
 * Document indices must increase.
 */
export async function* documentRows(model: HookedModel, documents: AsyncIterable<CorpusDocument>, opts: RowOptions): AsyncGenerator<RowBlock> {
  checkRowOptions(model, opts);
  const bos = usesBos(model);
  const pending: Context[] = [];
  let previous = -1;
  for await (const d of documents) {
    if (!Number.isInteger(d.index) || d.index <= previous) {
      throw new InvalidInputError(`document indices must increase: got ${d.index} after ${previous}`);
    }
    previous = d.index;
    if (opts.skipBelow !== undefined && d.index < opts.skipBelow) continue;
    pending.push(...splitContexts(model.encode(d.text), d.index, opts.contextSize, bos));
    while (pending.length >= opts.forwardBatch) yield* capture(model, pending.splice(0, opts.forwardBatch), opts);
  }
  if (pending.length > 0) yield* capture(model, pending, opts);
}

async function* capture(model: HookedModel, contexts: readonly Context[], opts: RowOptions): AsyncGenerator<RowBlock> {
  const D = model.spec.hiddenSize;
  const hooks: Hook[] = [{ kind: 'capture', at: opts.point }];
  const out = await model.forward({ tokens: contexts.map((c) => c.ids), hooks, logits: 'none' });
  const act = out.captures.get(hookName(opts.point))!;
  for (let b = 0; b < contexts.length; b++) {
    const c = contexts[b];
    const skip = c.bos && opts.excludeBos ? 1 : 0;
    const rows = c.ids.length - skip;
    // Row j of the context sits after the row's left padding.
    const from = (b * out.seq + out.pad[b] + skip) * D;
    const tokens = Int32Array.from(c.ids.slice(skip));
    const pos = Int32Array.from({ length: rows }, (_, j) => {
      const k = j + skip; // index within the context
      return c.bos ? (k === 0 ? 0 : c.firstPos + k - 1) : c.firstPos + k;
    });
    yield { doc: c.doc, rows, acts: act.data.slice(from, from + rows * D), tokens, pos, excluded: skip, endsDocument: c.last };
  }
}

/**
 * A mixing buffer of rows: add blocks, take uniformly random rows out (swap-remove),
 * so batches mix rows from everything buffered.
 */
export class RowPool {
  readonly dim: number;
  private data: Float32Array;
  private count = 0;

  constructor(dim: number, capacityRows: number) {
    this.dim = dim;
    this.data = new Float32Array(Math.max(1, capacityRows) * dim);
  }

  get size(): number {
    return this.count;
  }

  add(rows: Float32Array): void {
    const D = this.dim;
    const need = (this.count * D) + rows.length;
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.count * D));
      this.data = grown;
    }
    this.data.set(rows, this.count * D);
    this.count += rows.length / D;
  }

  clear(): void {
    this.count = 0;
  }

  /** `n` random rows as [n, dim], removed from the pool. */
  take(n: number, rng: Xoshiro128StarStar): Float32Array {
    if (n > this.count) throw new RangeError(`pool holds ${this.count} rows, ${n} asked`);
    const D = this.dim;
    const out = new Float32Array(n * D);
    for (let k = 0; k < n; k++) {
      const j = Math.floor(rng.nextFloat() * this.count);
      out.set(this.data.subarray(j * D, (j + 1) * D), k * D);
      this.count--;
      if (j !== this.count) this.data.copyWithin(j * D, this.count * D, (this.count + 1) * D);
    }
    return out;
  }
}
