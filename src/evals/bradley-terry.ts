/**
 * Paired comparisons as a penalized logistic regression. Each comparison says how much A beat B:
 * y = 1 (A won), 0 (B won) or 0.5 (a tie, counted as half a win to each side), with a weight; the
 * log-odds of A over B is f·β for the comparison's features f. Bradley–Terry is the case
 * f = e_A − e_B (one strength per item); a utility curve over a number (a steering coefficient)
 * is the case f = φ(c_A) − φ(c_B).
 *
 * Fitted by Newton's method to the maximum of the log-likelihood plus a Gaussian prior
 * N(0, priorSd² I). The prior is weak: it only makes the maximum unique where the data alone do
 * not (Bradley–Terry strengths are defined up to a constant; one side that always won has an
 * infinite MLE). The covariance is the Laplace approximation: the inverse of the negative Hessian
 * of the log-posterior at the maximum. Dimensions here are small (at most a few dozen), so this
 * is plain JavaScript: no graph is worth building for it.
 */
import { InvalidInputError } from '../io/errors.js';

/** One comparison with sparse features: the log-odds of A over B is Σ values[k]·β[index[k]]. */
export interface ComparisonRow {
  readonly index: readonly number[];
  readonly values: readonly number[];
  /** A's share of the win: 1, 0, or 0.5 for a tie (any value in [0, 1] is allowed). */
  readonly y: number;
  readonly weight: number;
}

export interface LogisticFit {
  readonly beta: Float64Array;
  /** dim × dim, row-major: the inverse negative Hessian of the log-posterior at beta. */
  readonly covariance: Float64Array;
  readonly logPosterior: number;
  readonly iterations: number;
}

interface FitOptions {
  /** Standard deviation of the Gaussian prior on every coefficient. */
  readonly priorSd: number;
  /** Where Newton starts (a previous fit, for the bootstrap); zeros by default. */
  readonly start?: Float64Array;
}

/** Largest dimension fitted here (dense dim × dim Hessians). */
const MAX_DIMENSION = 256;
const MAX_ITERATIONS = 100;

/** log σ(x), without overflow for large |x|. */
function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function eta(row: ComparisonRow, beta: Float64Array): number {
  let s = 0;
  for (let k = 0; k < row.index.length; k++) s += row.values[k] * beta[row.index[k]];
  return s;
}

function logPosterior(rows: readonly ComparisonRow[], beta: Float64Array, precision: number): number {
  let lp = 0;
  for (const r of rows) {
    const e = eta(r, beta);
    lp += r.weight * (r.y * logSigmoid(e) + (1 - r.y) * logSigmoid(-e));
  }
  for (const b of beta) lp -= 0.5 * precision * b * b;
  return lp;
}

/**
 * The maximum a posteriori coefficients and their Laplace covariance. Throws on malformed rows
 * (indices outside 0..dim-1, y outside [0, 1], negative or non-finite weights).
 */
export function fitComparisons(rows: readonly ComparisonRow[], dim: number, opts: FitOptions): LogisticFit {
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIMENSION) throw new InvalidInputError(`a comparison model has 1..${MAX_DIMENSION} parameters, got ${dim}`);
  if (!(opts.priorSd > 0)) throw new InvalidInputError(`the prior's standard deviation must be > 0, got ${opts.priorSd}`);
  for (const r of rows) {
    if (!(r.y >= 0 && r.y <= 1) || !(r.weight >= 0) || !Number.isFinite(r.weight) || r.index.length !== r.values.length) {
      throw new InvalidInputError(`a comparison needs y in [0, 1] and a finite weight >= 0, got y=${r.y}, weight=${r.weight}`);
    }
    for (const [k, i] of r.index.entries()) {
      if (!Number.isInteger(i) || i < 0 || i >= dim || !Number.isFinite(r.values[k])) throw new InvalidInputError(`a comparison's feature ${i} is not one of 0..${dim - 1} with a finite value`);
    }
  }
  const precision = 1 / (opts.priorSd * opts.priorSd);
  const beta = opts.start ? Float64Array.from(opts.start) : new Float64Array(dim);
  let current = logPosterior(rows, beta, precision);
  let iterations = 0;
  let hessian = negHessian(rows, beta, dim, precision);
  for (; iterations < MAX_ITERATIONS; iterations++) {
    const grad = gradient(rows, beta, dim, precision);
    const step = solve(cholesky(hessian, dim), grad, dim);
    // Newton with step halving: the log-posterior is concave, so a short enough step always climbs.
    let scale = 1;
    let next = new Float64Array(dim);
    let value = -Infinity;
    for (let halvings = 0; halvings < 40; halvings++, scale /= 2) {
      for (let i = 0; i < dim; i++) next[i] = beta[i] + scale * step[i];
      value = logPosterior(rows, next, precision);
      if (value >= current - 1e-12 * Math.abs(current)) break;
    }
    if (!(value >= current - 1e-12 * Math.abs(current))) next = beta;
    const moved = Math.max(...step.map((s) => Math.abs(s * scale)));
    beta.set(next);
    const gain = value - current;
    current = Math.max(current, value);
    hessian = negHessian(rows, beta, dim, precision);
    if (moved < 1e-10 || gain < 1e-13 * (1 + Math.abs(current))) {
      iterations++;
      break;
    }
  }
  return { beta, covariance: inverse(cholesky(hessian, dim), dim), logPosterior: current, iterations };
}

function gradient(rows: readonly ComparisonRow[], beta: Float64Array, dim: number, precision: number): Float64Array {
  const g = new Float64Array(dim);
  for (const r of rows) {
    const residual = r.weight * (r.y - sigmoid(eta(r, beta)));
    for (let k = 0; k < r.index.length; k++) g[r.index[k]] += residual * r.values[k];
  }
  for (let i = 0; i < dim; i++) g[i] -= precision * beta[i];
  return g;
}

function negHessian(rows: readonly ComparisonRow[], beta: Float64Array, dim: number, precision: number): Float64Array {
  const h = new Float64Array(dim * dim);
  for (const r of rows) {
    const p = sigmoid(eta(r, beta));
    const c = r.weight * p * (1 - p);
    for (let k = 0; k < r.index.length; k++) {
      for (let l = 0; l < r.index.length; l++) h[r.index[k] * dim + r.index[l]] += c * r.values[k] * r.values[l];
    }
  }
  for (let i = 0; i < dim; i++) h[i * dim + i] += precision;
  return h;
}

/** Lower-triangular L with A = L Lᵀ (A symmetric positive definite, row-major). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        // The prior keeps the diagonal above its precision; this guards rounding only.
        l[i * n + i] = Math.sqrt(Math.max(s, 1e-300));
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

/** x with L Lᵀ x = b. */
function solve(l: Float64Array, b: Float64Array, n: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

function inverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e.fill(0);
    e[j] = 1;
    const col = solve(l, e, n);
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}

/** Bradley–Terry rows: item `a` against item `b`, log-odds strength[a] − strength[b]. */
export function bradleyTerryRow(a: number, b: number, y: number, weight: number): ComparisonRow {
  return { index: [a, b], values: [1, -1], y, weight };
}
