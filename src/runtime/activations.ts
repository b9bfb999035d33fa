import { InvalidInputError } from '../io/errors.js';
import { hookName, type HookPoint } from '../graph/hook-points.js';
import type { Hook } from './hooks.js';
import type { HookedModel } from './model.js';

/** Which token rows to keep per prompt: every token, the last one, or the mean over tokens. */
export type ReadPositions = 'all' | 'last' | 'mean';

interface CollectOptions {
  readonly points: readonly HookPoint[];
  readonly positions?: ReadPositions;
  /** Prompts per forward (default 8). */
  readonly batchSize?: number;
  /** Interventions active while collecting (e.g. steering). */
  readonly hooks?: readonly Hook[];
  readonly onProgress?: (done: number, total: number) => void;
}

interface CollectedActivations {
  /** Per hook name: [rows, hidden] row-major. */
  readonly tensors: ReadonlyMap<string, Float32Array>;
  readonly rows: number;
  /** For each row: [prompt index, token index] (token index -1 for a mean row). */
  readonly rowIndex: readonly (readonly [number, number])[];
  readonly tokenIds: readonly (readonly number[])[];
}

/**
 * Runs prompts through the model in batches, stopping after the last layer needed, and
 * gathers activations at the given hook points.
 */
export async function collectActivations(
  model: HookedModel,
  prompts: readonly (string | readonly number[])[],
  opts: CollectOptions,
): Promise<CollectedActivations> {
  if (prompts.length === 0) throw new InvalidInputError('no prompts given');
  if (opts.points.length === 0) throw new InvalidInputError('no hook points given');
  const mode = opts.positions ?? 'all';
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  const D = model.spec.hiddenSize;
  const tokenIds = prompts.map((p) => (typeof p === 'string' ? model.encode(p) : [...p]));
  tokenIds.forEach((ids, i) => {
    if (ids.length === 0) throw new InvalidInputError(`prompt ${i} is empty`);
  });
  const names = opts.points.map(hookName);
  const chunks = new Map<string, Float32Array[]>(names.map((n) => [n, []]));
  const rowIndex: [number, number][] = [];
  const hooks: Hook[] = [...(opts.hooks ?? []), ...opts.points.map((at): Hook => ({ kind: 'capture', at }))];

  for (let start = 0; start < tokenIds.length; start += batchSize) {
    const batch = tokenIds.slice(start, start + batchSize);
    const out = await model.forward({ tokens: batch, hooks, logits: 'none' });
    for (let b = 0; b < batch.length; b++) {
      const first = out.pad[b];
      const len = batch[b].length;
      const pick = mode === 'all' ? Array.from({ length: len }, (_, i) => i) : mode === 'last' ? [len - 1] : [-1];
      for (const t of pick) rowIndex.push([start + b, t]);
      for (const name of names) {
        const act = out.captures.get(name)!;
        const rowOf = (t: number): Float32Array => act.data.subarray(((b * out.seq) + first + t) * D, ((b * out.seq) + first + t + 1) * D);
        if (mode === 'mean') {
          const mean = new Float32Array(D);
          for (let t = 0; t < len; t++) {
            const r = rowOf(t);
            for (let d = 0; d < D; d++) mean[d] += r[d] / len;
          }
          chunks.get(name)!.push(mean);
        } else {
          for (const t of pick) chunks.get(name)!.push(rowOf(t).slice());
        }
      }
    }
    opts.onProgress?.(Math.min(start + batchSize, tokenIds.length), tokenIds.length);
  }

  const rows = rowIndex.length;
  const tensors = new Map<string, Float32Array>();
  for (const [name, parts] of chunks) {
    const all = new Float32Array(rows * D);
    parts.forEach((p, i) => all.set(p, i * D));
    tensors.set(name, all);
  }
  return { tensors, rows, rowIndex, tokenIds };
}
