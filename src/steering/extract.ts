import { InvalidInputError } from '../io/errors.js';
import type { HookSite } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { ContrastDataset, ContrastExample, ContrastPair } from './contrast-dataset.js';
import { splitTrainValidation } from './train-validation-split.js';
import { diagnose, directionFor, meanRow, type ProbeOptions } from './directions.js';
import type { ExtractionMethod, LayerDiagnostics, ReadPosition, SteeringVector } from './vector.js';

export interface ExtractOptions {
  readonly method?: ExtractionMethod;
  /** Layers to extract (default: all). */
  readonly layers?: readonly number[];
  readonly site?: HookSite;
  readonly read?: ReadPosition;
  /** Share of pairs held out for diagnostics (default 0.2). */
  readonly validationFraction?: number;
  /** Held-out pairs given explicitly (then every dataset pair trains and no split is drawn). */
  readonly heldOut?: readonly ContrastPair[];
  readonly seed?: number;
  /** Sequences per forward (default 16). */
  readonly batchSize?: number;
  readonly probe?: ProbeOptions;
  readonly description?: string;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Reduced activations, per layer: positive and negative rows [rows, D]. With paired reads
 * (last/answer/mean) row i of each side belongs to pair i; with 'all' every completion token
 * is a row and `owner` says which pair each row came from.
 */
interface ContrastActivations {
  readonly layers: readonly number[];
  readonly dim: number;
  readonly positive: ReadonlyMap<number, Float32Array>;
  readonly negative: ReadonlyMap<number, Float32Array>;
  readonly positiveOwner: Int32Array;
  readonly negativeOwner: Int32Array;
}

/** Token positions an example contributes under a read mode. */
function readTokens(e: ContrastExample, read: ReadPosition): number[] {
  if (read === 'last') return [e.ids.length - 1];
  if (read === 'answer') return [e.answerIndex];
  const from = Math.min(e.completionStart, e.ids.length - 1);
  return Array.from({ length: e.ids.length - from }, (_, i) => from + i);
}

/**
 * Runs every example once through the model, all requested layers captured in the same
 * forward (which stops after the deepest one), and keeps only the read positions of each.
 * Examples are batched by length so padding wastes little.
 */
async function collectContrastActivations(
  model: HookedModel,
  pairs: readonly ContrastPair[],
  opts: { layers: readonly number[]; site: HookSite; read: ReadPosition; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<ContrastActivations> {
  const D = model.spec.hiddenSize;
  const examples: ContrastExample[] = pairs.flatMap((p) => [p.positive, p.negative]);
  // Row layout: example k's rows start at rowStart[k] (one row unless read is 'all').
  const rowsOf = examples.map((e) => (opts.read === 'all' ? readTokens(e, 'all').length : 1));
  const rowStart: number[] = [];
  let total = 0;
  for (const r of rowsOf) {
    rowStart.push(total);
    total += r;
  }
  const rows = new Map(opts.layers.map((l) => [l, new Float32Array(total * D)]));
  const order = examples.map((_, i) => i).sort((a, b) => examples[a].ids.length - examples[b].ids.length);
  const batchSize = opts.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  const hooks: Hook[] = opts.layers.map((layer) => ({ kind: 'capture', at: { layer, site: opts.site } }));

  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const out = await model.forward({ tokens: idx.map((i) => examples[i].ids), hooks, logits: 'none' });
    for (const layer of opts.layers) {
      const act = out.captures.get(`blocks.${layer}.hook_${opts.site}`)!.data;
      const target = rows.get(layer)!;
      idx.forEach((ex, b) => {
        const at = (t: number): number => (b * out.seq + out.pad[b] + t) * D;
        const tokens = readTokens(examples[ex], opts.read);
        const dst = rowStart[ex] * D;
        if (opts.read === 'mean') {
          for (const t of tokens) for (let d = 0; d < D; d++) target[dst + d] += act[at(t) + d] / tokens.length;
        } else {
          tokens.forEach((t, k) => target.set(act.subarray(at(t), at(t) + D), dst + k * D));
        }
      });
    }
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }

  // Split the interleaved examples (pair i → examples 2i, 2i+1) into the two sides.
  const side = (parity: 0 | 1): { owner: Int32Array; take: (all: Float32Array) => Float32Array } => {
    const owner: number[] = [];
    const spans: [number, number][] = [];
    for (let i = 0; i < pairs.length; i++) {
      const k = 2 * i + parity;
      for (let r = 0; r < rowsOf[k]; r++) owner.push(i);
      spans.push([rowStart[k], rowsOf[k]]);
    }
    return {
      owner: Int32Array.from(owner),
      take: (all) => {
        const out = new Float32Array(owner.length * D);
        let o = 0;
        for (const [from, n] of spans) {
          out.set(all.subarray(from * D, (from + n) * D), o * D);
          o += n;
        }
        return out;
      },
    };
  };
  const pos = side(0);
  const neg = side(1);
  return {
    layers: opts.layers,
    dim: D,
    positive: new Map([...rows].map(([l, all]) => [l, pos.take(all)])),
    negative: new Map([...rows].map(([l, all]) => [l, neg.take(all)])),
    positiveOwner: pos.owner,
    negativeOwner: neg.owner,
  };
}

/** Rows of X [rows, D] whose owner pair is in `pairs`. */
function rowsOwnedBy(X: Float32Array, owner: Int32Array, pairs: ReadonlySet<number>, D: number): Float32Array {
  const keep: number[] = [];
  owner.forEach((o, i) => {
    if (pairs.has(o)) keep.push(i);
  });
  const out = new Float32Array(keep.length * D);
  keep.forEach((i, k) => out.set(X.subarray(i * D, (i + 1) * D), k * D));
  return out;
}

/**
 * Extracts a steering vector from contrastive data: one forward sweep, then per layer the
 * chosen method on the training pairs and diagnostics on the held-out pairs.
 */
export async function extractVector(model: HookedModel, dataset: ContrastDataset, opts: ExtractOptions = {}): Promise<SteeringVector> {
  const { spec } = model;
  const method = opts.method ?? 'diffmean';
  const site = opts.site ?? 'resid_post';
  const read = opts.read ?? 'last';
  if (read === 'all' && (method === 'pca_diff' || method === 'pca_center')) {
    throw new InvalidInputError(`${method} needs paired reads: use read 'last', 'mean' or 'answer' (or method diffmean/probe with 'all')`);
  }
  const layers = opts.layers ?? Array.from({ length: spec.numLayers }, (_, l) => l);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= spec.numLayers) throw new InvalidInputError(`layer ${l} does not exist: the model has layers 0..${spec.numLayers - 1}`);
  }
  if (dataset.pairs.length === 0) throw new InvalidInputError(`${dataset.source}: no contrastive pairs`);
  const { train, validation } = opts.heldOut
    ? { train: [...dataset.pairs], validation: [...opts.heldOut] }
    : splitTrainValidation(dataset.pairs, opts.validationFraction ?? 0.2, opts.seed ?? 0);
  const acts = await collectContrastActivations(model, [...train, ...validation], { layers, site, read, batchSize: opts.batchSize, onProgress: opts.onProgress });

  const D = spec.hiddenSize;
  const trainSet = new Set(train.map((_, i) => i));
  const valSet = new Set(validation.map((_, i) => train.length + i));
  const directions = new Map<number, Float32Array>();
  const means = new Map<number, Float32Array>();
  const diagnostics: LayerDiagnostics[] = [];
  for (const layer of layers) {
    const part = (set: ReadonlySet<number>): { P: Float32Array; N: Float32Array } => ({
      P: rowsOwnedBy(acts.positive.get(layer)!, acts.positiveOwner, set, D),
      N: rowsOwnedBy(acts.negative.get(layer)!, acts.negativeOwner, set, D),
    });
    const t = part(trainSet);
    const dir = await directionFor(method, t.P, t.N, D, opts.probe);
    directions.set(layer, dir);
    const both = new Float32Array(t.P.length + t.N.length);
    both.set(t.P);
    both.set(t.N, t.P.length);
    means.set(layer, Float32Array.from(meanRow(both, both.length / D, D)));
    diagnostics.push(diagnose(layer, dir, t, part(valSet), D));
  }

  return {
    directions,
    means,
    meta: {
      format: 'steerer.vector/v1',
      model: { name: model.source.name, architecture: spec.architecture, hiddenSize: D, numLayers: spec.numLayers },
      method,
      site,
      readPosition: read,
      dataset: { source: dataset.source, size: dataset.pairs.length + (opts.heldOut?.length ?? 0), hash: dataset.hash },
      diagnostics,
      recommended: { layers: [bestLayer(diagnostics)] },
      createdAt: new Date().toISOString(),
      description: opts.description,
    },
  };
}

/** The layer whose held-out separation is best (AUROC, then Fisher ratio). */
export function bestLayer(diagnostics: readonly LayerDiagnostics[]): number {
  const score = (d: LayerDiagnostics): [number, number] => [d.auroc ?? 0, d.fisher ?? 0];
  return [...diagnostics].sort((a, b) => {
    const [aa, af] = score(a);
    const [ba, bf] = score(b);
    return ba - aa || bf - af;
  })[0].layer;
}
