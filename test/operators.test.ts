import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { steeringIntervention, type OperatorOptions } from '../src/steering/operators.js';
import { sharedPath } from '../src/util/shared-path.js';

let model: HookedModel;
let ids: number[];
const D = 128;
const AT = 'blocks.0.hook_resid_post';

before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  ids = model.encode('The little bird was sad because it lost its home.');
});
after(() => model.dispose());

function vec(seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: D }, () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  });
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: ArrayLike<number>): number => Math.sqrt(dot(a, a));

async function captureWith(opts?: Omit<OperatorOptions, 'vector'> & { vector?: Float32Array }): Promise<Float32Array[]> {
  const hooks: Hook[] = [];
  if (opts) hooks.push({ kind: 'intervene', at: AT, intervention: steeringIntervention({ vector: vec(1), ...opts }) });
  hooks.push({ kind: 'capture', at: AT });
  const out = await model.forward({ tokens: [ids], hooks, logits: 'none' });
  const data = out.captures.get(AT)!.data;
  return Array.from({ length: ids.length }, (_, r) => data.slice(r * D, (r + 1) * D));
}

describe('steering operators (compiled into the graph)', () => {
  const v = vec(1);
  const u = v.map((x) => x / norm(v));

  test('ablate leaves no component along the direction', async () => {
    const base = await captureWith();
    const rows = await captureWith({ operator: 'ablate', coefficient: 0 });
    rows.forEach((row, r) => {
      assert.ok(Math.abs(dot(row, u)) < 1e-4 * norm(base[r]), `row ${r}: ${dot(row, u)}`);
      // and nothing orthogonal to u changed: x' = x − (x·u)u
      const want = base[r].map((x, i) => x - dot(base[r], u) * u[i]);
      row.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-4));
    });
  });

  test('clamp sets exactly the requested projection', async () => {
    for (const c of [-3, 0, 7.5]) {
      const rows = await captureWith({ operator: 'clamp', coefficient: c });
      rows.forEach((row) => assert.ok(Math.abs(dot(row, u) - c) < 1e-4, `projection ${dot(row, u)} vs ${c}`));
    }
  });

  test('ablate_then_add gives projection c·|v| along u', async () => {
    const rows = await captureWith({ operator: 'ablate_then_add', coefficient: 2 });
    rows.forEach((row) => assert.ok(Math.abs(dot(row, u) - 2 * norm(v)) < 1e-4));
  });

  test('rotate keeps the norm and turns the angle toward u by the given degrees', async () => {
    const base = await captureWith();
    const rows = await captureWith({ operator: 'rotate', coefficient: 20 });
    rows.forEach((row, r) => {
      assert.ok(Math.abs(norm(row) - norm(base[r])) < 1e-4 * norm(base[r]), 'norm kept');
      const before = Math.acos(dot(base[r], u) / norm(base[r]));
      const after = Math.acos(Math.max(-1, Math.min(1, dot(row, u) / norm(row))));
      assert.ok(Math.abs(before - after - (20 * Math.PI) / 180) < 1e-3, `angle ${before} → ${after}`);
    });
  });

  test('preserveNorm keeps each row norm under add', async () => {
    const base = await captureWith();
    const rows = await captureWith({ operator: 'add', coefficient: 8, preserveNorm: true });
    rows.forEach((row, r) => assert.ok(Math.abs(norm(row) - norm(base[r])) < 1e-4 * norm(base[r])));
    const unnormed = await captureWith({ operator: 'add', coefficient: 8 });
    assert.ok(Math.abs(norm(unnormed[0]) - norm(base[0])) > 1e-2);
  });

  test('mean_center adds c·(v − μ)', async () => {
    const base = await captureWith();
    const mean = vec(9);
    const rows = await captureWith({ operator: 'mean_center', coefficient: 1.5, mean });
    rows.forEach((row, r) => row.forEach((x, i) => assert.ok(Math.abs(x - (base[r][i] + 1.5 * (v[i] - mean[i]))) < 1e-4)));
    await assert.rejects(captureWith({ operator: 'mean_center', coefficient: 1 }), /stored mean/);
  });

  test('masked operators leave unselected rows bit-identical', async () => {
    const base = await captureWith();
    for (const operator of ['ablate', 'clamp', 'rotate'] as const) {
      const rows = await captureWith({ operator, coefficient: 3, positions: { from: 4 } });
      rows.forEach((row, r) => {
        const same = row.every((x, i) => Object.is(x, base[r][i]));
        assert.equal(same, r < 4, `${operator} row ${r}`);
      });
    }
  });

  test('invalid operator settings are clear errors', () => {
    assert.throws(() => steeringIntervention({ operator: 'ablate', vector: new Float32Array(D), coefficient: 1 }), /non-zero direction/);
    assert.throws(() => steeringIntervention({ operator: 'add', vector: v, coefficient: Number.POSITIVE_INFINITY }), /finite/);
    assert.throws(() => steeringIntervention({ operator: 'bogus' as 'add', vector: v, coefficient: 1 }), /unknown operator/);
    assert.throws(() => steeringIntervention({ operator: 'add', vector: v, coefficient: 1, positions: { last: -1 } }), /non-negative/);
  });
});
