import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';
import { loadHfDirectory } from '../src/model/loaders/hf.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import { kFold } from '../src/probes/cross-validation.js';
import { fitLogistic, fitRidge, predictFit, type LinearFit } from '../src/probes/fit.js';
import { accuracy, auroc, macroAuroc, r2 } from '../src/probes/metrics.js';
import { limitExamples, parseClassSpec, parseCsv, readClassFiles, readProbeData } from '../src/probes/probe-data.js';
import { loadProbe, saveProbe } from '../src/probes/probe-file.js';
import { probeScores, type LinearProbe, type ProbeMetrics } from '../src/probes/probe.js';
import { bestProbeLayer, evaluateProbe, trainProbes, type ProbeExample } from '../src/probes/train-probes.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir, writeRandomHfModel } from './helpers/random-model.js';

const tmp = tempDir('probes');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Independent float64 references

function gaussian(rng: { nextFloat(): number }): number {
  return Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/** X [n, d] with very different column scales and offsets, so standardisation matters. */
function randomData(n: number, d: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = (j + 1) * 3 * gaussian(rng) + 10 * (j - 2) + (j === 1 ? 100 : 0);
  return X;
}

/** Population mean/std per column in float64 (std 1 for a constant column). */
function standardise(X: Float32Array, n: number, d: number): { mean: number[]; std: number[] } {
  const mean = Array.from({ length: d }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += X[i * d + j];
    return s / n;
  });
  const std = mean.map((m, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (X[i * d + j] - m) ** 2;
    return Math.sqrt(s / n) || 1;
  });
  return { mean, std };
}

/** Gaussian elimination with partial pivoting (not the Cholesky the code uses). */
function gaussSolve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Gradient of Σ logloss + (λ/2)‖w_std‖² at a raw-space fit, in float64, in standardised coordinates. */
function logisticGradient(X: Float32Array, n: number, d: number, y: number[], weight: ArrayLike<number>, bias: number, l2: number): number[] {
  const { mean, std } = standardise(X, n, d);
  const wStd = Array.from({ length: d }, (_, j) => weight[j] * std[j]);
  const bStd = bias + mean.reduce((a, m, j) => a + weight[j] * m, 0);
  const g = new Array<number>(d + 1).fill(0);
  for (let i = 0; i < n; i++) {
    let l = bStd;
    const z = Array.from({ length: d }, (_, j) => (X[i * d + j] - mean[j]) / std[j]);
    for (let j = 0; j < d; j++) l += wStd[j] * z[j];
    const r = sigmoid(l) - y[i];
    for (let j = 0; j < d; j++) g[j] += r * z[j];
    g[d] += r;
  }
  for (let j = 0; j < d; j++) g[j] += l2 * wStd[j];
  return g;
}

const maxAbs = (xs: ArrayLike<number>): number => Array.from(xs).reduce((a, x) => Math.max(a, Math.abs(x)), 0);

function rawScores(fit: LinearFit, X: Float32Array, n: number, d: number, o = 0): number[] {
  return Array.from({ length: n }, (_, i) => {
    let s = fit.bias[o];
    for (let j = 0; j < d; j++) s += fit.weight[o * d + j] * X[i * d + j];
    return s;
  });
}

// ---------------------------------------------------------------------------------------------

describe('metrics', () => {
  test('accuracy', () => {
    assert.equal(accuracy([1, 0, 1, 1], [1, 1, 1, 0]), 0.5);
    assert.equal(accuracy([], []), undefined);
    assert.throws(() => accuracy([1], [1, 0]), InvalidInputError);
  });

  test('AUROC by hand, ties counting half', () => {
    assert.equal(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
    // positives {2, 3} vs negatives {1, 2}: 1 + 0.5 + 1 + 1 of 4 pairs.
    assert.equal(auroc([1, 2, 2, 3], [0, 0, 1, 1]), 0.875);
    assert.equal(auroc([5, 5, 5, 5], [1, 0, 1, 0]), 0.5);
    assert.equal(auroc([3, 2, 1], [true, false, false]), 1);
    assert.equal(auroc([1, 2], [0, 0]), undefined);
    assert.throws(() => auroc([NaN, 1], [0, 1]), InvalidInputError);
  });

  test('AUROC equals the brute-force pair count on data with many ties', () => {
    const rng = createRng(4);
    const scores = Array.from({ length: 101 }, () => Math.floor(rng.nextFloat() * 6));
    const labels = Array.from({ length: 101 }, () => (rng.nextFloat() < 0.4 ? 1 : 0));
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < 101; i++) {
      for (let j = 0; j < 101; j++) {
        if (labels[i] === 1 && labels[j] === 0) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
      }
    }
    assert.ok(Math.abs(auroc(scores, labels)! - wins / pairs) < 1e-12);
  });

  test('macro one-vs-rest AUROC', () => {
    // Rows are labelled 0, 1, 2. Columns 0 and 1 rank their class first, column 2 ties everything.
    const scores = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 0],
    ].flat();
    // Column 1 now ranks its class last.
    const wrong = [
      [1, 1, 0],
      [0, 0, 0],
      [0, 1, 0],
    ].flat();
    assert.equal(macroAuroc(scores, [0, 1, 2], 3), (1 + 1 + 0.5) / 3);
    assert.equal(macroAuroc(wrong, [0, 1, 2], 3), (1 + 0 + 0.5) / 3);
  });

  test('R² (the sklearn documentation example) and a constant target', () => {
    assert.ok(Math.abs(r2([2.5, 0, 2, 8], [3, -0.5, 2, 7])! - 0.9486081370449679) < 1e-12);
    assert.equal(r2([1, 2], [3, 3]), undefined);
  });
});

test('best layer: AUROC, then accuracy, for classifiers; R² for regression; earliest on ties', () => {
  const m = (accuracy: number, auroc: number): ProbeMetrics => ({ accuracy, auroc, n: 10 });
  assert.equal(bestProbeLayer([{ layer: 0, metrics: m(0.9, 0.8) }, { layer: 1, metrics: m(0.8, 0.85) }]), 1);
  assert.equal(bestProbeLayer([{ layer: 0, metrics: m(0.7, 0.8) }, { layer: 3, metrics: m(0.8, 0.8) }, { layer: 5, metrics: m(0.8, 0.8) }]), 3);
  assert.equal(bestProbeLayer([{ layer: 2, metrics: { r2: -0.5, n: 4 } }, { layer: 4, metrics: { r2: 0.1, n: 4 } }]), 4);
  assert.equal(bestProbeLayer([]), undefined);
});

describe('cross-validation', () => {
  const strata = Array.from({ length: 37 }, (_, i) => (i % 5 === 0 ? 2 : i % 3 === 0 ? 1 : 0));

  test('folds partition the examples; train is the complement of test', () => {
    const folds = kFold(37, 5, 1, strata);
    assert.equal(folds.length, 5);
    const seen = new Array<number>(37).fill(0);
    for (const { train, test } of folds) {
      for (const i of test) seen[i]++;
      assert.equal(train.length + test.length, 37);
      const t = new Set(test);
      assert.ok(train.every((i) => !t.has(i)));
    }
    assert.ok(seen.every((c) => c === 1));
    const sizes = folds.map((f) => f.test.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
  });

  test('stratified: each fold holds every class in proportion (±1)', () => {
    const folds = kFold(37, 5, 2, strata);
    for (const c of [0, 1, 2]) {
      const total = strata.filter((s) => s === c).length;
      for (const { test } of folds) {
        const inFold = test.filter((i) => strata[i] === c).length;
        assert.ok(Math.abs(inFold - total / 5) < 1, `class ${c}: ${inFold} of ${total}`);
      }
    }
  });

  test('seeded: same seed, same folds; another seed, other folds', () => {
    assert.deepEqual(kFold(37, 5, 9, strata), kFold(37, 5, 9, strata));
    assert.notDeepEqual(kFold(37, 5, 9, strata), kFold(37, 5, 10, strata));
    assert.deepEqual(kFold(20, 4, 3), kFold(20, 4, 3));
    assert.throws(() => kFold(3, 5), InvalidInputError);
    assert.throws(() => kFold(10, 1), InvalidInputError);
  });
});

describe('fitting', () => {
  test('ridge equals the float64 closed form (intercept unpenalised, standardised features)', async () => {
    const n = 40;
    const d = 5;
    const X = randomData(n, d, 7);
    const rng = createRng(8);
    const beta = [0.5, -1, 2, 0, 0.25];
    const y = Array.from({ length: n }, (_, i) => 1000 + beta.reduce((a, b, j) => a + b * X[i * d + j], 0) + gaussian(rng));
    const l2 = 2.5;

    const { mean, std } = standardise(X, n, d);
    const Z = Array.from({ length: n }, (_, i) => [...Array.from({ length: d }, (_, j) => (X[i * d + j] - mean[j]) / std[j]), 1]);
    const A = Array.from({ length: d + 1 }, (_, a) => Array.from({ length: d + 1 }, (_, b) => Z.reduce((s, z) => s + z[a] * z[b], 0) + (a === b && a < d ? l2 : 0)));
    const c = Array.from({ length: d + 1 }, (_, a) => Z.reduce((s, z, i) => s + z[a] * y[i], 0));
    const theta = gaussSolve(A, c);
    const wRaw = theta.slice(0, d).map((w, j) => w / std[j]);
    const bRaw = theta[d] - wRaw.reduce((s, w, j) => s + w * mean[j], 0);
    for (const solver of ['primal', 'dual'] as const) {
      const fit = await fitRidge(X, n, d, y, { l2, solver });
      for (let j = 0; j < d; j++) assert.ok(Math.abs(fit.weight[j] - wRaw[j]) < 1e-4 * (1 + Math.abs(wRaw[j])), `${solver} w[${j}] ${fit.weight[j]} vs ${wRaw[j]}`);
      assert.ok(Math.abs(fit.bias[0] - bRaw) < 1e-3, `${solver} b ${fit.bias[0]} vs ${bRaw}`);
    }
    // And the penalty really bites: a much larger λ shrinks the weights.
    const fit = await fitRidge(X, n, d, y, { l2 });
    const strong = await fitRidge(X, n, d, y, { l2: 1e4 });
    assert.ok(maxAbs(strong.standardized.weight) < 0.2 * maxAbs(fit.standardized.weight));
  });

  test('logistic: the regularised gradient (float64, independent) vanishes at the fit', async () => {
    const n = 200;
    const d = 6;
    const X = randomData(n, d, 11);
    const rng = createRng(12);
    const { mean, std } = standardise(X, n, d);
    const truth = [1.5, -2, 0.5, 0, 1, -0.5];
    const y = Array.from({ length: n }, (_, i) => {
      const l = truth.reduce((a, t, j) => a + (t * (X[i * d + j] - mean[j])) / std[j], 0.3);
      return rng.nextFloat() < sigmoid(l) ? 1 : 0;
    });
    for (const [l2, solver] of [[1, 'primal'], [0.1, 'primal'], [1, 'dual'], [0.1, 'dual']] as const) {
      const fit = await fitLogistic(X, n, d, y, 2, { l2, solver });
      assert.equal(fit.converged, true);
      assert.ok(fit.iterations![0] <= 12, `iterations ${fit.iterations}`);
      const g = logisticGradient(X, n, d, y, fit.weight, fit.bias[0], l2);
      assert.ok(maxAbs(g) < 2e-3, `λ=${l2} ${solver}: gradient ${g.map((x) => x.toExponential(2))}`);
      // Not trivially zero: the fit found real signal.
      assert.ok(maxAbs(fit.standardized.weight) > 0.5);
    }
  });

  test('one-vs-rest: each output satisfies its own first-order condition', async () => {
    const n = 150;
    const d = 4;
    const X = randomData(n, d, 21);
    // Columns 0 and 2 are 3g − 20 and 9g for standard normal g.
    const labels = Array.from({ length: n }, (_, i) => ((X[i * d] + 20) / 3 > 0.3 ? 0 : X[i * d + 2] > 0 ? 1 : 2));
    for (let k = 0; k < 3; k++) assert.ok(labels.filter((l) => l === k).length >= 20, `class ${k}`);
    for (const solver of ['primal', 'dual'] as const) {
      const fit = await fitLogistic(X, n, d, labels, 3, { l2: 1, solver });
      assert.equal(fit.outputs, 3);
      for (let k = 0; k < 3; k++) {
        const g = logisticGradient(X, n, d, labels.map((l) => (l === k ? 1 : 0)), fit.weight.subarray(k * d, (k + 1) * d), fit.bias[k], 1);
        assert.ok(maxAbs(g) < 2e-3, `${solver} class ${k}: ${g}`);
      }
    }
  });

  test('wide data (n < d, the dual path by default): ridge closed form, logistic first-order condition', async () => {
    const n = 30;
    const d = 80;
    const X = randomData(n, d, 51);
    const rng = createRng(52);
    const { mean, std } = standardise(X, n, d);
    const z = (i: number, j: number): number => (X[i * d + j] - mean[j]) / std[j];
    const y = Array.from({ length: n }, (_, i) => 2 * z(i, 0) - z(i, 3) + 0.5 * gaussian(rng));
    const l2 = 3;
    const ridge = await fitRidge(X, n, d, y, { l2 });
    const Z = Array.from({ length: n }, (_, i) => [...Array.from({ length: d }, (_, j) => z(i, j)), 1]);
    const A = Array.from({ length: d + 1 }, (_, a) => Array.from({ length: d + 1 }, (_, b) => Z.reduce((s, r) => s + r[a] * r[b], 0) + (a === b && a < d ? l2 : 0)));
    const theta = gaussSolve(A, Array.from({ length: d + 1 }, (_, a) => Z.reduce((s, r, i) => s + r[a] * y[i], 0)));
    for (let j = 0; j < d; j++) assert.ok(Math.abs(ridge.standardized.weight[j] - theta[j]) < 1e-6, `w[${j}] ${ridge.standardized.weight[j]} vs ${theta[j]}`);
    assert.ok(Math.abs(ridge.standardized.bias[0] - theta[d]) < 1e-6);

    const labels = y.map((v) => (v > 0 ? 1 : 0));
    for (const solver of ['auto', 'primal'] as const) {
      const fit = await fitLogistic(X, n, d, labels, 2, { l2: 1, solver });
      assert.equal(fit.converged, true, solver);
      const g = logisticGradient(X, n, d, labels, fit.weight, fit.bias[0], 1);
      assert.ok(maxAbs(g) < 1e-3, `${solver}: ${maxAbs(g)}`);
    }
  });

  test('separable data: finite weights, every example right, no divergence', async () => {
    const n = 60;
    const d = 3;
    const rng = createRng(31);
    const X = new Float32Array(n * d);
    const y = Array.from({ length: n }, (_, i) => i % 2);
    for (let i = 0; i < n; i++) {
      X[i * d] = (y[i] ? 2 : -2) + 0.5 * gaussian(rng); // margin along axis 0
      X[i * d + 1] = gaussian(rng);
      X[i * d + 2] = 5;
    }
    for (const [l2, solver] of [[1, 'primal'], [1e-3, 'primal'], [0, 'primal'], [1, 'dual'], [1e-3, 'dual']] as const) {
      const fit = await fitLogistic(X, n, d, y, 2, { l2, solver });
      assert.ok([...fit.weight, ...fit.bias].every(Number.isFinite), `λ=${l2}: ${fit.weight}`);
      const s = rawScores(fit, X, n, d);
      assert.equal(accuracy(s.map((v) => (v > 0 ? 1 : 0)), y), 1, `λ=${l2} ${solver}`);
      // The constant column gets no weight.
      assert.equal(fit.weight[2], 0);
    }
  });

  test('the folded raw-space weights reproduce the standardised model on new data', async () => {
    const n = 80;
    const d = 5;
    const X = randomData(n, d, 41);
    for (let i = 0; i < n; i++) X[i * d + 4] = 1000 + 0.5 * (i % 7); // large offset, small spread
    const y = Array.from({ length: n }, (_, i) => (X[i * d] + 20 + 6 * (X[i * d + 4] - 1001.5) > 0 ? 1 : 0));
    assert.ok(y.filter((v) => v === 1).length > 20 && y.filter((v) => v === 0).length > 20);
    const fit = await fitLogistic(X, n, d, y, 2, { l2: 1 });
    assert.ok(Math.abs(fit.standardized.weight[4]) > 0.5, 'the offset column carries weight');
    const probe: LinearProbe = { task: 'classification', site: 'resid_post', positions: 'last', classes: ['no', 'yes'], hiddenSize: d, layers: new Map([[0, { weight: fit.weight, bias: fit.bias }]]) };
    const Xnew = randomData(30, d, 42);
    for (let i = 0; i < 30; i++) Xnew[i * d + 4] = 1000 + 0.5 * (i % 5);
    const viaProbe = probeScores(probe, 0, Xnew, 30);
    const viaStandardised = await predictFit(fit, Xnew, 30);
    for (let i = 0; i < 30; i++) {
      // float32 raw weights on a column with offset/spread ≈ 500 cancel: allow float32 rounding of the terms.
      let terms = Math.abs(fit.bias[0]);
      for (let j = 0; j < d; j++) terms += Math.abs(fit.weight[j] * Xnew[i * d + j]);
      assert.ok(Math.abs(viaProbe[i] - viaStandardised[i]) < 1.5e-7 * terms + 1e-5, `row ${i}: ${viaProbe[i]} vs ${viaStandardised[i]} (terms ${terms})`);
    }
  });

  test('clear errors for bad inputs', async () => {
    const X = randomData(10, 2, 1);
    await assert.rejects(fitRidge(X, 10, 2, Array(10).fill(NaN)), /finite/);
    await assert.rejects(fitLogistic(X, 10, 2, Array(10).fill(3), 2), /class index/);
    await assert.rejects(fitLogistic(X, 10, 2, Array(10).fill(0), 2), /class 1 has no examples/);
    await assert.rejects(fitLogistic(X, 10, 2, Array(10).fill(0), 2, { l2: -1 }), /l2/);
    await assert.rejects(fitRidge(X.subarray(0, 2), 1, 2, [1]), /at least 2/);
  });
});

describe('probes: scoring and files', () => {
  const D = 3;
  const binary: LinearProbe = {
    task: 'classification',
    site: 'resid_post',
    positions: 'mean',
    classes: ['happy', 'sad'],
    hiddenSize: D,
    layers: new Map([
      [0, { weight: Float32Array.of(1, 2, 3), bias: Float32Array.of(-1) }],
      [2, { weight: Float32Array.of(0, -1, 0.5), bias: Float32Array.of(0.25) }],
    ]),
    model: { name: 'tiny', hiddenSize: D, numLayers: 3 },
    metrics: new Map([
      [0, { accuracy: 0.75, auroc: 0.8, n: 40 }],
      [2, { accuracy: 0.5, n: 40 }],
    ]),
    training: { l2: 1, folds: 5, seed: 0, examples: 40 },
  };
  const multi: LinearProbe = {
    task: 'classification',
    site: 'resid_pre',
    positions: 'last',
    classes: ['a', 'b', 'c'],
    hiddenSize: D,
    layers: new Map([[1, { weight: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), bias: Float32Array.of(0, 0.5, -0.5) }]]),
  };
  const rows = Float32Array.of(1, 0, 0, 0, 2, -1, 0.5, 0.5, 0.5);

  test('binary scores are logits of the positive class (negated for the other)', () => {
    assert.deepEqual(Array.from(probeScores(binary, 0, rows, 3)), [0, 0, 2]);
    assert.deepEqual(Array.from(probeScores(binary, 0, rows, 3, 'happy')), [-0, -0, -2]);
    assert.throws(() => probeScores(binary, 1, rows, 3), InvalidInputError);
    assert.throws(() => probeScores(binary, 0, rows, 2), InvalidInputError);
    assert.throws(() => probeScores(binary, 0, rows, 3, 'angry'), /unknown class/);
  });

  test('multiclass scores are log-softmax probabilities', () => {
    const per = multi.classes.map((c) => probeScores(multi, 1, rows, 3, c));
    for (let r = 0; r < 3; r++) {
      const total = per.reduce((a, s) => a + Math.exp(s[r]), 0);
      assert.ok(Math.abs(total - 1) < 1e-6);
    }
    // Row 0: logits (1, 0.5, -0.5).
    const z = Math.log(Math.exp(1) + Math.exp(0.5) + Math.exp(-0.5));
    assert.ok(Math.abs(per[0][0] - (1 - z)) < 1e-6);
    assert.deepEqual(Array.from(probeScores(multi, 1, rows, 3)), Array.from(per[2]));
  });

  test('save → load round-trips exactly', () => {
    for (const [name, probe] of [['binary', binary], ['multi', multi]] as const) {
      const file = path.join(tmp, `${name}.safetensors`);
      saveProbe(file, probe);
      assert.deepEqual(loadProbe(file), probe);
    }
    const reg: LinearProbe = { task: 'regression', site: 'mlp_out', positions: 'last', classes: [], hiddenSize: D, layers: new Map([[0, { weight: Float32Array.of(0.5, 0, 1), bias: Float32Array.of(3) }]]), metrics: new Map([[0, { r2: -0.25, n: 9 }]]) };
    saveProbe(path.join(tmp, 'reg.safetensors'), reg);
    assert.deepEqual(loadProbe(path.join(tmp, 'reg.safetensors')), reg);
  });

  test('truncated, garbage and foreign files are InvalidInputErrors', () => {
    const file = path.join(tmp, 'ok.safetensors');
    saveProbe(file, binary);
    const bytes = fs.readFileSync(file);
    const cut = path.join(tmp, 'cut.safetensors');
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    assert.throws(() => loadProbe(cut), (e: unknown) => e instanceof InvalidInputError && /truncated|unexpected end|data section/.test(e.message));
    const garbage = path.join(tmp, 'garbage.safetensors');
    fs.writeFileSync(garbage, 'this is not a probe at all, just some text');
    assert.throws(() => loadProbe(garbage), InvalidInputError);
    const foreign = path.join(tmp, 'foreign.safetensors');
    writeSafetensors(foreign, { x: { shape: [1], data: Float32Array.of(1) } });
    assert.throws(() => loadProbe(foreign), /not a Steerer probe file/);
    // Metadata whose shapes do not match the tensors.
    const bad = path.join(tmp, 'bad.safetensors');
    const meta = { format: 'steerer.probe/v1', task: 'classification', site: 'resid_post', positions: 'last', classes: ['a', 'b'], hiddenSize: 4, layers: [0] };
    writeSafetensors(bad, { 'layers.0.weight': { shape: [1, 3], data: new Float32Array(3) }, 'layers.0.bias': { shape: [1], data: new Float32Array(1) } }, { steerer_probe: JSON.stringify(meta) });
    assert.throws(() => loadProbe(bad), /shape \[1, 3\], expected \[1, 4\]/);
    assert.throws(() => loadProbe(path.join(tmp, 'missing.safetensors')), /no such probe file/);
    // An inconsistent probe writes nothing.
    assert.throws(() => saveProbe(path.join(tmp, 'never.safetensors'), { ...binary, classes: ['x'] }), InvalidInputError);
    assert.equal(fs.existsSync(path.join(tmp, 'never.safetensors')), false);
  });
});

describe('probe data files', () => {
  test('CSV: quoted fields with commas, quotes, newlines; CRLF', () => {
    const rows = parseCsv('text,label\r\n"Hello, world",1\r\n"She said ""hi""\nthen left",0\r\nplain,1\r\n\r\n');
    assert.deepEqual(rows, [
      ['text', 'label'],
      ['Hello, world', '1'],
      ['She said "hi"\nthen left', '0'],
      ['plain', '1'],
    ]);
    assert.deepEqual(parseCsv('a,b\n,\n"",x'), [['a', 'b'], ['', ''], ['', 'x']]);
    assert.throws(() => parseCsv('a,b\n"open,1\n'), /Quote Not Closed/);
    assert.throws(() => parseCsv('a,b\nx"y,1\n'), /Invalid Opening Quote/);
  });

  test('JSONL, JSON arrays and CSV files', () => {
    const jsonl = path.join(tmp, 'd.jsonl');
    fs.writeFileSync(jsonl, '{"statement": "The sky is blue.", "label": true}\n{"statement": "Fish fly.", "label": false}\n');
    assert.deepEqual(readProbeData(jsonl), [{ text: 'The sky is blue.', label: 'true' }, { text: 'Fish fly.', label: 'false' }]);
    const json = path.join(tmp, 'd.json');
    fs.writeFileSync(json, JSON.stringify([{ prompt: 'one', value: 1.5 }, { text: 'two', value: -2 }]));
    assert.deepEqual(readProbeData(json), [{ text: 'one', value: 1.5 }, { text: 'two', value: -2 }]);
    const csv = path.join(tmp, 'd.csv');
    fs.writeFileSync(csv, 'id,Text,value\n1,"a, b",0.5\n2,c,2e3\n');
    assert.deepEqual(readProbeData(csv), [{ text: 'a, b', value: 0.5 }, { text: 'c', value: 2000 }]);
    const mixed = path.join(tmp, 'mixed.jsonl');
    fs.writeFileSync(mixed, '{"text": "x", "label": "a", "value": 1}\n');
    assert.throws(() => readProbeData(mixed), /both "label" and "value"/);
    fs.writeFileSync(mixed, '{"text": "x", "value": "1"}\n');
    assert.throws(() => readProbeData(mixed), /line 1: "value" must be a finite number/);
    fs.writeFileSync(csv, 'text,value\nok,abc\n');
    assert.throws(() => readProbeData(csv), /record 1: value "abc"/);
  });

  test('the real RepE true/false facts CSV', () => {
    const facts = readProbeData(sharedPath('data', 'repe', 'facts_true_false.csv'));
    assert.equal(facts.length, 612);
    assert.deepEqual(new Set(facts.map((f) => f.label)), new Set(['0', '1']));
    assert.ok(facts.every((f) => f.text.length > 5));
  });

  test('class files and limits', () => {
    const a = path.join(tmp, 'a.txt');
    const b = path.join(tmp, 'b.json');
    fs.writeFileSync(a, 'first\n\nsecond\r\nthird\n');
    fs.writeFileSync(b, JSON.stringify(['x', 'y']));
    const ex = readClassFiles([parseClassSpec(`pos=${a}`), parseClassSpec(`neg=${b}`)]);
    assert.deepEqual(ex.map((e) => `${e.label}:${e.text}`), ['pos:first', 'pos:second', 'pos:third', 'neg:x', 'neg:y']);
    assert.deepEqual(limitExamples(ex, 1).map((e) => e.text), ['first', 'x']);
    assert.throws(() => parseClassSpec('nofile'), /NAME=FILE/);
    assert.throws(() => readClassFiles([{ name: 'a', file: a }, { name: 'a', file: b }]), /twice/);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end through a model

describe('trainProbes on a random model with a planted signal', () => {
  let model: HookedModel;
  const examples: ProbeExample[] = [];
  let dir = '';

  before(() => {
    const m = writeRandomHfModel('llama', { seed: 5, hidden: 32, layers: 2 });
    dir = m.dir;
    const loaded = loadHfDirectory(m.dir);
    const D = loaded.spec.hiddenSize;
    const V = loaded.spec.vocabSize;
    const probeModel = new HookedModel(loaded, { threads: 1 });
    // Texts whose last tokens are distinct; each gets a value planted along one direction of the
    // last token's embedding (tied model: column t of output.weight [D, V]).
    const words = ['cat', 'dog', 'ball', 'tree', 'sun', 'car', 'bird', 'fish', 'box', 'hat', 'cake', 'toy', 'park', 'house', 'girl', 'boy', 'mom', 'dad', 'friend', 'book', 'bed', 'door', 'cup', 'milk', 'boat', 'duck', 'frog', 'bear', 'king', 'moon', 'star', 'sky', 'rain', 'snow', 'hill', 'road', 'shoe', 'coat', 'bag', 'bus'];
    const rng = createRng(6);
    const dir0 = Array.from({ length: D }, () => gaussian(rng));
    const W = loaded.weights.get('output.weight')!.data;
    const used = new Set<number>();
    for (const w of words) {
      const text = `Lily saw the ${w}`;
      const last = probeModel.encode(text).at(-1)!;
      if (used.has(last)) continue;
      used.add(last);
      const value = examples.length % 2 === 0 ? 1 + rng.nextFloat() : -1 - rng.nextFloat();
      for (let d = 0; d < D; d++) W[d * V + last] += 1.5 * value * dir0[d];
      examples.push({ text, value });
    }
    model = probeModel;
  });
  after(async () => {
    await model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('ridge recovers the planted value at the embedding (R² ≈ 1), and not from shuffled values', async () => {
    assert.ok(examples.length >= 30, `${examples.length} distinct words`);
    const r = await trainProbes(model, examples, { site: 'resid_pre', layers: [0], l2: 0.01 });
    assert.equal(r.probe.task, 'regression');
    assert.ok(r.perLayer[0].metrics.r2! > 0.95, `R² ${r.perLayer[0].metrics.r2}`);
    assert.equal(r.perLayer[0].metrics.n, examples.length);
    // Scores of the saved probe on the same texts reproduce the values.
    const evals = await evaluateProbe(model, r.probe, examples);
    assert.ok(evals[0].metrics.r2! > 0.99);
    // Control: the same texts with their values shuffled carry no linear signal.
    const values = examples.map((e) => e.value!);
    const shuffled = examples.map((e, i) => ({ text: e.text, value: values[(i * 7 + 3) % values.length] }));
    const control = await trainProbes(model, shuffled, { site: 'resid_pre', layers: [0], l2: 0.01 });
    assert.ok(control.perLayer[0].metrics.r2! < 0.5, `control R² ${control.perLayer[0].metrics.r2}`);
  });

  test('logistic separates the sign of the planted value (CV accuracy 1)', async () => {
    const labelled = examples.map((e) => ({ text: e.text, label: e.value! > 0 ? 'up' : 'down' }));
    const r = await trainProbes(model, labelled, { site: 'resid_pre', layers: [0, 1], folds: 4, classes: ['down', 'up'] });
    assert.deepEqual(r.probe.classes, ['down', 'up']);
    assert.equal(r.perLayer[0].metrics.accuracy, 1);
    assert.equal(r.perLayer[0].metrics.auroc, 1);
    assert.equal(r.folds, 4);
    assert.deepEqual([...r.probe.layers.keys()], [0, 1]);
  });

  test('validation: mixed tasks, one class, too few examples, NaN values, wrong probe', async () => {
    await assert.rejects(trainProbes(model, [{ text: 'a', label: 'x' }, { text: 'b', value: 1 }]), /either a classifier or a regression/);
    await assert.rejects(trainProbes(model, [{ text: 'a', label: 'x' }, { text: 'b', label: 'x' }]), /only one class/);
    await assert.rejects(trainProbes(model, [{ text: 'a', label: 'x' }, { text: 'b', label: 'y' }, { text: 'c', label: 'y' }]), /"x" has 1 example/);
    await assert.rejects(trainProbes(model, [{ text: 'a', value: 1 }, { text: 'b', value: NaN }]), /not a finite number/);
    await assert.rejects(trainProbes(model, examples.slice(0, 3)), /too few/);
    await assert.rejects(trainProbes(model, examples, { layers: [7] }), /layer 7 does not exist/);
    const wide: LinearProbe = { task: 'regression', site: 'resid_post', positions: 'last', classes: [], hiddenSize: 5, layers: new Map([[0, { weight: new Float32Array(5), bias: new Float32Array(1) }]]) };
    await assert.rejects(evaluateProbe(model, wide, examples), /hidden size 5/);
  });
});

describe('trainProbes on TinyStories-656K: sadness vs happiness (RepE scenarios)', () => {
  test('the emotion is linearly decodable well above chance at the best layer', async () => {
    const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
    try {
      const emotions = sharedPath('data', 'repe', 'emotions');
      const examples = readClassFiles([
        { name: 'happy', file: path.join(emotions, 'happiness.json') },
        { name: 'sad', file: path.join(emotions, 'sadness.json') },
      ]);
      const r = await trainProbes(model, examples, { positions: 'mean' });
      const best = r.perLayer.reduce((a, b) => (b.metrics.auroc! > a.metrics.auroc! ? b : a));
      // 431 examples: chance accuracy has a standard deviation of ~0.024, so these are > 5σ.
      assert.ok(best.metrics.accuracy! > 0.62, JSON.stringify(r.perLayer));
      assert.ok(best.metrics.auroc! > 0.68, JSON.stringify(r.perLayer));
      // The refit probe scores its own training data better than held-out folds did (it has seen them).
      const onTrain = await evaluateProbe(model, r.probe, examples);
      assert.ok(onTrain.every((l, i) => l.metrics.accuracy! >= r.perLayer[i].metrics.accuracy!));
    } finally {
      await model.dispose();
    }
  });
});
