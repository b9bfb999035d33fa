import { InvalidInputError } from '../io/errors.js';

/** Dense float64 solves for the small systems of probe fitting (row-major matrices). */

/**
 * Solves A X = B for a symmetric positive definite A [p, p] and B [p, k] by Cholesky. A matrix
 * that is only semi-definite in floating point (λ = 0, collinear columns) gets a small diagonal
 * jitter, grown until the factorisation succeeds.
 */
export function solveSpd(A: Float64Array, B: Float64Array, p: number, k = 1): Float64Array {
  let trace = 0;
  for (let i = 0; i < p; i++) trace += A[i * p + i];
  const scale = trace > 0 && Number.isFinite(trace) ? trace / p : 1;
  for (let jitter = 0, attempt = 0; attempt < 12; attempt++, jitter = jitter === 0 ? scale * 1e-12 : jitter * 100) {
    const L = choleskyFactor(A, p, jitter);
    if (!L) continue;
    const X = new Float64Array(p * k);
    const y = new Float64Array(p);
    for (let c = 0; c < k; c++) {
      // L y = b, then Lᵀ x = y.
      for (let i = 0; i < p; i++) {
        let s = B[i * k + c];
        for (let j = 0; j < i; j++) s -= L[i * p + j] * y[j];
        y[i] = s / L[i * p + i];
      }
      for (let i = p - 1; i >= 0; i--) {
        let s = y[i];
        for (let j = i + 1; j < p; j++) s -= L[j * p + i] * X[j * k + c];
        X[i * k + c] = s / L[i * p + i];
      }
    }
    return X;
  }
  throw new InvalidInputError('the probe system is singular (are the activations all identical?)');
}

function choleskyFactor(A: Float64Array, p: number, jitter: number): Float64Array | undefined {
  const L = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    const Lj = j * p;
    let diag = A[Lj + j] + jitter;
    for (let k = 0; k < j; k++) diag -= L[Lj + k] * L[Lj + k];
    if (!(diag > 0) || !Number.isFinite(diag)) return undefined;
    const ljj = Math.sqrt(diag);
    L[Lj + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      const Li = i * p;
      let s = A[Li + j];
      for (let k = 0; k < j; k++) s -= L[Li + k] * L[Lj + k];
      L[Li + j] = s / ljj;
    }
  }
  return L;
}

/** Solves A x = b for a general square A [m, m] by LU with partial pivoting (A is overwritten). */
export function solveLu(A: Float64Array, b: Float64Array, m: number): Float64Array {
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    let pivot = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(A[r * m + c]) > Math.abs(A[pivot * m + c])) pivot = r;
    const top = A[pivot * m + c];
    if (!(Math.abs(top) > 0) || !Number.isFinite(top)) throw new InvalidInputError('the probe system is singular (are the activations all identical?)');
    if (pivot !== c) {
      for (let j = 0; j < m; j++) [A[c * m + j], A[pivot * m + j]] = [A[pivot * m + j], A[c * m + j]];
      [x[c], x[pivot]] = [x[pivot], x[c]];
    }
    for (let r = c + 1; r < m; r++) {
      const f = A[r * m + c] / top;
      if (f === 0) continue;
      const R = r * m;
      const C = c * m;
      for (let j = c + 1; j < m; j++) A[R + j] -= f * A[C + j];
      x[r] -= f * x[c];
    }
  }
  for (let r = m - 1; r >= 0; r--) {
    let s = x[r];
    for (let j = r + 1; j < m; j++) s -= A[r * m + j] * x[j];
    x[r] = s / A[r * m + r];
  }
  return x;
}
