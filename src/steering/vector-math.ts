/**
 * Arithmetic on steering vectors, layer by layer. Every function is pure: inputs are left as
 * they are and results are new vectors (meta.method 'combined', a description of the
 * operation, the inputs' model identity, createdAt = now).
 *
 * Layers: a vector is read as having a zero direction at every layer it does not list.
 * So sums (add, subtract, combineWeighted) cover the UNION of the inputs' layers; projectOut
 * keeps v's layers and leaves those `of` lacks unchanged; cosine similarity, undefined for a
 * zero vector, covers only the INTERSECTION. Arithmetic is done in float64, stored as float32.
 *
 * Compatibility: hidden sizes must match; model names and architectures must match unless one
 * is 'unknown' (an imported file that did not say); numLayers must match between vectors with
 * a known model, and otherwise is only a lower bound. Vector-producing operations also need
 * the same hook site; cosine may compare different sites (all live in the residual space).
 *
 * What carries over: readPosition when all inputs agree; means only for operations on one
 * vector that do not change which data it describes (scale, normalize, projectOut), since a
 * sum of directions has no single data set behind it. Diagnostics, dataset and recommendations
 * describe the original extraction and are dropped.
 */
import { InvalidInputError } from '../io/errors.js';
import type { ModelIdentity, SteeringVector, VectorMeta } from './vector.js';
import { validateVector, VECTOR_FORMAT } from './vector-validation.js';

interface WeightedVector {
  readonly vector: SteeringVector;
  readonly weight: number;
}

const UNKNOWN = 'unknown';

function label(v: SteeringVector): string {
  return v.meta.description ?? `${v.meta.method} vector for ${v.meta.model.name}`;
}

function fmt(k: number): string {
  return String(Number(k.toPrecision(6)));
}

/** The one model identity a set of vectors shares, or InvalidInputError saying why there is none. */
function sharedModel(vectors: readonly SteeringVector[]): ModelIdentity {
  const first = vectors[0].meta.model;
  let name = UNKNOWN;
  let architecture = UNKNOWN;
  let knownLayers: number | undefined;
  let maxSeen = 0; // imported vectors only know a lower bound: highest layer + 1
  for (const v of vectors) {
    const m = v.meta.model;
    if (m.hiddenSize !== first.hiddenSize) {
      throw new InvalidInputError(`vectors have different hidden sizes: ${first.hiddenSize} (${first.name}) and ${m.hiddenSize} (${m.name})`);
    }
    if (m.name !== UNKNOWN) {
      if (name !== UNKNOWN && name !== m.name) throw new InvalidInputError(`vectors are for different models: ${name} and ${m.name}`);
      name = m.name;
      if (knownLayers !== undefined && knownLayers !== m.numLayers) {
        throw new InvalidInputError(`vectors for ${m.name} disagree on its layer count: ${knownLayers} and ${m.numLayers}`);
      }
      knownLayers = m.numLayers;
    }
    if (m.architecture !== UNKNOWN) {
      if (architecture !== UNKNOWN && architecture !== m.architecture) {
        throw new InvalidInputError(`vectors are for different architectures: ${architecture} and ${m.architecture}`);
      }
      architecture = m.architecture;
    }
    maxSeen = Math.max(maxSeen, m.numLayers);
  }
  if (knownLayers !== undefined && maxSeen > knownLayers) {
    throw new InvalidInputError(`a vector has directions up to layer ${maxSeen - 1}, but ${name} has layers 0..${knownLayers - 1}`);
  }
  return { name, architecture, hiddenSize: first.hiddenSize, numLayers: knownLayers ?? maxSeen };
}

function sharedSite(vectors: readonly SteeringVector[]): VectorMeta['site'] {
  const site = vectors[0].meta.site;
  for (const v of vectors) {
    if (v.meta.site !== site) throw new InvalidInputError(`vectors are at different hook sites: ${site} and ${v.meta.site}`);
  }
  return site;
}

function check(vectors: readonly SteeringVector[], sameSite: boolean): { model: ModelIdentity; meta: Omit<VectorMeta, 'description'> } {
  for (const v of vectors) validateVector(v);
  const model = sharedModel(vectors);
  const site = sameSite ? sharedSite(vectors) : vectors[0].meta.site;
  const rp = vectors[0].meta.readPosition;
  const agree = rp !== undefined && vectors.every((v) => v.meta.readPosition === rp);
  return {
    model,
    meta: { format: VECTOR_FORMAT, model, method: 'combined', site, ...(agree ? { readPosition: rp } : {}), createdAt: new Date().toISOString() },
  };
}

function sorted(m: Map<number, Float32Array>): Map<number, Float32Array> {
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function norm(a: Float32Array): number {
  return Math.sqrt(dot(a, a));
}

function copyMeans(v: SteeringVector): { means?: ReadonlyMap<number, Float32Array> } {
  return v.means && v.means.size > 0 ? { means: new Map([...v.means].map(([l, m]) => [l, Float32Array.from(m)])) } : {};
}

/** Σ wᵢ·vᵢ over the union of layers (a missing layer counts as zero). */
export function combineWeighted(pairs: readonly WeightedVector[]): SteeringVector {
  return weightedSum(pairs);
}

function weightedSum(pairs: readonly WeightedVector[], description?: string): SteeringVector {
  if (pairs.length === 0) throw new InvalidInputError('combineWeighted needs at least one vector');
  for (const [i, p] of pairs.entries()) {
    if (!Number.isFinite(p.weight)) throw new InvalidInputError(`weight #${i} is ${p.weight}; weights must be finite numbers`);
  }
  const { model, meta } = check(pairs.map((p) => p.vector), true);
  const acc = new Map<number, Float64Array>();
  for (const { vector, weight } of pairs) {
    for (const [layer, d] of vector.directions) {
      let sum = acc.get(layer);
      if (!sum) acc.set(layer, (sum = new Float64Array(model.hiddenSize)));
      for (let i = 0; i < d.length; i++) sum[i] += weight * d[i];
    }
  }
  const directions = sorted(new Map([...acc].map(([l, s]) => [l, Float32Array.from(s)])));
  const text = description ?? `weighted sum: ${pairs.map((p) => `${fmt(p.weight)} × (${label(p.vector)})`).join(' + ')}`;
  return { directions, meta: { ...meta, description: text } };
}

/** a + b over the union of layers. */
export function addVectors(a: SteeringVector, b: SteeringVector): SteeringVector {
  return weightedSum([{ vector: a, weight: 1 }, { vector: b, weight: 1 }], `(${label(a)}) + (${label(b)})`);
}

/** a − b over the union of layers (a layer only b has becomes −b). */
export function subtractVectors(a: SteeringVector, b: SteeringVector): SteeringVector {
  return weightedSum([{ vector: a, weight: 1 }, { vector: b, weight: -1 }], `(${label(a)}) − (${label(b)})`);
}

/** k·v at every layer; means are kept (the data they describe is unchanged). */
export function scaleVector(v: SteeringVector, k: number): SteeringVector {
  if (!Number.isFinite(k)) throw new InvalidInputError(`scale factor must be a finite number, got ${k}`);
  const { meta } = check([v], true);
  const directions = new Map([...v.directions].map(([l, d]) => [l, Float32Array.from(d, (x) => k * x)]));
  return { directions: sorted(directions), ...copyMeans(v), meta: { ...meta, description: `${fmt(k)} × (${label(v)})` } };
}

/**
 * Rescale each layer's direction to norm `target` (1 for 'unit'). A zero direction has no
 * direction to keep, so it is an error rather than a silent zero.
 */
export function normalizeVector(v: SteeringVector, target: 'unit' | number = 'unit'): SteeringVector {
  const size = target === 'unit' ? 1 : target;
  if (typeof size !== 'number' || !Number.isFinite(size) || size <= 0) {
    throw new InvalidInputError(`normalize target must be 'unit' or a positive finite number, got ${String(target)}`);
  }
  const { meta } = check([v], true);
  const directions = new Map<number, Float32Array>();
  for (const [layer, d] of v.directions) {
    const n = norm(d);
    if (n === 0) throw new InvalidInputError(`cannot normalize: the direction at layer ${layer} is zero`);
    directions.set(layer, Float32Array.from(d, (x) => (x / n) * size));
  }
  const what = target === 'unit' ? 'unit norm' : `norm ${fmt(size)}`;
  return { directions: sorted(directions), ...copyMeans(v), meta: { ...meta, description: `(${label(v)}) scaled to ${what} per layer` } };
}

/**
 * Remove from v its component along `of`, per layer: v − (v·u)u with u = of/|of|. Layers of v
 * that `of` lacks (or where its direction is zero) have nothing to remove and are kept as they
 * are; layers only `of` has are not added. Means of v are kept.
 */
export function projectOut(v: SteeringVector, of: SteeringVector): SteeringVector {
  const { meta } = check([v, of], true);
  const directions = new Map<number, Float32Array>();
  for (const [layer, d] of v.directions) {
    const o = of.directions.get(layer);
    const oo = o ? dot(o, o) : 0;
    if (!o || oo === 0) {
      directions.set(layer, Float32Array.from(d));
      continue;
    }
    const k = dot(d, o) / oo;
    directions.set(layer, Float32Array.from(d, (x, i) => x - k * o[i]));
  }
  return { directions: sorted(directions), ...copyMeans(v), meta: { ...meta, description: `(${label(v)}) with (${label(of)}) projected out` } };
}

function cosine(a: Float32Array, b: Float32Array, what: () => string): number {
  const na = norm(a);
  const nb = norm(b);
  if (na === 0 || nb === 0) throw new InvalidInputError(`cosine similarity is undefined for a zero direction (${what()})`);
  // Rounding can push |cos| a hair past 1; clamp so callers can take acos safely.
  return Math.max(-1, Math.min(1, dot(a, b) / (na * nb)));
}

/** Cosine similarity per layer, for the layers both vectors have (ascending). */
export function cosineSimilarity(a: SteeringVector, b: SteeringVector): Map<number, number> {
  check([a, b], false);
  const out = new Map<number, number>();
  for (const layer of [...a.directions.keys()].sort((x, y) => x - y)) {
    const db = b.directions.get(layer);
    if (!db) continue;
    out.set(layer, cosine(a.directions.get(layer)!, db, () => `layer ${layer}`));
  }
  return out;
}

/** Pairwise cosine similarities at one layer; every vector must have a direction there. */
export function cosineMatrix(vectors: readonly SteeringVector[], layer: number): number[][] {
  if (vectors.length === 0) return [];
  check(vectors, false);
  const dirs = vectors.map((v, i) => {
    const d = v.directions.get(layer);
    if (!d) throw new InvalidInputError(`vector #${i} (${label(v)}) has no direction for layer ${layer}`);
    return d;
  });
  const n = dirs.length;
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const c = cosine(dirs[i], dirs[j], () => `layer ${layer}, vectors #${i} and #${j}`);
      out[i][j] = c;
      out[j][i] = c;
    }
  }
  return out;
}
