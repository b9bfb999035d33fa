import { InvalidInputError } from '../io/errors.js';
import { gramVec, logisticGradient, matrix } from '../linalg/ort-linalg.js';
import type { ExtractionMethod, LayerDiagnostics } from './vector.js';

/**
 * Direction-finding methods over activation rows of one layer. P and N are [rows, D]
 * row-major; the PCA methods need them paired (row i of P with row i of N), diffmean and the
 * probe also take unpaired sets (e.g. every token of each text). Every method returns a direction
 * scaled so that its length is the mean difference projected on it: coefficient 1 then
 * moves an activation from the negative mean to the positive mean along the direction,
 * whatever the method.
 *
 * The iterative parts (power iteration, the probe's gradient) run as small ORT graphs over the
 * [n, D] data (../linalg/ort-linalg.ts); one-pass means and D-sized updates stay in JS.
 */

export interface ProbeOptions {
  /** L2 penalty on standardized weights (default 1e-2). */
  readonly l2?: number;
  readonly iterations?: number;
}

export function meanRow(X: Float32Array, n: number, D: number): Float64Array {
  const m = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) m[d] += X[i * D + d];
  for (let d = 0; d < D; d++) m[d] /= n;
  return m;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>, bOffset = 0): number {
  let s = 0;
  for (let d = 0; d < a.length; d++) s += a[d] * b[bOffset + d];
  return s;
}

function unit(v: Float64Array): Float64Array {
  const n = Math.sqrt(dot(v, v));
  if (n === 0 || !Number.isFinite(n)) throw new InvalidInputError('the two sets have identical activations along every direction: no direction to extract');
  return v.map((x) => x / n);
}

/**
 * First principal component of the rows of X (centred first, as sklearn's PCA does), by power
 * iteration on XᵀX without forming it; each step's two products run in ORT.
 */
export async function firstPrincipalComponent(X: Float64Array, n: number, D: number, iterations = 200): Promise<Float64Array> {
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += X[i * D + d] / n;
  const C = new Float32Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) C[i * D + d] = X[i * D + d] - mean[d];
  // Deterministic start: the row of largest norm (never orthogonal to the top component in practice).
  let best = 0;
  let bestNorm = -1;
  for (let i = 0; i < n; i++) {
    const r = dot(C.subarray(i * D, (i + 1) * D), C, i * D);
    if (r > bestNorm) {
      bestNorm = r;
      best = i;
    }
  }
  if (bestNorm <= 0) throw new InvalidInputError('all differences are identical: PCA has no direction');
  const Ct = matrix(C, n, D);
  let v = unit(Float64Array.from(C.subarray(best * D, (best + 1) * D)));
  for (let it = 0; it < iterations; it++) {
    const nv = unit(Float64Array.from(await gramVec(Ct, Float32Array.from(v))));
    const change = 1 - Math.abs(dot(nv, v));
    v = nv;
    if (change < 1e-10) break;
  }
  return v;
}

/**
 * L2-regularised logistic regression (positives = 1), by Adam. Features are centred and
 * divided by one global scale, not standardized per feature: per-feature scaling would bend
 * the geometry, and the probe would stop finding the separating direction of the original space.
 */
async function logisticDirection(P: Float32Array, N: Float32Array, D: number, opts: ProbeOptions = {}): Promise<Float64Array> {
  const l2 = opts.l2 ?? 1e-2;
  const iterations = opts.iterations ?? 300;
  const n = P.length / D;
  const rows = n + N.length / D;
  const all = new Float32Array(rows * D);
  all.set(P);
  all.set(N, P.length);
  const mu = meanRow(all, rows, D);
  let ss = 0;
  for (let i = 0; i < rows * D; i++) ss += (all[i] - mu[i % D]) ** 2;
  const scale = Math.sqrt(ss / rows) || 1;
  for (let i = 0; i < rows * D; i++) all[i] = (all[i] - mu[i % D]) / scale;
  const Z = matrix(all, rows, D);
  const y = Float32Array.from({ length: rows }, (_, i) => (i < n ? 1 : 0));
  const w = new Float64Array(D);
  let b = 0;
  const m = new Float64Array(D + 1);
  const v = new Float64Array(D + 1);
  const lr = 0.05;
  for (let t = 1; t <= iterations; t++) {
    // The data pass (rows × dim) runs in ORT; the Adam update is a dim-sized vector step.
    const grad = await logisticGradient(Z, y, Float32Array.from(w), b);
    const g = new Float64Array(D + 1);
    for (let d = 0; d < D; d++) g[d] = grad.w[d] + l2 * w[d];
    g[D] = grad.b;
    for (let k = 0; k <= D; k++) {
      m[k] = 0.9 * m[k] + 0.1 * g[k];
      v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
      const step = (lr * (m[k] / (1 - 0.9 ** t))) / (Math.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8);
      if (k < D) w[k] -= step;
      else b -= step;
    }
  }
  // A global scale does not change the direction.
  return w;
}

/** A direction for one layer, scaled to the mean difference projected on it. */
export async function directionFor(method: ExtractionMethod, P: Float32Array, N: Float32Array, D: number, probe?: ProbeOptions): Promise<Float32Array> {
  const n = P.length / D;
  if (n < 1 || N.length < D) throw new InvalidInputError('extraction needs at least one training example on each side');
  const negMean = meanRow(N, N.length / D, D);
  const meanDiff = meanRow(P, n, D).map((x, d) => x - negMean[d]);
  if (method === 'diffmean') return Float32Array.from(meanDiff);
  let u: Float64Array;
  if (method === 'probe') {
    u = unit(await logisticDirection(P, N, D, probe));
  } else {
    if (N.length !== P.length) throw new InvalidInputError(`${method} needs paired examples (read 'last', 'mean' or 'answer', not 'all')`);
    if (n < 2) throw new InvalidInputError(`${method} needs at least two training pairs`);
    const X = new Float64Array((method === 'pca_diff' ? n : 2 * n) * D);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < D; d++) {
        const p = P[i * D + d];
        const q = N[i * D + d];
        if (method === 'pca_diff') X[i * D + d] = p - q;
        else {
          // pca_center: each pair centred on its own midpoint.
          X[i * D + d] = (p - q) / 2;
          X[(n + i) * D + d] = (q - p) / 2;
        }
      }
    }
    u = await firstPrincipalComponent(X, method === 'pca_diff' ? n : 2 * n, D);
    // Sign: positives should project above their negatives for most pairs.
    let above = 0;
    for (let i = 0; i < n; i++) if (dot(u, P, i * D) > dot(u, N, i * D)) above++;
    if (above < n / 2) u = u.map((x) => -x);
  }
  const length = Math.abs(dot(u, meanDiff));
  return Float32Array.from(u, (x) => x * length);
}

/** Separability of held-out data along a direction, and its size relative to activations. */
export function diagnose(
  layer: number,
  direction: Float32Array,
  train: { P: Float32Array; N: Float32Array },
  held: { P: Float32Array; N: Float32Array },
  D: number,
): LayerDiagnostics {
  const len = Math.sqrt(dot(direction, direction));
  const u = len > 0 ? Array.from(direction, (x) => x / len) : Array.from(direction);
  const proj = (X: Float32Array): number[] => Array.from({ length: X.length / D }, (_, i) => dot(u, X, i * D));
  const threshold = (mean(proj(train.P)) + mean(proj(train.N))) / 2;
  const sp = proj(held.P);
  const sn = proj(held.N);
  const some = sp.length > 0 && sn.length > 0;
  const correct = sp.filter((s) => s > threshold).length + sn.filter((s) => s <= threshold).length;
  let norms = 0;
  let rows = 0;
  for (const X of [train.P, train.N]) {
    for (let i = 0; i < X.length / D; i++, rows++) norms += Math.sqrt(dot(X.subarray(i * D, (i + 1) * D), X, i * D));
  }
  const meanNorm = norms / rows;
  return {
    layer,
    accuracy: some ? correct / (sp.length + sn.length) : null,
    auroc: some ? auroc(sp, sn) : null,
    // Zero spread gives a huge but finite ratio (JSON cannot hold Infinity).
    fisher: some ? Math.min((mean(sp) - mean(sn)) ** 2 / (variance(sp) + variance(sn) || Number.EPSILON), 1e12) : null,
    relativeNorm: meanNorm > 0 ? len / meanNorm : null,
    heldOut: sp.length,
  };
}

/** P(score of a random positive > score of a random negative), ties counting half. */
export function auroc(pos: readonly number[], neg: readonly number[]): number {
  let wins = 0;
  for (const p of pos) for (const q of neg) wins += p > q ? 1 : p === q ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}
