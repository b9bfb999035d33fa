import type * as ort from 'onnxruntime-node';
import { solveLu, solveSpd } from './linear-solve.js';
import { linearScores, logisticPieces } from './probe-graphs.js';

/**
 * Newton's method for L2-regularised logistic regression,
 *
 *   min_{w,b}  Σ log(1 + e^{−ỹ(x·w + b)}) + (λ/2)‖w‖²,
 *
 * in two equivalent forms (the same iterates, different linear algebra):
 *
 *   primal  Hessian ZᵀSZ (d+1)² from ORT per iteration, Cholesky in JS: O(n d²) + O(d³);
 *   dual    w = Xᵀα (the optimum lies in the row space of X), with the kernel K = XXᵀ computed
 *           once; each step solves an (n+1)² system in JS: O(n³), for when n ≪ d.
 *
 * Both take the largest step 2^−k satisfying Armijo's condition, so separable data (where full
 * steps overshoot and the weights grow without bound as λ → 0) still descends and stays finite.
 */

export interface NewtonResult {
  readonly iterations: number;
  readonly converged: boolean;
}

const LINE_SEARCH_STEPS = 12;
const ARMIJO = 1e-4;

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Log-loss of one logit for a label in {0, 1}. */
function loss(l: number, y: number): number {
  return y > 0.5 ? softplus(-l) : softplus(l);
}

/** Starting intercept: the log-odds of the class prior (the optimum when w = 0 and λ is large). */
function priorLogit(y: Float32Array): number {
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i];
  const base = Math.min(Math.max(positives / y.length, 1e-6), 1 - 1e-6);
  return Math.log(base / (1 - base));
}

/** Stop when the Newton decrement gᵀH⁻¹g (≈ 2(f − f*)) is negligible. */
const decrementSmall = (decrement: number, f: number): boolean => !(decrement > 1e-10 * (1 + f));

/**
 * Primal Newton on Z = [X, 1] (rows × (dim + 1)). Returns θ = [w; b] in standardised space.
 */
export async function newtonPrimal(Z: ort.Tensor, y: Float32Array, dim: number, l2: number, maxIterations: number): Promise<NewtonResult & { theta: Float64Array }> {
  const p = dim + 1;
  const theta = new Float64Array(p);
  theta[dim] = priorLogit(y);
  const penalty = (t: ArrayLike<number>): number => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += t[d] * t[d];
    return 0.5 * l2 * s;
  };
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    const { gradient, hessian, logits } = await logisticPieces(Z, Float32Array.from(theta), y);
    let f = penalty(theta);
    for (let i = 0; i < y.length; i++) f += loss(logits[i], y[i]);
    const g = Float64Array.from(gradient);
    const H = Float64Array.from(hessian);
    for (let d = 0; d < dim; d++) {
      g[d] += l2 * theta[d];
      H[d * p + d] += l2;
    }
    const step = solveSpd(H, g, p).map((v) => -v);
    let decrement = 0;
    for (let j = 0; j < p; j++) decrement -= g[j] * step[j];
    if (decrementSmall(decrement, f)) return { theta, iterations, converged: true };

    // Every step size scored in one ORT call: column k holds θ + 2^−k Δ.
    const candidates = new Float32Array(p * LINE_SEARCH_STEPS);
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < LINE_SEARCH_STEPS; k++) candidates[j * LINE_SEARCH_STEPS + k] = theta[j] + step[j] * 2 ** -k;
    }
    const scores = await linearScores(Z, candidates, LINE_SEARCH_STEPS);
    let accepted = -1;
    for (let k = 0; k < LINE_SEARCH_STEPS && accepted < 0; k++) {
      let ft = penalty(Float64Array.from({ length: dim }, (_, j) => candidates[j * LINE_SEARCH_STEPS + k]));
      for (let i = 0; i < y.length; i++) ft += loss(scores[i * LINE_SEARCH_STEPS + k], y[i]);
      if (ft <= f - ARMIJO * 2 ** -k * decrement) accepted = k;
    }
    // No step decreases the loss measurably: float32 precision is exhausted near the optimum.
    if (accepted < 0) return { theta, iterations, converged: decrement <= 1e-6 * (1 + f) };
    let largest = 0;
    for (let j = 0; j < p; j++) {
      const next = candidates[j * LINE_SEARCH_STEPS + accepted];
      largest = Math.max(largest, Math.abs(next - theta[j]) / (1 + Math.abs(theta[j])));
      theta[j] = next;
    }
    if (largest < 1e-7) return { theta, iterations, converged: true };
  }
  return { theta, iterations, converged: false };
}

/**
 * Dual-form Newton: parameters α [n] and b with w = Xᵀα, given K = XXᵀ [n, n] (float64, λ > 0).
 * The primal Newton step (Δw, Δb) = (Xᵀδ, Δb) comes from the (n+1)² system
 *
 *   [ SK + λI   s  ] [δ ]     [ r + λα ]
 *   [ sᵀK       s₀ ] [Δb] = − [ Σ r    ]      r = σ(l) − y,  s = σ(l)σ(−l),  s₀ = Σ s,
 *
 * (substitute Δw = Xᵀδ into the primal Newton equations and drop the common Xᵀ). All in float64 JS.
 */
export function newtonDual(K: Float64Array, y: Float32Array, l2: number, maxIterations: number): NewtonResult & { alpha: Float64Array; bias: number } {
  const n = y.length;
  const m = n + 1;
  const alpha = new Float64Array(n);
  const ka = new Float64Array(n); // Kα
  let bias = priorLogit(y);
  const r = new Float64Array(n);
  const s = new Float64Array(n);
  const l = new Float64Array(n);
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    let f = 0;
    let aKa = 0;
    let rSum = 0;
    let s0 = 0;
    for (let i = 0; i < n; i++) {
      l[i] = ka[i] + bias;
      const p = sigmoid(l[i]);
      const q = sigmoid(-l[i]);
      r[i] = y[i] > 0.5 ? -q : p; // σ(l) − y without cancellation
      s[i] = p * q;
      f += loss(l[i], y[i]);
      aKa += alpha[i] * ka[i];
      rSum += r[i];
      s0 += s[i];
    }
    f += 0.5 * l2 * aKa;
    const M = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const si = s[i];
      for (let j = 0; j < n; j++) M[i * m + j] = si * K[i * n + j];
      M[i * m + i] += l2;
      M[i * m + n] = si;
      rhs[i] = -(r[i] + l2 * alpha[i]);
    }
    for (let i = 0; i < n; i++) {
      const si = s[i];
      for (let j = 0; j < n; j++) M[n * m + j] += si * K[i * n + j]; // (sᵀK)_j
    }
    M[n * m + n] = s0;
    rhs[n] = -rSum;
    const sol = solveLu(M, rhs, m);
    const delta = sol.subarray(0, n);
    const db = sol[n];
    const kd = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let j = 0; j < n; j++) v += K[i * n + j] * delta[j];
      kd[i] = v;
    }
    let decrement = -rSum * db;
    let dKa = 0;
    let dKd = 0;
    for (let i = 0; i < n; i++) {
      decrement -= (r[i] + l2 * alpha[i]) * kd[i];
      dKa += delta[i] * ka[i];
      dKd += delta[i] * kd[i];
    }
    if (decrementSmall(decrement, f)) return { alpha, bias, iterations, converged: true };

    let accepted = -1;
    let t = 1;
    for (let k = 0; k < LINE_SEARCH_STEPS && accepted < 0; k++, t /= 2) {
      // ‖w + tΔw‖² = αᵀKα + 2t δᵀKα + t² δᵀKδ.
      let ft = 0.5 * l2 * (aKa + 2 * t * dKa + t * t * dKd);
      for (let i = 0; i < n; i++) ft += loss(l[i] + t * (kd[i] + db), y[i]);
      if (ft <= f - ARMIJO * t * decrement) accepted = k;
    }
    if (accepted < 0) return { alpha, bias, iterations, converged: decrement <= 1e-6 * (1 + f) };
    t = 2 ** -accepted;
    let largest = 0;
    for (let i = 0; i < n; i++) {
      alpha[i] += t * delta[i];
      ka[i] += t * kd[i];
      largest = Math.max(largest, Math.abs(t * (kd[i] + db)) / (1 + Math.abs(l[i])));
    }
    bias += t * db;
    if (largest < 1e-9) return { alpha, bias, iterations, converged: true };
  }
  return { alpha, bias, iterations, converged: false };
}
