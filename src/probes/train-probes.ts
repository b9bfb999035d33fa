import { checkPoint, hookName, type HookSite } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import { collectActivations } from '../runtime/activations.js';
import type { HookedModel } from '../runtime/model.js';
import { validateSeed } from '../runtime/rng.js';
import { gather, gatherRows, kFold } from './cross-validation.js';
import { DEFAULT_L2, fitLogistic, fitRidge, predictFit, type LinearFit } from './fit.js';
import { accuracy, auroc, macroAuroc, r2 } from './metrics.js';
import { predictClasses, probeLogits, validateProbe, type LinearProbe, type ProbeLayerWeights, type ProbeMetrics, type ProbeTask } from './probe.js';

/**
 * Probes per layer: capture one activation row per text (last token or mean over tokens), then
 * for each layer cross-validate a linear fit (held-out metrics) and refit on all examples.
 */

export interface ProbeExample {
  readonly text: string;
  /** A class name (classification)... */
  readonly label?: string;
  /** ...or a number (regression). */
  readonly value?: number;
}

export interface TrainProbesOptions {
  /** Default: every layer. */
  layers?: readonly number[];
  site?: HookSite;
  positions?: 'last' | 'mean';
  /** Cross-validation folds (default 5; lowered to the smallest class count, or to half the examples for regression). */
  folds?: number;
  /** L2 penalty on standardised weights (default 1). */
  l2?: number;
  seed?: number;
  /** Texts per forward (default 16). */
  batchSize?: number;
  /** Class order (binary: [negative, positive]); default: the labels sorted (numerically when all are numbers). */
  classes?: readonly string[];
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface TrainProbesResult {
  readonly probe: LinearProbe;
  readonly perLayer: readonly { layer: number; metrics: ProbeMetrics }[];
  /** Folds actually used. */
  readonly folds: number;
}

interface Targets {
  readonly task: ProbeTask;
  readonly classes: readonly string[];
  /** Class index per example (classification). */
  readonly labels?: Int32Array;
  /** Value per example (regression). */
  readonly values?: Float64Array;
}

function sortLabels(labels: readonly string[]): string[] {
  const numeric = labels.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return [...labels].sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The task and per-example targets; every inconsistency is an InvalidInputError naming the example. */
function targetsOf(examples: readonly ProbeExample[], classes?: readonly string[]): Targets {
  if (examples.length === 0) throw new InvalidInputError('no examples given');
  examples.forEach((e, i) => {
    if (typeof e.text !== 'string' || e.text === '') throw new InvalidInputError(`example ${i} has no text`);
    if ((e.label === undefined) === (e.value === undefined)) throw new InvalidInputError(`example ${i} needs exactly one of a label (classification) or a value (regression)`);
  });
  const labelled = examples.filter((e) => e.label !== undefined).length;
  if (labelled !== 0 && labelled !== examples.length) throw new InvalidInputError(`${labelled} examples have labels and ${examples.length - labelled} have values: a probe is either a classifier or a regression`);
  if (labelled === 0) {
    const values = Float64Array.from(examples, (e, i) => {
      if (typeof e.value !== 'number' || !Number.isFinite(e.value)) throw new InvalidInputError(`example ${i}: value ${String(e.value)} is not a finite number`);
      return e.value;
    });
    if (values.every((v) => v === values[0])) throw new InvalidInputError(`every value is ${values[0]}: nothing to regress`);
    return { task: 'regression', classes: [], values };
  }
  const present = [...new Set(examples.map((e) => e.label!))];
  const order = classes ? [...classes] : sortLabels(present);
  if (new Set(order).size !== order.length) throw new InvalidInputError('class names must be distinct');
  for (const c of order) if (!present.includes(c)) throw new InvalidInputError(`class "${c}" has no examples`);
  const index = new Map(order.map((c, i) => [c, i]));
  const labels = Int32Array.from(examples, (e, i) => {
    const k = index.get(e.label!);
    if (k === undefined) throw new InvalidInputError(`example ${i}: label "${e.label}" is not one of the classes ${order.join(', ')}`);
    return k;
  });
  if (order.length < 2) throw new InvalidInputError(`only one class ("${order[0]}"): a classifier needs at least 2`);
  return { task: 'classification', classes: order, labels };
}

function checkLayers(model: HookedModel, layers: readonly number[] | undefined, site: HookSite): number[] {
  const all = layers ?? Array.from({ length: model.spec.numLayers }, (_, i) => i);
  if (all.length === 0) throw new InvalidInputError('no layers given');
  for (const layer of all) checkPoint({ layer, site }, model.spec.numLayers);
  return [...new Set(all)].sort((a, b) => a - b);
}

/**
 * One row per example at each layer: [examples, hidden] per layer, in example order. Texts are
 * encoded first (so an overlong one is named) and run shortest first, so batches pad little.
 */
async function activationsAt(
  model: HookedModel,
  examples: readonly ProbeExample[],
  layers: readonly number[],
  site: HookSite,
  positions: 'last' | 'mean',
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<number, Float32Array>> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  const ids = examples.map((e, i) => {
    const t = model.encode(e.text);
    if (t.length === 0) throw new InvalidInputError(`example ${i} encodes to no tokens`);
    if (t.length > model.spec.maxPositions) throw new InvalidInputError(`example ${i} is ${t.length} tokens; the model's context is ${model.spec.maxPositions}`);
    return t;
  });
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length || a - b);
  const collected = await collectActivations(model, order.map((i) => ids[i]), {
    points: layers.map((layer) => ({ layer, site })),
    positions,
    batchSize,
    onProgress,
  });
  const D = model.spec.hiddenSize;
  const out = new Map<number, Float32Array>();
  for (const layer of layers) {
    const sorted = collected.tensors.get(hookName({ layer, site }))!;
    const X = new Float32Array(examples.length * D);
    order.forEach((example, row) => X.set(sorted.subarray(row * D, (row + 1) * D), example * D));
    for (let i = 0; i < X.length; i++) {
      if (!Number.isFinite(X[i])) throw new InvalidInputError(`the activation of example ${Math.floor(i / D)} at ${hookName({ layer, site })} is not finite`);
    }
    out.set(layer, X);
  }
  return out;
}

function fitTargets(X: Float32Array, rows: number, dim: number, t: Targets, idx: readonly number[] | undefined, l2: number): Promise<LinearFit> {
  if (t.task === 'regression') return fitRidge(X, rows, dim, idx ? gather(t.values!, idx) : t.values!, { l2 });
  return fitLogistic(X, rows, dim, idx ? gather(t.labels!, idx) : t.labels!, t.classes.length, { l2 });
}

/** Metrics of outputs [rows, outputs] against the targets of those rows (undefined ones left out). */
function metricsOf(outputs: ArrayLike<number>, t: Targets, idx: readonly number[]): ProbeMetrics {
  const n = idx.length;
  const present = (m: { accuracy?: number; auroc?: number; r2?: number }): ProbeMetrics => {
    const out: { accuracy?: number; auroc?: number; r2?: number; n: number } = { n };
    for (const key of ['accuracy', 'auroc', 'r2'] as const) if (m[key] !== undefined) out[key] = m[key];
    return out;
  };
  if (t.task === 'regression') return present({ r2: r2(outputs, gather(t.values!, idx)) });
  const labels = gather(t.labels!, idx);
  const K = t.classes.length;
  return present({
    accuracy: accuracy(predictClasses(outputs, n, K), labels),
    auroc: K === 2 ? auroc(outputs, Array.from(labels, (l) => l === 1)) : macroAuroc(outputs, labels, K),
  });
}

/** The mean of each metric over folds (as sklearn's cross_val_score); n counts every held-out example. */
function meanMetrics(perFold: readonly ProbeMetrics[]): ProbeMetrics {
  const avg = (key: 'accuracy' | 'auroc' | 'r2'): number | undefined => {
    const xs = perFold.map((m) => m[key]).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const out: { accuracy?: number; auroc?: number; r2?: number; n: number } = { n: perFold.reduce((a, m) => a + m.n, 0) };
  for (const key of ['accuracy', 'auroc', 'r2'] as const) {
    const v = avg(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Folds that keep every test fold meaningful: ≤ the smallest class (classification), ≤ n/2 (regression). */
function effectiveFolds(requested: number, t: Targets, n: number): number {
  if (!Number.isInteger(requested) || requested < 2) throw new InvalidInputError(`folds must be an integer >= 2, got ${requested}`);
  let cap: number;
  if (t.task === 'classification') {
    const counts = new Array<number>(t.classes.length).fill(0);
    for (const l of t.labels!) counts[l]++;
    cap = Math.min(...counts);
    if (cap < 2) throw new InvalidInputError(`class "${t.classes[counts.indexOf(cap)]}" has ${cap} example; cross-validation needs at least 2 per class`);
  } else {
    cap = Math.floor(n / 2);
    if (cap < 2) throw new InvalidInputError(`${n} examples are too few: cross-validated regression needs at least 4`);
  }
  return Math.min(requested, cap);
}

export async function trainProbes(model: HookedModel, examples: readonly ProbeExample[], opts: TrainProbesOptions = {}): Promise<TrainProbesResult> {
  const site = opts.site ?? 'resid_post';
  const positions = opts.positions ?? 'last';
  if (positions !== 'last' && positions !== 'mean') throw new InvalidInputError(`positions must be 'last' or 'mean', got ${String(positions)}`);
  const l2 = opts.l2 ?? DEFAULT_L2;
  if (!Number.isFinite(l2) || l2 < 0) throw new InvalidInputError(`l2 must be a finite number >= 0, got ${l2}`);
  const seed = opts.seed ?? 0;
  validateSeed(seed);
  const t = targetsOf(examples, opts.classes);
  const n = examples.length;
  const folds = effectiveFolds(opts.folds ?? 5, t, n);
  const layers = checkLayers(model, opts.layers, site);
  const D = model.spec.hiddenSize;
  const progress = opts.onProgress;

  const acts = await activationsAt(model, examples, layers, site, positions, opts.batchSize ?? 16, (d, total) => progress?.(d, total, 'activations'));
  const splits = kFold(n, folds, seed, t.task === 'classification' ? t.labels : undefined);
  const weights = new Map<number, ProbeLayerWeights>();
  const metrics = new Map<number, ProbeMetrics>();
  const perLayer: { layer: number; metrics: ProbeMetrics }[] = [];
  const steps = layers.length * (folds + 1);
  let done = 0;
  progress?.(0, steps, 'fitting');
  for (const layer of layers) {
    const X = acts.get(layer)!;
    const perFold: ProbeMetrics[] = [];
    for (const { train, test } of splits) {
      const fit = await fitTargets(gatherRows(X, D, train), train.length, D, t, train, l2);
      perFold.push(metricsOf(await predictFit(fit, gatherRows(X, D, test), test.length), t, test));
      progress?.(++done, steps, 'fitting');
    }
    const m = meanMetrics(perFold);
    const full = await fitTargets(X, n, D, t, undefined, l2);
    progress?.(++done, steps, 'fitting');
    weights.set(layer, { weight: full.weight, bias: full.bias });
    metrics.set(layer, m);
    perLayer.push({ layer, metrics: m });
  }
  const probe = validateProbe({
    task: t.task,
    site,
    positions,
    classes: t.classes,
    layers: weights,
    hiddenSize: D,
    model: { name: model.source.name, hiddenSize: D, numLayers: model.spec.numLayers },
    metrics,
    training: { l2, folds, seed, examples: n },
  });
  return { probe, perLayer, folds };
}

/** Per-layer metrics of a trained probe on new examples (labels must be among the probe's classes). */
export async function evaluateProbe(
  model: HookedModel,
  probe: LinearProbe,
  examples: readonly ProbeExample[],
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ layer: number; metrics: ProbeMetrics }[]> {
  validateProbe(probe);
  if (model.spec.hiddenSize !== probe.hiddenSize) throw new InvalidInputError(`the probe is for hidden size ${probe.hiddenSize}, the model has ${model.spec.hiddenSize}`);
  const layers = checkLayers(model, [...probe.layers.keys()], probe.site);
  if (examples.length === 0) throw new InvalidInputError('no examples given');
  let t: Targets;
  if (probe.task === 'classification') {
    if (examples.some((e) => e.label === undefined)) throw new InvalidInputError('a classification probe is evaluated on labelled examples');
    const index = new Map(probe.classes.map((c, i) => [c, i]));
    const labels = Int32Array.from(examples, (e, i) => {
      const k = index.get(e.label!);
      if (k === undefined) throw new InvalidInputError(`example ${i}: label "${e.label}" is not one of the probe's classes (${probe.classes.join(', ')})`);
      return k;
    });
    t = { task: 'classification', classes: probe.classes, labels };
  } else {
    const values = Float64Array.from(examples, (e, i) => {
      if (typeof e.value !== 'number' || !Number.isFinite(e.value)) throw new InvalidInputError(`example ${i}: a regression probe needs a finite value`);
      return e.value;
    });
    t = { task: 'regression', classes: [], values };
  }
  const acts = await activationsAt(model, examples, layers, probe.site, probe.positions, opts.batchSize ?? 16, opts.onProgress);
  const all = examples.map((_, i) => i);
  return layers.map((layer) => ({ layer, metrics: metricsOf(probeLogits(probe, layer, acts.get(layer)!, examples.length), t, all) }));
}

/**
 * The layer with the best metric: AUROC (threshold-free, less noisy; then accuracy) for
 * classifiers, R² for regression; the earliest layer on ties.
 */
export function bestProbeLayer(perLayer: readonly { layer: number; metrics: ProbeMetrics }[]): number | undefined {
  const key = (m: ProbeMetrics): [number, number] => (m.r2 !== undefined ? [m.r2, 0] : [m.auroc ?? -Infinity, m.accuracy ?? -Infinity]);
  let best: { layer: number; k: [number, number] } | undefined;
  for (const { layer, metrics } of perLayer) {
    const k = key(metrics);
    if (!best || k[0] > best.k[0] || (k[0] === best.k[0] && k[1] > best.k[1])) best = { layer, k };
  }
  return best?.layer;
}
