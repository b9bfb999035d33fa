import type * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import { solveLu, solveSpd } from './linear-solve.js';
import { newtonDual, newtonPrimal, type NewtonResult } from './logistic-newton.js';
import { columnMoments, crossProduct, crossProduct64, designMatrix, gramMatrix, kernelMatrix, linearScores } from './probe-graphs.js';

/**
 * Linear probe fitting on standardised features, with the standardisation folded back into
 * raw-space weights:
 *
 *   ridge    min ‖Zw + b − y‖² + λ‖w‖²                     closed form
 *   logistic min Σ log(1 + e^{−ỹ(Zw + b)}) + (λ/2)‖w‖²     Newton/IRLS with a backtracking line search
 *
 * Primal: (d+1)² systems, ZᵀZ / ZᵀSZ from ORT, Cholesky in JS. Dual (when n ≪ d, e.g. a few hundred
 * texts on a 2048-wide model): w = Xᵀα, the kernel XXᵀ from ORT once, (n+1)² solves in JS.
 *
 * Z = (X − mean) / std per column (population std from the training rows; constant columns keep
 * std 1, so they stay zero and the penalty pins their weight at 0). The intercept is never
 * penalised. λ defaults to 1 for both (sklearn's C = 1 for logistic).
 */

export interface FitOptions {
  /** L2 penalty λ on the standardised weights (default 1). */
  readonly l2?: number;
  /** Newton iterations at most (logistic, default 25). */
  readonly maxIterations?: number;
  /** Linear algebra: (d+1)² systems, n² systems, or whichever is cheaper (default). */
  readonly solver?: Solver;
}

export type Solver = 'auto' | 'primal' | 'dual';

interface Standardization {
  readonly mean: Float64Array;
  /** Guarded: 1 where a column is constant. */
  readonly std: Float64Array;
}

export interface LinearFit {
  readonly outputs: number;
  /** Raw-space weights [outputs, dim] and bias [outputs]: score = x·w + b on unstandardised x. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly standardization: Standardization;
  /** The same model in standardised space, where the penalty applies: [outputs, dim] and [outputs]. */
  readonly standardized: { readonly weight: Float64Array; readonly bias: Float64Array };
  /** Logistic only: Newton iterations per output, and whether every output converged. */
  readonly iterations?: readonly number[];
  readonly converged?: boolean;
}

export const DEFAULT_L2 = 1;
const DEFAULT_MAX_ITERATIONS = 25;

function checkProblem(X: Float32Array, rows: number, dim: number, targets: ArrayLike<number>, opts: FitOptions): number {
  if (!Number.isInteger(rows) || rows < 2) throw new InvalidInputError(`fitting needs at least 2 examples, got ${rows}`);
  if (!Number.isInteger(dim) || dim < 1) throw new InvalidInputError(`dimension must be a positive integer, got ${dim}`);
  if (X.length !== rows * dim) throw new InvalidInputError(`data holds ${X.length} values, expected ${rows} × ${dim}`);
  if (targets.length !== rows) throw new InvalidInputError(`${targets.length} targets for ${rows} examples`);
  for (let i = 0; i < X.length; i++) {
    if (!Number.isFinite(X[i])) throw new InvalidInputError(`activation row ${Math.floor(i / dim)} has a non-finite value (${X[i]})`);
  }
  for (let i = 0; i < rows; i++) if (!Number.isFinite(targets[i])) throw new InvalidInputError(`target ${i} is not a finite number (${targets[i]})`);
  const l2 = opts.l2 ?? DEFAULT_L2;
  if (!Number.isFinite(l2) || l2 < 0) throw new InvalidInputError(`l2 must be a finite number >= 0, got ${l2}`);
  const it = opts.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  if (!Number.isInteger(it) || it < 1) throw new InvalidInputError(`maxIterations must be a positive integer, got ${it}`);
  return l2;
}

/** Column means and guarded standard deviations of the training rows. */
async function standardization(X: Float32Array, rows: number, dim: number): Promise<Standardization> {
  const { mean, variance } = await columnMoments(X, rows, dim);
  const std = new Float64Array(dim);
  for (let d = 0; d < dim; d++) {
    const s = Math.sqrt(Math.max(variance[d], 0));
    // Float32 rounding leaves a constant column with a variance of a few ulps of its mean², not 0.
    std[d] = s > Math.max(1e-6 * Math.abs(mean[d]), 1e-30) ? s : 1;
  }
  return { mean: Float64Array.from(mean), std };
}

/** The float32 scale the design matrix multiplies by; folding back uses the very same numbers. */
const inverseStd = (s: Standardization): Float32Array => Float32Array.from(s.std, (v) => 1 / v);

/** The standardised design matrix [X_std, 1] of rows under a (training) standardisation. */
function design(X: Float32Array, rows: number, dim: number, s: Standardization): Promise<ort.Tensor> {
  return designMatrix(X, rows, dim, Float32Array.from(s.mean), inverseStd(s));
}

/** Raw-space weights from standardised ones: w_raw = w / std, b_raw = b − Σ w·mean / std. */
function foldBack(s: Standardization, stdWeight: Float64Array, stdBias: Float64Array, outputs: number, dim: number): { weight: Float32Array; bias: Float32Array } {
  const weight = new Float32Array(outputs * dim);
  const bias = new Float32Array(outputs);
  const inv = inverseStd(s);
  for (let o = 0; o < outputs; o++) {
    let b = stdBias[o];
    for (let d = 0; d < dim; d++) {
      const w = stdWeight[o * dim + d] * inv[d];
      weight[o * dim + d] = w;
      b -= w * s.mean[d];
    }
    bias[o] = b;
  }
  return { weight, bias };
}

function finish(s: Standardization, stdWeight: Float64Array, stdBias: Float64Array, outputs: number, dim: number, extra: Partial<LinearFit> = {}): LinearFit {
  return { outputs, ...foldBack(s, stdWeight, stdBias, outputs, dim), standardization: s, standardized: { weight: stdWeight, bias: stdBias }, ...extra };
}

/**
 * Whether to solve in the dual (n×n systems, w = Xᵀα) rather than the primal ((d+1)² systems):
 * an LU of n+1 costs about twice a Cholesky of the same size, so the dual wins once n < 0.79 d.
 * The dual needs λ > 0 (the primal handles λ = 0 with a jitter).
 */
function useDual(solver: Solver, rows: number, dim: number, l2: number): boolean {
  if (solver === 'primal' || l2 === 0) return false;
  return solver === 'dual' || 2 * (rows + 1) ** 3 < (dim + 1) ** 3;
}

/** XXᵀ (float64) from the design matrix: ZZᵀ = XXᵀ + 1 for its ones column. */
async function kernelOf(Z: ort.Tensor): Promise<Float64Array> {
  const K = await kernelMatrix(Z);
  for (let i = 0; i < K.length; i++) K[i] -= 1;
  return K;
}

/** w = Xᵀα per output, α [rows, outputs]: the first `dim` rows of Zᵀα (the last is Σα, for the ones column). */
async function weightsFromDual(Z: ort.Tensor, alpha: Float64Array, dim: number, outputs = 1): Promise<Float64Array> {
  const zt = await crossProduct64(Z, alpha, outputs); // [dim + 1, outputs]
  const w = new Float64Array(outputs * dim);
  for (let o = 0; o < outputs; o++) for (let d = 0; d < dim; d++) w[o * dim + d] = zt[d * outputs + o];
  return w;
}

/** Ridge regression of y on X [rows, dim] (one output). */
export async function fitRidge(X: Float32Array, rows: number, dim: number, y: ArrayLike<number>, opts: FitOptions = {}): Promise<LinearFit> {
  const l2 = checkProblem(X, rows, dim, y, opts);
  const s = await standardization(X, rows, dim);
  const Z = await design(X, rows, dim, s);
  // Centre y first: in float32, Zᵀy would otherwise lose a large offset's digits.
  let yMean = 0;
  for (let i = 0; i < rows; i++) yMean += y[i];
  yMean /= rows;
  const yc = Float64Array.from({ length: rows }, (_, i) => y[i] - yMean);
  if (useDual(opts.solver ?? 'auto', rows, dim, l2)) {
    // The normal equations with w = Xᵀα substituted: (K + λI)α + b1 = y, 1ᵀKα + n b = 1ᵀy.
    const K = await kernelOf(Z);
    const m = rows + 1;
    const M = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < rows; j++) {
        M[i * m + j] = K[i * rows + j];
        M[rows * m + j] += K[i * rows + j];
      }
      M[i * m + i] += l2;
      M[i * m + rows] = 1;
      rhs[i] = yc[i];
    }
    M[rows * m + rows] = rows;
    const sol = solveLu(M, rhs, m);
    return finish(s, await weightsFromDual(Z, sol.slice(0, rows), dim), Float64Array.of(sol[rows] + yMean), 1, dim);
  }
  const p = dim + 1;
  const A = Float64Array.from(await gramMatrix(Z));
  for (let d = 0; d < dim; d++) A[d * p + d] += l2;
  const theta = solveSpd(A, Float64Array.from(await crossProduct(Z, Float32Array.from(yc), 1)), p);
  return finish(s, theta.slice(0, dim), Float64Array.of(theta[dim] + yMean), 1, dim);
}

/**
 * Logistic regression for `classCount` classes: binary (one output, the logit of class 1) when
 * classCount is 2, else one-vs-rest (one output per class). `labels` are class indices.
 */
export async function fitLogistic(
  X: Float32Array,
  rows: number,
  dim: number,
  labels: ArrayLike<number>,
  classCount = 2,
  opts: FitOptions = {},
): Promise<LinearFit> {
  const l2 = checkProblem(X, rows, dim, labels, opts);
  if (!Number.isInteger(classCount) || classCount < 2) throw new InvalidInputError(`classification needs at least 2 classes, got ${classCount}`);
  const counts = new Array<number>(classCount).fill(0);
  for (let i = 0; i < rows; i++) {
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= classCount) throw new InvalidInputError(`label ${i} is ${labels[i]}, expected a class index 0..${classCount - 1}`);
    counts[labels[i]]++;
  }
  // With no positives the unpenalised intercept runs off to −∞: nothing to fit.
  const empty = counts.indexOf(0);
  if (empty >= 0) throw new InvalidInputError(`class ${empty} has no examples`);
  const s = await standardization(X, rows, dim);
  const Z = await design(X, rows, dim, s);
  const outputs = classCount === 2 ? 1 : classCount;
  const maxIterations = opts.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  // One kernel serves every one-vs-rest output.
  const K = useDual(opts.solver ?? 'auto', rows, dim, l2) ? await kernelOf(Z) : undefined;
  const alphas = new Float64Array(rows * outputs); // the dual path's coefficients, [rows, outputs]
  let stdWeight: Float64Array = new Float64Array(outputs * dim);
  const stdBias = new Float64Array(outputs);
  const iterations: number[] = [];
  let converged = true;
  for (let o = 0; o < outputs; o++) {
    const positive = classCount === 2 ? 1 : o;
    const y = Float32Array.from({ length: rows }, (_, i) => (labels[i] === positive ? 1 : 0));
    let r: NewtonResult;
    if (K) {
      const d = newtonDual(K, y, l2, maxIterations);
      for (let i = 0; i < rows; i++) alphas[i * outputs + o] = d.alpha[i];
      stdBias[o] = d.bias;
      r = d;
    } else {
      const p = await newtonPrimal(Z, y, dim, l2, maxIterations);
      stdWeight.set(p.theta.subarray(0, dim), o * dim);
      stdBias[o] = p.theta[dim];
      r = p;
    }
    iterations.push(r.iterations);
    converged &&= r.converged;
  }
  if (K) stdWeight = await weightsFromDual(Z, alphas, dim, outputs);
  return finish(s, stdWeight, stdBias, outputs, dim, { iterations, converged });
}

/**
 * Outputs [rows, outputs] of a fit on new rows, computed in ORT in the fit's standardised space
 * (independently of the folded raw-space weights).
 */
export async function predictFit(fit: LinearFit, X: Float32Array, rows: number): Promise<Float32Array> {
  const dim = fit.standardization.mean.length;
  if (X.length !== rows * dim) throw new InvalidInputError(`data holds ${X.length} values, expected ${rows} × ${dim}`);
  if (rows === 0) return new Float32Array(0);
  const Z = await design(X, rows, dim, fit.standardization);
  const p = dim + 1;
  const W = new Float32Array(p * fit.outputs);
  for (let o = 0; o < fit.outputs; o++) {
    for (let d = 0; d < dim; d++) W[d * fit.outputs + o] = fit.standardized.weight[o * dim + d];
    W[dim * fit.outputs + o] = fit.standardized.bias[o];
  }
  return linearScores(Z, W, fit.outputs);
}
