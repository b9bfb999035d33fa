import { HOOK_SITES, type HookSite } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';

/**
 * Linear probes: per layer, a linear map from one activation row to a class logit (or several,
 * one-vs-rest) or to a scalar. Weights apply to raw activations; the standardisation used while
 * fitting is folded in, so scoring needs nothing but the stored weight and bias.
 */

export type ProbeTask = 'classification' | 'regression';

export interface ProbeMetrics {
  readonly accuracy?: number;
  readonly auroc?: number;
  readonly r2?: number;
  /** Examples the metrics were measured on. */
  readonly n: number;
}

export interface ProbeLayerWeights {
  /** [outputs, hiddenSize] row-major. */
  readonly weight: Float32Array;
  /** [outputs]. */
  readonly bias: Float32Array;
}

/** How a probe was trained (for reports and reproducibility). */
export interface ProbeTraining {
  readonly l2: number;
  readonly folds: number;
  readonly seed: number;
  readonly examples: number;
}

export interface LinearProbe {
  readonly task: ProbeTask;
  readonly site: HookSite;
  /** How a text was reduced to one row when training. */
  readonly positions: 'last' | 'mean';
  /** Classification: class names (binary: [negative, positive]); regression: []. */
  readonly classes: readonly string[];
  /**
   * Per layer: weights [outputs, hiddenSize] and bias [outputs] on RAW activations. Binary
   * classification has outputs = 1 (logit of classes[1]); multiclass (one-vs-rest)
   * outputs = classes.length; regression outputs = 1.
   */
  readonly layers: ReadonlyMap<number, ProbeLayerWeights>;
  readonly hiddenSize: number;
  readonly model?: { readonly name?: string; readonly hiddenSize: number; readonly numLayers: number };
  /** Cross-validated metrics per layer from training, if known. */
  readonly metrics?: ReadonlyMap<number, ProbeMetrics>;
  readonly training?: ProbeTraining;
}

/** Outputs per layer a probe of this task and class count has. */
export function probeOutputs(task: ProbeTask, classCount: number): number {
  return task === 'regression' || classCount === 2 ? 1 : classCount;
}

/** Checks a probe's internal consistency; returns it. Every problem is an InvalidInputError prefixed by `where`. */
export function validateProbe(probe: LinearProbe, where = 'probe'): LinearProbe {
  const fail = (problem: string): never => {
    throw new InvalidInputError(`${where}: ${problem}`);
  };
  if (probe.task !== 'classification' && probe.task !== 'regression') fail(`unknown task ${JSON.stringify(probe.task)}`);
  if (!HOOK_SITES.includes(probe.site)) fail(`unknown hook site ${JSON.stringify(probe.site)}`);
  if (probe.positions !== 'last' && probe.positions !== 'mean') fail(`positions must be 'last' or 'mean', got ${JSON.stringify(probe.positions)}`);
  const D = probe.hiddenSize;
  if (!Number.isInteger(D) || D < 1) fail(`hiddenSize must be a positive integer, got ${D}`);
  if (probe.task === 'classification') {
    if (probe.classes.length < 2) fail(`a classification probe needs at least 2 classes, got ${probe.classes.length}`);
    if (new Set(probe.classes).size !== probe.classes.length) fail('class names must be distinct');
    if (probe.classes.some((c) => typeof c !== 'string' || c === '')) fail('class names must be non-empty strings');
  } else if (probe.classes.length !== 0) {
    fail('a regression probe has no classes');
  }
  if (probe.model && probe.model.hiddenSize !== D) fail(`model hidden size ${probe.model.hiddenSize} differs from the probe's ${D}`);
  if (probe.layers.size === 0) fail('no layers');
  const outputs = probeOutputs(probe.task, probe.classes.length);
  for (const [layer, { weight, bias }] of probe.layers) {
    if (!Number.isInteger(layer) || layer < 0) fail(`invalid layer ${layer}`);
    if (probe.model && layer >= probe.model.numLayers) fail(`layer ${layer} does not exist in a ${probe.model.numLayers}-layer model`);
    if (weight.length !== outputs * D) fail(`layer ${layer}: weight has ${weight.length} values, expected ${outputs} × ${D}`);
    if (bias.length !== outputs) fail(`layer ${layer}: bias has ${bias.length} values, expected ${outputs}`);
    if (!weight.every(Number.isFinite) || !bias.every(Number.isFinite)) fail(`layer ${layer}: non-finite weights`);
  }
  for (const [layer, m] of probe.metrics ?? []) {
    if (!probe.layers.has(layer)) fail(`metrics for layer ${layer}, which has no weights`);
    if (!Number.isInteger(m.n) || m.n < 0) fail(`layer ${layer}: metric n must be a non-negative integer`);
  }
  return probe;
}

function layerOf(probe: LinearProbe, layer: number): ProbeLayerWeights {
  const w = probe.layers.get(layer);
  if (!w) throw new InvalidInputError(`the probe has no layer ${layer} (it has ${[...probe.layers.keys()].join(', ')})`);
  return w;
}

function checkRows(probe: LinearProbe, activations: Float32Array, rows: number): void {
  if (!Number.isInteger(rows) || rows < 0) throw new InvalidInputError(`rows must be a non-negative integer, got ${rows}`);
  if (activations.length !== rows * probe.hiddenSize) {
    throw new InvalidInputError(`activations hold ${activations.length} values, expected ${rows} rows × hidden size ${probe.hiddenSize}`);
  }
}

/** Raw outputs (logits, or the regression value) at `layer`: [rows, outputs] row-major. */
export function probeLogits(probe: LinearProbe, layer: number, activations: Float32Array, rows: number): Float32Array {
  const { weight, bias } = layerOf(probe, layer);
  checkRows(probe, activations, rows);
  const D = probe.hiddenSize;
  const K = bias.length;
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    const off = r * D;
    for (let k = 0; k < K; k++) {
      let s = bias[k];
      const wOff = k * D;
      for (let d = 0; d < D; d++) s += weight[wOff + d] * activations[off + d];
      out[r * K + k] = s;
    }
  }
  return out;
}

/**
 * Scores `rows` activations (row-major [rows, hiddenSize]) at `layer`: binary → logit of the
 * positive class (of classes[0] when that is the target); multiclass → log-probability
 * (log-softmax over the one-vs-rest logits) of `target` (default the last class);
 * regression → the predicted value.
 */
export function probeScores(probe: LinearProbe, layer: number, activations: Float32Array, rows: number, target?: string): Float32Array {
  if (probe.task === 'regression') {
    if (target !== undefined) throw new InvalidInputError(`a regression probe has no classes (got target ${JSON.stringify(target)})`);
    return probeLogits(probe, layer, activations, rows);
  }
  const cls = target === undefined ? probe.classes.length - 1 : probe.classes.indexOf(target);
  if (cls < 0) throw new InvalidInputError(`unknown class ${JSON.stringify(target)}: the probe's classes are ${probe.classes.map((c) => JSON.stringify(c)).join(', ')}`);
  const logits = probeLogits(probe, layer, activations, rows);
  if (probe.classes.length === 2) return cls === 1 ? logits : logits.map((x) => -x);
  const K = probe.classes.length;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[r * K + k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(logits[r * K + k] - max);
    out[r] = logits[r * K + cls] - max - Math.log(sum);
  }
  return out;
}

/** Predicted class index per row (binary: logit > 0; multiclass: largest one-vs-rest logit). */
export function predictClasses(logits: ArrayLike<number>, rows: number, classCount: number): Int32Array {
  const out = new Int32Array(rows);
  if (classCount === 2) {
    for (let r = 0; r < rows; r++) out[r] = logits[r] > 0 ? 1 : 0;
    return out;
  }
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < classCount; k++) if (logits[r * classCount + k] > logits[r * classCount + best]) best = k;
    out[r] = best;
  }
  return out;
}
