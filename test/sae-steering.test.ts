import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import { evaluateSaeOnModel } from '../src/sae/sae-eval.js';
import { saveSae } from '../src/sae/sae-file.js';
import { featureClampIntervention, saeSpliceIntervention } from '../src/sae/sae-interventions.js';
import { featureAddIntervention } from '../src/steering/sae-feature-add.js';
import { SaeRunner } from '../src/sae/sae-runner.js';
import type { Sae } from '../src/sae/sae.js';
import { parseSteeringSpec } from '../src/steering/spec.js';
import { steeringHooks } from '../src/steering/resolve.js';
import { sharedPath } from '../src/util/shared-path.js';
import { losslessSae } from './helpers/sae.js';

const D = 128;
const AT = 'blocks.0.hook_resid_post';
const HOOK = { layer: 0, site: 'resid_post' } as const;
let model: HookedModel;
let ids: number[];
let clean: Float32Array;

/** A TopK SAE with random unit decoder rows and encoder = decoder transpose (many latents fire). */
function randomSae(dSae: number, k: number, seed: number, inputScale = 1): Sae {
  const rng = createRng(seed);
  const wDec = new Float32Array(dSae * D);
  for (let i = 0; i < dSae; i++) {
    let n = 0;
    for (let d = 0; d < D; d++) n += (wDec[i * D + d] = rng.nextFloat() * 2 - 1) ** 2;
    for (let d = 0; d < D; d++) wDec[i * D + d] /= Math.sqrt(n);
  }
  const wEnc = new Float32Array(D * dSae);
  for (let i = 0; i < dSae; i++) for (let d = 0; d < D; d++) wEnc[d * dSae + i] = wDec[i * D + d];
  return {
    cfg: { dIn: D, dSae, activation: { kind: 'topk', k }, hook: HOOK, applyBDecToInput: true, inputScale, format: 'steerer' },
    weights: { wEnc, bEnc: new Float32Array(dSae), wDec, bDec: Float32Array.from({ length: D }, (_, d) => 0.01 * Math.sin(d)) },
  };
}

async function capture(hooks: Hook[] = []): Promise<Float32Array> {
  const out = await model.forward({ tokens: [ids], hooks: [...hooks, { kind: 'capture', at: AT }], logits: 'none' });
  return out.captures.get(AT)!.data.slice();
}

before(async () => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  ids = model.encode('The little cat was sad because it lost its red ball.');
  clean = await capture();
});
after(() => model.dispose());

describe('SAE interventions in the forward graph', () => {
  const sae = randomSae(64, 8, 1, 0.5);

  test('clamping a feature to its current value changes nothing', async () => {
    const t = 4;
    const codes = await new SaeRunner(sae, { threads: 1 }).encodeSparse(clean.subarray(t * D, (t + 1) * D), 1);
    const feature = codes.indices[0];
    const value = codes.values[0];
    assert.ok(value > 0);
    const hooks: Hook[] = [{ kind: 'intervene', at: AT, intervention: featureClampIntervention(sae, [{ feature, value }], { indices: [t] }) }];
    const steered = await model.forward({ tokens: [ids], hooks, logits: 'all' });
    const base = await model.forward({ tokens: [ids], logits: 'all' });
    let worst = 0;
    for (let i = 0; i < base.logits!.length; i++) worst = Math.max(worst, Math.abs(base.logits![i] - steered.logits![i]));
    assert.ok(worst < 1e-4, `largest logit change ${worst}`);
  });

  test('clamp and ablate add (c − z)·W_dec[f]/s, keeping the reconstruction error', async () => {
    const runner = new SaeRunner(sae, { threads: 1 });
    const z = await runner.encodeDense(clean, ids.length);
    const feature = z.indexOf(Math.max(...z));
    for (const target of [0, 7]) {
      const after = await capture([{ kind: 'intervene', at: AT, intervention: featureClampIntervention(sae, [{ feature, value: target }]) }]);
      for (let t = 0; t < ids.length; t++) {
        const zf = z[t * 64 + feature];
        for (let d = 0; d < D; d++) {
          const expected = clean[t * D + d] + ((target - zf) * sae.weights.wDec[feature * D + d]) / 0.5;
          assert.ok(Math.abs(after[t * D + d] - expected) < 1e-3, `token ${t} dim ${d}: ${after[t * D + d]} vs ${expected}`);
        }
      }
    }
  });

  test('add moves along the decoder row; splice replaces activations with reconstructions', async () => {
    const added = await capture([{ kind: 'intervene', at: AT, intervention: featureAddIntervention(sae, [3, 5], 2) }]);
    for (let t = 0; t < ids.length; t++) {
      for (let d = 0; d < D; d++) {
        const expected = clean[t * D + d] + (2 * (sae.weights.wDec[3 * D + d] + sae.weights.wDec[5 * D + d])) / 0.5;
        assert.ok(Math.abs(added[t * D + d] - expected) < 1e-4);
      }
    }
    const spliced = await capture([{ kind: 'intervene', at: AT, intervention: saeSpliceIntervention(sae) }]);
    const recon = await new SaeRunner(sae, { threads: 1 }).reconstruct(clean, ids.length);
    for (let i = 0; i < recon.length; i++) assert.ok(Math.abs(spliced[i] - recon[i]) < 1e-4);
  });

  test('bad clamps are refused', () => {
    assert.throws(() => featureClampIntervention(sae, [{ feature: 64, value: 1 }]), /feature 64 does not exist/);
    assert.throws(() => featureClampIntervention(sae, [{ feature: 1, value: Number.NaN }]), /finite/);
    assert.throws(() => featureClampIntervention(sae, [{ feature: 1, value: 1 }, { feature: 1, value: 2 }]), /twice/);
  });
});

describe('feature interventions in the steering spec', () => {
  test('a spec with an SAE file steers exactly like the direct hooks', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sae-spec-'));
    try {
      const sae = randomSae(32, 4, 2);
      saveSae(path.join(dir, 'l0.safetensors'), sae);
      const spec = parseSteeringSpec({ interventions: [{ sae: 'l0.safetensors', features: [2], operator: 'clamp', coefficient: 6 }, { sae: 'l0.safetensors', features: 9, coefficient: 3 }] });
      const viaSpec = await capture(steeringHooks(model, spec, dir));
      const direct = await capture([
        { kind: 'intervene', at: AT, intervention: featureClampIntervention(sae, [{ feature: 2, value: 6 }]) },
        { kind: 'intervene', at: AT, intervention: featureAddIntervention(sae, [9], 3) },
      ]);
      assert.deepEqual(viaSpec, direct);
      const ablate = parseSteeringSpec({ interventions: [{ sae: 'l0.safetensors', features: 2, operator: 'ablate' }] });
      const viaAblate = await capture(steeringHooks(model, ablate, dir));
      assert.deepEqual(viaAblate, await capture([{ kind: 'intervene', at: AT, intervention: featureClampIntervention(sae, [{ feature: 2, value: 0 }]) }]));
      assert.throws(() => steeringHooks(model, parseSteeringSpec({ interventions: [{ sae: 'l0.safetensors', features: 40 }] }), dir), /feature 40 does not exist/);
      assert.throws(() => steeringHooks(model, parseSteeringSpec({ interventions: [{ sae: 'nope.safetensors', features: 1 }] }), dir), /SAE nope\.safetensors not found/);
      const wide: Sae = { ...sae, cfg: { ...sae.cfg, hook: { layer: 5, site: 'resid_post' } } };
      saveSae(path.join(dir, 'l5.safetensors'), wide);
      assert.throws(() => steeringHooks(model, parseSteeringSpec({ interventions: [{ sae: 'l5.safetensors', features: 1 }] }), dir), /interventions\.0: .*layers 0\.\.1/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('spec validation names the bad field of a feature intervention', () => {
    assert.throws(() => parseSteeringSpec({ interventions: [{ sae: 'x', features: -1 }] }), /interventions\.0\.features/);
    assert.throws(() => parseSteeringSpec({ interventions: [{ sae: 'x', features: 1, operator: 'rotate' }] }), /interventions\.0\.operator/);
    assert.throws(() => parseSteeringSpec({ interventions: [{ sae: 'x', features: 1, layers: 3 }] }), /Unrecognized key/);
  });
});

describe('CE loss recovered', () => {
  test('a lossless SAE recovers 100 %, a decoder of zeros 0 %', async () => {
    const lossless = losslessSae(D, HOOK);
    const dSae = lossless.cfg.dSae;
    const contexts = ['Once upon a time there was a dog.', 'Tom and Sue went to the park to play.'].map((s) => model.encode(s));
    const good = await evaluateSaeOnModel(model, lossless, contexts);
    assert.ok(Math.abs(good.saeLoss - good.cleanLoss) < 1e-4);
    assert.ok(Math.abs(good.ceLossRecovered - 1) < 1e-3, `recovered ${good.ceLossRecovered}`);
    assert.ok(good.fvu < 1e-8);
    assert.ok(good.zeroLoss > good.cleanLoss + 0.5, 'zero-ablating the residual stream hurts');
    assert.equal(good.tokens, contexts.reduce((n, c) => n + c.length - 1, 0));
    const useless: Sae = { ...lossless, weights: { ...lossless.weights, wDec: new Float32Array(dSae * D) } };
    const bad = await evaluateSaeOnModel(model, useless, contexts);
    assert.ok(Math.abs(bad.ceLossRecovered) < 1e-3, `recovered ${bad.ceLossRecovered}`);
    // x̂ = 0: the error is all of x, at least its variance about the mean.
    assert.ok(bad.fvu >= 1 - 1e-6, `FVU ${bad.fvu}`);
  });
});
