import { createHash } from 'node:crypto';
import { InvalidInputError } from '../io/errors.js';
import type { HookSite } from '../graph/hook-points.js';
import { hookName } from '../graph/hook-points.js';
import { collectActivations } from '../runtime/activations.js';
import type { HookedModel } from '../runtime/model.js';
import { kFold } from '../probes/cross-validation.js';
import { VECTOR_FORMAT } from './vector-validation.js';
import type { ConditionMeta, SteeringVector } from './vector.js';

/**
 * Fitting a condition for conditional steering from two prompt sets (`vector condition fit`).
 * Per layer, the condition direction is the difference of the two sets' mean activations (the
 * prompts reduced to their last token or their mean, as the condition will read them), scored
 * as a cosine or a projection, and the threshold is the one with the best F1 on the prompts it
 * was fitted on. How well that generalises is measured by stratified k-fold cross-validation of
 * the whole procedure (direction and threshold fitted on k−1 folds, F1 on the held-out fold,
 * counts pooled over folds); the layer with the best held-out F1 is chosen, and the condition
 * saved is refitted on every prompt.
 */

export interface ConditionFitOptions {
  /** Layers to try (default: every layer). */
  readonly layers?: readonly number[];
  readonly site?: HookSite;
  readonly reduce?: 'last' | 'mean';
  readonly measure?: 'cosine' | 'projection';
  /** Cross-validation folds (default 5, at most the smaller set's size). */
  readonly folds?: number;
  readonly seed?: number;
  /** Where the prompts came from (recorded in the vector's metadata). */
  readonly source?: string;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface LayerFit {
  readonly layer: number;
  /** Held-out (cross-validated) F1, precision, recall and accuracy. */
  readonly f1: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
}

export interface ConditionFit {
  /** The condition vector: the direction at every layer tried, read as meta.condition says. */
  readonly vector: SteeringVector;
  readonly layers: readonly LayerFit[];
  readonly chosen: LayerFit;
}

const MIN_PER_SET = 4;

export async function fitCondition(model: HookedModel, positives: readonly string[], negatives: readonly string[], opts: ConditionFitOptions = {}): Promise<ConditionFit> {
  const { numLayers, hiddenSize: D } = model.spec;
  if (positives.length < MIN_PER_SET || negatives.length < MIN_PER_SET) {
    throw new InvalidInputError(`a condition needs at least ${MIN_PER_SET} prompts per set to fit and cross-validate (got ${positives.length} positive, ${negatives.length} negative)`);
  }
  const layers = [...new Set(opts.layers ?? Array.from({ length: numLayers }, (_, l) => l))].sort((a, b) => a - b);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new InvalidInputError(`layer ${l} does not exist: the model has layers 0..${numLayers - 1}`);
  const site = opts.site ?? 'resid_post';
  const reduce = opts.reduce ?? 'mean';
  const measure = opts.measure ?? 'cosine';
  const folds = Math.min(opts.folds ?? 5, positives.length, negatives.length);
  if (!Number.isInteger(folds) || folds < 2) throw new InvalidInputError(`folds must be an integer of at least 2, got ${opts.folds}`);

  const points = layers.map((layer) => ({ layer, site }));
  const acts = await collectActivations(model, [...positives, ...negatives], { points, positions: reduce, onProgress: opts.onProgress });
  const labels = [...positives.map(() => true), ...negatives.map(() => false)];
  const split = kFold(labels.length, folds, opts.seed ?? 0, labels.map((y) => (y ? 1 : 0)));

  const directions = new Map<number, Float32Array>();
  const fits: LayerFit[] = [];
  let best: { fit: LayerFit; threshold: number } | undefined;
  for (const layer of layers) {
    const rows = acts.tensors.get(hookName({ layer, site }))!;
    const counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    for (const { test } of split) {
      const held = new Set(test);
      const train = labels.map((_, i) => !held.has(i));
      const { unit, threshold } = fitOn(rows, labels, train, D, measure);
      labels.forEach((y, i) => {
        if (train[i]) return;
        const fires = score(rows, i, unit, D, measure) > threshold;
        if (fires && y) counts.tp++;
        else if (fires) counts.fp++;
        else if (y) counts.fn++;
        else counts.tn++;
      });
    }
    const all = fitOn(rows, labels, labels.map(() => true), D, measure);
    directions.set(layer, all.unit);
    const fit = { layer, ...f1Of(counts) };
    fits.push(fit);
    if (!best || fit.f1 > best.fit.f1) best = { fit, threshold: all.threshold };
  }

  const condition: ConditionMeta = {
    layer: best!.fit.layer,
    read: 'prompt',
    reduce,
    measure,
    threshold: best!.threshold,
    compare: 'above',
    fit: { folds, positives: positives.length, negatives: negatives.length, layers: fits },
  };
  const hash = createHash('sha256').update(JSON.stringify([positives, negatives])).digest('hex').slice(0, 16);
  const vector: SteeringVector = {
    directions,
    meta: {
      format: VECTOR_FORMAT,
      model: { name: model.source.name, architecture: model.spec.architecture, hiddenSize: D, numLayers },
      method: 'diffmean',
      site,
      readPosition: reduce,
      dataset: { source: opts.source ?? 'condition prompts', size: positives.length + negatives.length, hash },
      createdAt: new Date().toISOString(),
      description: `condition: positive prompts vs negative prompts, read at layer ${condition.layer} (${measure} of the prompt's ${reduce === 'last' ? 'last token' : 'mean'})`,
      condition,
    },
  };
  return { vector, layers: fits, chosen: best!.fit };
}

/** Unit mean-difference direction and best-F1 threshold on the rows where `use` is true. */
function fitOn(rows: Float32Array, labels: readonly boolean[], use: readonly boolean[], D: number, measure: 'cosine' | 'projection'): { unit: Float32Array; threshold: number } {
  const diff = new Float64Array(D);
  let [np, nn] = [0, 0];
  labels.forEach((y, i) => (use[i] ? (y ? np++ : nn++) : 0));
  labels.forEach((y, i) => {
    if (!use[i]) return;
    const w = y ? 1 / np : -1 / nn;
    for (let d = 0; d < D; d++) diff[d] += w * rows[i * D + d];
  });
  const norm = Math.hypot(...diff);
  if (!(norm > 0)) throw new InvalidInputError('the two prompt sets have the same mean activation: no condition direction separates them');
  const unit = Float32Array.from(diff, (x) => x / norm);
  const scored = labels.map((y, i) => ({ y, s: score(rows, i, unit, D, measure) })).filter((_, i) => use[i]);
  return { unit, threshold: bestF1Threshold(scored) };
}

function score(rows: Float32Array, i: number, unit: Float32Array, D: number, measure: 'cosine' | 'projection'): number {
  let [dot, sq] = [0, 0];
  for (let d = 0; d < D; d++) {
    const x = rows[i * D + d];
    dot += x * unit[d];
    sq += x * x;
  }
  return measure === 'cosine' ? dot / Math.max(Math.sqrt(sq), 1e-12) : dot;
}

/** The threshold t (fires when s > t) with the best F1, among midpoints between neighbouring distinct scores (the lowest on a tie). */
export function bestF1Threshold(scored: readonly { y: boolean; s: number }[]): number {
  const sorted = [...scored].sort((a, b) => a.s - b.s);
  const n = sorted.length;
  const positives = sorted.filter((e) => e.y).length;
  let [bestF1, bestAt] = [-1, sorted[0].s - 1];
  // Counts over indices ≥ i, the ones firing for a threshold just below sorted[i].
  let [tpAbove, firing] = [positives, n];
  for (let i = 0; i <= n; i++) {
    if (i === 0 || i === n || sorted[i].s !== sorted[i - 1].s) {
      const f1 = firing + positives === 0 ? 0 : (2 * tpAbove) / (firing + positives);
      const t = i === 0 ? sorted[0].s - 1 : i === n ? sorted[n - 1].s + 1 : (sorted[i - 1].s + sorted[i].s) / 2;
      if (f1 > bestF1) [bestF1, bestAt] = [f1, t];
    }
    if (i < n) {
      if (sorted[i].y) tpAbove--;
      firing--;
    }
  }
  return bestAt;
}

function f1Of(c: { tp: number; fp: number; fn: number; tn: number }): Omit<LayerFit, 'layer'> {
  const precision = c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
  const accuracy = (c.tp + c.tn) / (c.tp + c.fp + c.fn + c.tn);
  return { f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall), precision, recall, accuracy };
}
