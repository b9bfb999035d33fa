import { InvalidInputError } from '../io/errors.js';
import type { HookSite } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { ContrastDataset, ContrastExample, ContrastPair } from './datasets.js';
import { splitTrainValidation } from './datasets.js';
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
  readonly seed?: number;
  /** Sequences per forward (default 16). */
  readonly batchSize?: number;
  readonly probe?: ProbeOptions;
  readonly description?: string;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Reduced activations: per layer, one row per example (paired rows share an index). */
export interface ContrastActivations {
  readonly layers: readonly number[];
  readonly dim: number;
  /** layer → positives [n, D] */
  readonly positive: ReadonlyMap<number, Float32Array>;
  readonly negative: ReadonlyMap<number, Float32Array>;
  readonly count: number;
}

/**
 * Runs every example once through the model, all requested layers captured in the same
 * forward (which stops after the deepest one), and keeps only the read position of each.
 * Examples are batched by length so padding wastes little.
 */
export async function collectContrastActivations(
  model: HookedModel,
  pairs: readonly ContrastPair[],
  opts: { layers: readonly number[]; site: HookSite; read: ReadPosition; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<ContrastActivations> {
  if (opts.read === 'all') throw new InvalidInputError("read position 'all' keeps every token and breaks pairing: use 'last', 'answer' or 'mean'");
  const D = model.spec.hiddenSize;
  const examples: ContrastExample[] = pairs.flatMap((p) => [p.positive, p.negative]);
  const rows = new Map(opts.layers.map((l) => [l, new Float32Array(examples.length * D)]));
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
        const e = examples[ex];
        const rowAt = (t: number): number => (b * out.seq + out.pad[b] + t) * D;
        const dst = ex * D;
        if (opts.read === 'mean') {
          const from = Math.min(e.completionStart, e.ids.length - 1);
          const count = e.ids.length - from;
          for (let t = from; t < e.ids.length; t++) {
            const o = rowAt(t);
            for (let d = 0; d < D; d++) target[dst + d] += act[o + d] / count;
          }
        } else {
          const t = opts.read === 'answer' ? e.answerIndex : e.ids.length - 1;
          target.set(act.subarray(rowAt(t), rowAt(t) + D), dst);
        }
      });
    }
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }

  const n = pairs.length;
  const positive = new Map<number, Float32Array>();
  const negative = new Map<number, Float32Array>();
  for (const [layer, all] of rows) {
    const P = new Float32Array(n * D);
    const N = new Float32Array(n * D);
    for (let i = 0; i < n; i++) {
      P.set(all.subarray(2 * i * D, (2 * i + 1) * D), i * D);
      N.set(all.subarray((2 * i + 1) * D, (2 * i + 2) * D), i * D);
    }
    positive.set(layer, P);
    negative.set(layer, N);
  }
  return { layers: opts.layers, dim: D, positive, negative, count: n };
}

/** Picks rows [indices] of an [n, D] matrix. */
function pick(X: Float32Array, indices: readonly number[], D: number): Float32Array {
  const out = new Float32Array(indices.length * D);
  indices.forEach((i, k) => out.set(X.subarray(i * D, (i + 1) * D), k * D));
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
  const layers = opts.layers ?? Array.from({ length: spec.numLayers }, (_, l) => l);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= spec.numLayers) throw new InvalidInputError(`layer ${l} does not exist: the model has layers 0..${spec.numLayers - 1}`);
  }
  if (dataset.pairs.length === 0) throw new InvalidInputError(`${dataset.source}: no contrastive pairs`);
  const { train, validation } = splitTrainValidation(dataset.pairs, opts.validationFraction ?? 0.2, opts.seed ?? 0);
  const acts = await collectContrastActivations(model, [...train, ...validation], { layers, site, read, batchSize: opts.batchSize, onProgress: opts.onProgress });

  const D = spec.hiddenSize;
  const trainIdx = train.map((_, i) => i);
  const valIdx = validation.map((_, i) => train.length + i);
  const directions = new Map<number, Float32Array>();
  const means = new Map<number, Float32Array>();
  const diagnostics: LayerDiagnostics[] = [];
  for (const layer of layers) {
    const Pt = pick(acts.positive.get(layer)!, trainIdx, D);
    const Nt = pick(acts.negative.get(layer)!, trainIdx, D);
    const dir = directionFor(method, Pt, Nt, train.length, D, opts.probe);
    directions.set(layer, dir);
    const both = new Float32Array(2 * train.length * D);
    both.set(Pt);
    both.set(Nt, Pt.length);
    means.set(layer, Float32Array.from(meanRow(both, 2 * train.length, D)));
    diagnostics.push(
      diagnose(
        layer,
        dir,
        { P: Pt, N: Nt, n: train.length },
        { P: pick(acts.positive.get(layer)!, valIdx, D), N: pick(acts.negative.get(layer)!, valIdx, D), n: validation.length },
        D,
      ),
    );
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
      dataset: { source: dataset.source, size: dataset.pairs.length, hash: dataset.hash },
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
