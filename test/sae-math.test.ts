import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/graph/onnx-builder.js';
import { buildTrainStep, TRAIN_PARAMS, type TrainParam } from '../src/sae/sae-graphs.js';
import { SaeRunner } from '../src/sae/sae-runner.js';
import { trainSae } from '../src/sae/train.js';
import { featureEffect, saeFilteredVector } from '../src/sae/filter-vector.js';
import type { Sae, SaeActivation } from '../src/sae/sae.js';
import { createRng } from '../src/runtime/rng.js';
import { losslessSae } from './helpers/sae.js';

const HOOK = { layer: 0, site: 'resid_post' } as const;

function smallSae(activation: SaeActivation, over: Partial<Sae['cfg']> = {}, threshold?: Float32Array): Sae {
  // dIn 2, dSae 3. W_enc columns: e0, e1, e0+e1; W_dec rows chosen by hand.
  return {
    cfg: { dIn: 2, dSae: 3, activation, hook: HOOK, applyBDecToInput: true, inputScale: 1, format: 'steerer', ...over },
    weights: {
      wEnc: Float32Array.of(1, 0, 1, 0, 1, 1),
      bEnc: Float32Array.of(0, -0.5, -1),
      wDec: Float32Array.of(1, 0, 0, 2, 0.5, 0.5),
      bDec: Float32Array.of(0.1, 0.2),
      threshold,
    },
  };
}

describe('SAE encode and decode against hand-computed values', () => {
  // x = (1.1, 0.7) → centred (1.0, 0.5) → pre = (1.0, 0.0, 0.5)
  const x = Float32Array.of(1.1, 0.7);

  test('TopK keeps the k largest (after ReLU) and decodes with b_dec', async () => {
    const r = new SaeRunner(smallSae({ kind: 'topk', k: 2 }), { threads: 1 });
    const z = await r.encodeDense(x, 1);
    assert.deepEqual([...z].map((v) => +v.toFixed(6)), [1, 0, 0.5]);
    const codes = await r.encodeSparse(x, 1);
    assert.deepEqual([...codes.indices], [0, 2]);
    assert.deepEqual([...codes.values].map((v) => +v.toFixed(6)), [1, 0.5]);
    // x̂ = 1·(1,0) + 0.5·(0.5,0.5) + (0.1,0.2) = (1.35, 0.45)
    const xHat = await r.reconstruct(x, 1);
    assert.deepEqual([...xHat].map((v) => +v.toFixed(6)), [1.35, 0.45]);
    const k1 = await new SaeRunner(smallSae({ kind: 'topk', k: 1 }), { threads: 1 }).encodeDense(x, 1);
    assert.deepEqual([...k1].map((v) => +v.toFixed(6)), [1, 0, 0]);
  });

  test('ReLU, JumpReLU, input scale and an uncentred encoder', async () => {
    const relu = await new SaeRunner(smallSae({ kind: 'relu' }), { threads: 1 }).encodeDense(Float32Array.of(0.1, 2.2), 1);
    // centred (0, 2) → pre = (0, 1.5, 1)
    assert.deepEqual([...relu].map((v) => +v.toFixed(6)), [0, 1.5, 1]);
    const jump = await new SaeRunner(smallSae({ kind: 'jumprelu' }, {}, Float32Array.of(0.5, 2, 0.9)), { threads: 1 }).encodeDense(Float32Array.of(0.1, 2.2), 1);
    assert.deepEqual([...jump].map((v) => +v.toFixed(6)), [0, 0, 1]);
    // scale 2: x̃ = (2.2, 1.4), centred (2.1, 1.2) → pre (2.1, 0.7, 2.3); x̂ = (W_dec ᵀz + b_dec)/2
    const scaled = new SaeRunner(smallSae({ kind: 'relu' }, { inputScale: 2 }), { threads: 1 });
    assert.deepEqual([...(await scaled.encodeDense(x, 1))].map((v) => +v.toFixed(5)), [2.1, 0.7, 2.3]);
    const rec = await scaled.reconstruct(x, 1);
    assert.deepEqual([...rec].map((v) => +v.toFixed(5)), [+((2.1 + 1.15 + 0.1) / 2).toFixed(5), +((1.4 + 1.15 + 0.2) / 2).toFixed(5)]);
    const raw = await new SaeRunner(smallSae({ kind: 'relu' }, { applyBDecToInput: false }), { threads: 1 }).encodeDense(x, 1);
    assert.deepEqual([...raw].map((v) => +v.toFixed(6)), [1.1, 0.2, 0.8]);
  });

  test('stats: FVU ingredients and L0 match a direct computation', async () => {
    const r = new SaeRunner(smallSae({ kind: 'topk', k: 2 }), { threads: 1 });
    const rows = Float32Array.of(1.1, 0.7, 0.1, 2.2, -1, 0.3);
    const xHat = await r.reconstruct(rows, 3);
    let sse = 0;
    for (let i = 0; i < rows.length; i++) sse += (xHat[i] - rows[i]) ** 2;
    const mean = [(1.1 + 0.1 - 1) / 3, (0.7 + 2.2 + 0.3) / 3];
    let sst = 0;
    for (let i = 0; i < 3; i++) for (let d = 0; d < 2; d++) sst += (rows[i * 2 + d] - mean[d]) ** 2;
    const s = await r.stats(rows, 3);
    assert.ok(Math.abs(s.sse - sse) < 1e-5 && Math.abs(s.sst - sst) < 1e-5, `${s.sse} vs ${sse}, ${s.sst} vs ${sst}`);
    const dense = await r.encodeDense(rows, 3);
    const active = [...dense].filter((v) => v > 0).length;
    assert.equal(s.l0, active / 3);
    assert.equal(s.fired.reduce((a, b) => a + b, 0), active);
  });
});

// ---------------------------------------------------------------------------------------------
// Training step: gradients by finite differences in float64, Adam by hand.

interface Params {
  W_enc: Float64Array;
  b_enc: Float64Array;
  W_dec: Float64Array;
  b_dec: Float64Array;
}

/**
 * The training loss in float64, written independently of the graph. The AuxK target is the main
 * reconstruction's residual held constant (`fixedErr`, from the unperturbed parameters), as
 * the graph treats it.
 */
function referenceLoss(
  x: Float64Array, B: number, D: number, S: number, k: number, p: Params,
  dead: Float64Array | undefined, kAux: number, auxScale: number, fixedErr?: number[], errs?: number[],
): number {
  const topk = (v: number[], kk: number, allowed: (i: number) => boolean): number[] => {
    const order = v.map((val, i) => [val, i] as const).filter(([, i]) => allowed(i)).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const z = new Array<number>(S).fill(0);
    for (const [val, i] of order.slice(0, kk)) z[i] = Math.max(0, val);
    return z;
  };
  const mean = new Float64Array(D);
  for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) mean[d] += x[b * D + d] / B;
  let sse = 0;
  let sst = 0;
  let auxSse = 0;
  for (let b = 0; b < B; b++) {
    const pre: number[] = [];
    for (let s = 0; s < S; s++) {
      let a = p.b_enc[s];
      for (let d = 0; d < D; d++) a += (x[b * D + d] - p.b_dec[d]) * p.W_enc[d * S + s];
      pre.push(a);
    }
    const z = topk(pre, k, () => true);
    const err: number[] = [];
    for (let d = 0; d < D; d++) {
      let r = p.b_dec[d];
      for (let s = 0; s < S; s++) r += z[s] * p.W_dec[s * D + d];
      err.push(r - x[b * D + d]);
      errs?.push(r - x[b * D + d]);
      sse += err[d] ** 2;
      sst += (x[b * D + d] - mean[d]) ** 2;
    }
    if (dead) {
      const za = topk(pre.map((v) => Math.max(0, v)), kAux, (i) => dead[i] > 0);
      for (let d = 0; d < D; d++) {
        let e = 0;
        for (let s = 0; s < S; s++) e += za[s] * p.W_dec[s * D + d];
        auxSse += (e + (fixedErr ? fixedErr[b * D + d] : err[d])) ** 2;
      }
    }
  }
  return sse / sst + (dead ? (auxScale * auxSse) / sst : 0);
}

function randomParams(D: number, S: number, seed: number): Params {
  const rng = createRng(seed);
  const r = (n: number, scale: number): Float64Array => Float64Array.from({ length: n }, () => (rng.nextFloat() * 2 - 1) * scale);
  const W_dec = r(S * D, 1);
  for (let s = 0; s < S; s++) {
    let n = 0;
    for (let d = 0; d < D; d++) n += W_dec[s * D + d] ** 2;
    for (let d = 0; d < D; d++) W_dec[s * D + d] /= Math.sqrt(n);
  }
  return { W_enc: r(D * S, 0.8), b_enc: r(S, 0.2), W_dec, b_dec: r(D, 0.3) };
}

async function trainGraph(D: number, S: number, k: number, kAux: number, withGrads: boolean): Promise<ort.InferenceSession> {
  const g = new GraphBuilder('t');
  buildTrainStep(g, { dIn: D, dSae: S, k, kAux, applyBDecToInput: true, withGrads }, { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  return ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1, logSeverityLevel: 3 });
}

function feedsFor(x: Float64Array, B: number, D: number, S: number, p: Params, lr: number, dead?: Float64Array, auxScale = 0): Record<string, ort.Tensor> {
  const dims: Record<TrainParam, number[]> = { W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D] };
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', Float32Array.from(x), [B, D]),
    scale: new ort.Tensor('float32', Float32Array.of(1), [1]),
    lr: new ort.Tensor('float32', Float32Array.of(lr), [1]),
  };
  for (const name of TRAIN_PARAMS) {
    feeds[name] = new ort.Tensor('float32', Float32Array.from(p[name]), dims[name]);
    feeds[`m.${name}`] = new ort.Tensor('float32', new Float32Array(p[name].length), dims[name]);
    feeds[`v.${name}`] = new ort.Tensor('float32', new Float32Array(p[name].length), dims[name]);
  }
  if (dead) {
    feeds.dead = new ort.Tensor('float32', Float32Array.from(dead), [S]);
    feeds.aux_scale = new ort.Tensor('float32', Float32Array.of(auxScale), [1]);
  }
  return feeds;
}

describe('TopK training step', () => {
  const B = 6;
  const D = 4;
  const S = 8;
  const k = 2;
  const rng = createRng(7);
  const x = Float64Array.from({ length: B * D }, () => rng.nextFloat() * 2 - 1);

  for (const withAux of [false, true]) {
    test(`gradients match finite differences of the float64 loss${withAux ? ' (with AuxK on dead latents)' : ''}`, async () => {
      const p = randomParams(D, S, 3);
      const dead = withAux ? Float64Array.from({ length: S }, (_, i) => (i % 2 === 1 ? 1 : 0)) : undefined;
      const kAux = withAux ? 2 : 0;
      const auxScale = 0.7;
      const session = await trainGraph(D, S, k, kAux, true);
      const out = await session.run(feedsFor(x, B, D, S, p, 0, dead, auxScale));
      const loss = (out['loss'].data as Float32Array)[0];
      const baseErr: number[] = [];
      assert.ok(Math.abs(loss - referenceLoss(x, B, D, S, k, p, dead, kAux, auxScale, undefined, baseErr)) < 1e-5, 'graph loss equals the reference loss');
      const h = 1e-5;
      let checked = 0;
      for (const name of TRAIN_PARAMS) {
        const grad = out[`grad.${name}`].data as Float32Array;
        for (let i = 0; i < p[name].length; i++) {
          const orig = p[name][i];
          p[name][i] = orig + h;
          const up = referenceLoss(x, B, D, S, k, p, dead, kAux, auxScale, baseErr);
          p[name][i] = orig - h;
          const down = referenceLoss(x, B, D, S, k, p, dead, kAux, auxScale, baseErr);
          p[name][i] = orig;
          const numeric = (up - down) / (2 * h);
          const tol = 2e-4 + 2e-3 * Math.abs(numeric);
          assert.ok(Math.abs(grad[i] - numeric) < tol, `${name}[${i}]: graph ${grad[i]} vs finite difference ${numeric}`);
          checked++;
        }
      }
      assert.equal(checked, D * S * 2 + S + D);
    });
  }

  test('one Adam step: tangent decoder gradient, bias-corrected update, unit decoder rows', async () => {
    const p = randomParams(D, S, 5);
    const session = await trainGraph(D, S, k, 0, true);
    const lr = 0.01;
    const out = await session.run(feedsFor(x, B, D, S, p, lr));
    for (const name of TRAIN_PARAMS) {
      const grad = out[`grad.${name}`].data as Float32Array;
      let g = Float64Array.from(grad);
      if (name === 'W_dec') {
        g = g.slice();
        for (let s = 0; s < S; s++) {
          let along = 0;
          for (let d = 0; d < D; d++) along += g[s * D + d] * p.W_dec[s * D + d];
          for (let d = 0; d < D; d++) g[s * D + d] -= along * p.W_dec[s * D + d];
        }
      }
      // From zero moments: m = 0.1 g, v = 0.001 g², step = lr·m/(√v + ε).
      const expected = Float64Array.from(p[name], (v, i) => v - (lr * 0.1 * g[i]) / (Math.sqrt(0.001 * g[i] * g[i]) + 1e-8));
      if (name === 'W_dec') {
        for (let s = 0; s < S; s++) {
          let n = 0;
          for (let d = 0; d < D; d++) n += expected[s * D + d] ** 2;
          for (let d = 0; d < D; d++) expected[s * D + d] /= Math.sqrt(n);
        }
      }
      const next = out[`next.${name}`].data as Float32Array;
      for (let i = 0; i < next.length; i++) assert.ok(Math.abs(next[i] - expected[i]) < 1e-5, `${name}[${i}]: ${next[i]} vs ${expected[i]}`);
    }
  });
});

/** Data made of sparse combinations of hidden unit directions, the setting SAEs are built for. */
function syntheticBatches(D: number, truth: number, active: number, batch: number, batches: number, seed: number): () => AsyncGenerator<Float32Array> {
  const rng = createRng(seed);
  const dirs = Array.from({ length: truth }, () => {
    const v = Float64Array.from({ length: D }, () => rng.nextFloat() * 2 - 1);
    const n = Math.hypot(...v);
    return v.map((a) => a / n);
  });
  const data = Array.from({ length: batches }, () => {
    const out = new Float32Array(batch * D);
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < active; j++) {
        const f = Math.floor(rng.nextFloat() * truth);
        const a = 1 + rng.nextFloat() * 2;
        for (let d = 0; d < D; d++) out[r * D + d] += a * dirs[f][d];
      }
    }
    return out;
  });
  return async function* () {
    for (const b of data) yield b;
  };
}

describe('TopK training loop', () => {
  test('learns synthetic sparse data: FVU falls below 0.12 with unit decoder rows', async () => {
    const source = syntheticBatches(16, 32, 3, 256, 400, 11);
    const steps: number[] = [];
    const result = await trainSae(source(), { dIn: 16, dSae: 64, k: 4, hook: HOOK, batchSize: 256, steps: 400, lr: 1e-2, threads: 1, onStep: (m) => steps.push(m.fvu) });
    assert.equal(result.steps, 400);
    const early = steps.slice(0, 10).reduce((a, b) => a + b) / 10;
    const late = steps.slice(-20).reduce((a, b) => a + b) / 20;
    assert.ok(late < 0.12, `final FVU ${late}`);
    assert.ok(late < early / 3, `FVU fell from ${early} to ${late}`);
    // The trained SAE, measured on fresh data by the inference graphs, agrees.
    const fresh = syntheticBatches(16, 32, 3, 256, 1, 11)();
    const batch = (await fresh.next()).value as Float32Array;
    const stats = await new SaeRunner(result.sae, { threads: 1 }).stats(batch, 256);
    assert.ok(stats.sse / stats.sst < 0.15, `held-out FVU ${stats.sse / stats.sst}`);
    assert.ok(stats.l0 <= 4);
    for (let i = 0; i < 64; i++) {
      let n = 0;
      for (let d = 0; d < 16; d++) n += result.sae.weights.wDec[i * 16 + d] ** 2;
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-4, `decoder row ${i} has norm ${Math.sqrt(n)}`);
    }
  });

  test('a run resumed from its checkpoint ends with the same weights as an uninterrupted one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sae-ckpt-'));
    try {
      const source = syntheticBatches(8, 16, 2, 64, 40, 3);
      const opts = { dIn: 8, dSae: 32, k: 2, hook: HOOK, batchSize: 64, steps: 40, lr: 1e-2, threads: 1, deadTokens: 256 } as const;
      const straight = await trainSae(source(), opts);
      const ckpt = path.join(dir, 'ckpt.safetensors');
      const controller = new AbortController();
      const first = await trainSae(source(), { ...opts, checkpoint: { path: ckpt, everySteps: 5 }, signal: controller.signal, onStep: (m) => m.step === 17 && controller.abort() });
      assert.equal(first.interrupted, true);
      assert.equal(first.steps, 17);
      const resumed = await trainSae(source(), { ...opts, resumeFrom: ckpt });
      assert.equal(resumed.steps, 40);
      assert.deepEqual(resumed.sae.weights.wDec, straight.sae.weights.wDec);
      assert.deepEqual(resumed.sae.weights.bDec, straight.sae.weights.bDec);
      await assert.rejects(trainSae(source(), { ...opts, k: 3, resumeFrom: ckpt }), /different k/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SAE-filtered vectors', () => {
  // Lossless: the full feature-space effect decodes back to v.
  const D = 3;
  const dSae = 2 * D;
  const lossless = losslessSae(D, HOOK);
  const reference = Float32Array.of(1, 2, 3, 2, 1, 0.5);
  const v = Float32Array.of(0.5, -0.25, 0.1);

  test('with every feature kept the filtered vector is the vector itself', async () => {
    const f = await saeFilteredVector(lossless, v, reference, 2, { topK: dSae });
    assert.ok(Math.abs(f.cosine - 1) < 1e-6);
    f.direction.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6));
    assert.ok(Math.abs(f.keptMass - 1) < 1e-9);
  });

  test('keeping the strongest feature keeps the largest component, rescaled to |v|', async () => {
    // Rows are positive, so Δz = (0.5, −0.25, 0.1) on the x⁺ latents: feature 0 is the largest.
    const effect = await featureEffect(lossless, v, reference, 2);
    assert.deepEqual([...effect].map((x) => +x.toFixed(6)), [0.5, -0.25, 0.1, 0, 0, 0]);
    const f = await saeFilteredVector(lossless, v, reference, 2, { topK: 1 });
    assert.deepEqual(f.features.map((x) => x.feature), [0]);
    const norm = Math.hypot(...v);
    assert.deepEqual([...f.direction].map((x) => +x.toFixed(5)), [+norm.toFixed(5), 0, 0]);
    const positive = await saeFilteredVector(lossless, v, reference, 2, { topK: 2, positiveOnly: true });
    assert.deepEqual(positive.features.map((x) => x.feature), [0, 2]);
    await assert.rejects(saeFilteredVector(lossless, Float32Array.of(1, 2), reference, 2), /SAE reads 3/);
  });
});
