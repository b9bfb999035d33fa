import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Dim } from '../src/graph/onnx-builder.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import type { LinearProbe } from '../src/probes/probe.js';
import { generateBatch } from '../src/decoding/generate.js';
import type { Activation, Hook, StepInfo } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { parseSteerShorthand } from '../src/steering/resolve.js';
import { compileSteeringSpec, parseSteeringSpec, type ResolvedIntervention, type SpecResolver } from '../src/steering/spec.js';
import { targetIntervention, type TargetOptions } from '../src/steering/target-operator.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { sharedPath } from '../src/util/shared-path.js';
import { rng } from './helpers/prng.js';
import { skipUnlessShared } from './helpers/shared.js';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>, off = 0): number => {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[off + i] * b[i];
  return s;
};
const randoms = (n: number, seed: number, scale = 1): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};

/** Runs the operator's graph alone on x [B, S, D], as the forward graph would. */
async function runOp(opts: TargetOptions, x: Float32Array, B: number, S: number, positions?: Int32Array, promptLength = S): Promise<Float32Array> {
  const D = opts.read.length;
  const iv = targetIntervention(opts);
  const g = new GraphBuilder('target');
  const input = g.input('x', 'float32', ['batch', 'seq', D]);
  // The forward graph also passes a context for sharing values; this operator does not use it.
  const emit = iv.emit.bind(iv) as unknown as (g: GraphBuilder, x: string, param: (name: string, dims: readonly Dim[]) => string) => string;
  g.output(emit(g, input, (name, dims) => g.input(`p.${name}`, 'float32', dims)), 'float32', ['batch', 'seq', D], 'y');
  const step: StepInfo = { batch: B, seq: S, positions: positions ?? Int32Array.from({ length: B * S }, (_, i) => i % S), promptLengths: Array(B).fill(promptLength) };
  const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x, [B, S, D]) };
  for (const [name, p] of Object.entries(iv.params(step))) feeds[`p.${name}`] = new ort.Tensor('float32', p.data, [...p.dims]);
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    return (await session.run(feeds)).y.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('target operator against a JavaScript reference', () => {
  const [B, S, D] = [3, 7, 24];
  const x = randoms(B * S * D, 1, 4);
  const read = randoms(D, 2, 0.7); // not a unit vector: a probe's weights
  const offset = 0.4;
  const aa = dot(read, read);
  const s = Array.from({ length: B * S }, (_, r) => dot(x, read, r * D) + offset);
  // A target between the rows' read-outs, so some rows are below it and some above.
  const target = [...s].sort((p, q) => p - q)[Math.floor(s.length / 2)] + 1e-3;

  for (const atMost of [false, true]) {
    test(`rows on the wrong side end exactly on the target, the others are untouched bit for bit (${atMost ? 'at most' : 'at least'})`, async () => {
      const y = await runOp({ read, offset, target, atMost }, x, B, S);
      let moved = 0;
      for (let r = 0; r < B * S; r++) {
        const row = y.subarray(r * D, (r + 1) * D);
        const wrongSide = atMost ? s[r] > target : s[r] < target;
        if (!wrongSide) {
          assert.ok(row.every((v, i) => Object.is(v, x[r * D + i])), `row ${r} (read-out ${s[r]}) changed`);
          continue;
        }
        moved++;
        // Reference in float64: x + (t − s)·a/|a|².
        for (let i = 0; i < D; i++) {
          const want = x[r * D + i] + ((target - s[r]) * read[i]) / aa;
          assert.ok(Math.abs(row[i] - want) < 1e-5 * (1 + Math.abs(want)), `row ${r}[${i}]: ${row[i]} vs ${want}`);
        }
        assert.ok(Math.abs(dot(row, read) + offset - target) < 1e-4 * (1 + Math.abs(target)), `row ${r} read-out ${dot(row, read) + offset} vs target ${target}`);
      }
      assert.ok(moved >= 5 && moved <= B * S - 5, `${moved} rows moved`);
    });
  }

  test('unselected positions are left bit for bit, selected ones reach the target', async () => {
    const high = Math.max(...s) + 1; // every row is below: only the mask decides
    const y = await runOp({ read, offset, target: high, positions: { from: 3 } }, x, B, S);
    for (let r = 0; r < B * S; r++) {
      const row = y.subarray(r * D, (r + 1) * D);
      if (r % S < 3) assert.ok(row.every((v, i) => Object.is(v, x[r * D + i])), `row ${r}`);
      else assert.ok(Math.abs(dot(row, read) + offset - high) < 1e-4 * high, `row ${r}`);
    }
  });

  test('invalid operator settings are clear errors', () => {
    assert.throws(() => targetIntervention({ read: new Float32Array(4), offset: 0, target: 1 }), /non-zero direction/);
    assert.throws(() => targetIntervention({ read, offset: 0, target: Number.NaN }), /target must be a finite number/);
    assert.throws(() => targetIntervention({ read: Float32Array.of(1, Number.POSITIVE_INFINITY), offset: 0, target: 1 }), /non-finite/);
  });
});

const MODEL = sharedPath('models', 'tinystories-656k');
describe('target steering through the model (tinystories-656k)', { skip: skipUnlessShared(MODEL) }, () => {
  let model: HookedModel;
  let ids: number[];
  const H = 128;
  const dirs = new Map([0, 1].map((l) => [l, randoms(H, 10 + l, 0.3)] as const));
  const means = new Map([0, 1].map((l) => [l, randoms(H, 20 + l, 0.5)] as const));
  const vector = (recommended?: { coefficient?: number }, withMeans = true): SteeringVector => ({
    directions: dirs,
    ...(withMeans ? { means } : {}),
    meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'llama', hiddenSize: H, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), recommended: { layers: [1], ...recommended } },
  });
  const probe: LinearProbe = {
    task: 'classification',
    site: 'resid_post',
    positions: 'last',
    classes: ['no', 'yes'],
    layers: new Map([[1, { weight: randoms(H, 30, 0.2), bias: Float32Array.of(-0.3) }]]),
    hiddenSize: H,
  };
  const resolver = (v: SteeringVector = vector()): SpecResolver => ({ vector: () => v, sae: () => assert.fail('no SAE'), probe: () => probe });
  const shape = { hiddenSize: H, numLayers: 2 };
  const compile = (iv: Record<string, unknown>, v?: SteeringVector, seen: ResolvedIntervention[] = []): Hook[] =>
    compileSteeringSpec(parseSteeringSpec({ interventions: [iv] }), shape, resolver(v), (r) => seen.push(r));
  const unit = (l: number): Float32Array => {
    const d = dirs.get(l)!;
    const n = Math.sqrt(dot(d, d));
    return d.map((x) => x / n);
  };
  const centred = (row: Float32Array, l: number): number => dot(row, unit(l)) - dot(means.get(l)!, unit(l));

  before(() => {
    model = new HookedModel(loadModel(MODEL), { threads: 1 });
    ids = model.encode('The little bird was sad because it lost its home. It looked everywhere.');
  });
  after(() => model.dispose());

  async function capture(hooks: Hook[]): Promise<Float32Array[][]> {
    const at = [0, 1].map((l) => `blocks.${l}.hook_resid_post`);
    const out = await model.forward({ tokens: [ids], hooks: [...hooks, ...at.map((a) => ({ kind: 'capture' as const, at: a }))], logits: 'none' });
    return at.map((a) => Array.from({ length: ids.length }, (_, r) => out.captures.get(a)!.data.slice(r * H, (r + 1) * H)));
  }

  test('captured values hold the centred projection at least at the target on every selected token; rows above it are untouched', async () => {
    const base = await capture([]);
    const t = 4;
    const steered = await capture(compile({ vector: 'v', layers: [0, 1], target: t, positions: { from: 3 } }));
    for (const l of [0, 1]) {
      for (let r = 3; r < ids.length; r++) assert.ok(centred(steered[l][r], l) >= t - 1e-3, `layer ${l} row ${r}: ${centred(steered[l][r], l)}`);
    }
    // At the first steered point a row's input is the unsteered run's: unselected rows and rows already at the target stay as they were.
    let below = 0;
    base[0].forEach((row, r) => {
      const untouched = r < 3 || centred(row, 0) >= t;
      if (!untouched) below++;
      if (untouched) assert.ok(steered[0][r].every((x, i) => Object.is(x, row[i])), `layer 0 row ${r} changed`);
    });
    assert.ok(below > 0 && below < ids.length - 3, `${below} rows below the target: pick a target between the rows`);
  });

  test('during generation every generated token is held (at most, here); the prompt is not steered', async () => {
    const t = -2;
    const rows: { position: number; value: number }[] = [];
    const record = (act: Activation): void => {
      for (let r = 0; r < act.batch * act.seq; r++) if (act.positions[r] >= 0) rows.push({ position: act.positions[r], value: centred(act.data.slice(r * H, (r + 1) * H), 1) });
    };
    const hooks = [...compile({ vector: 'v', layers: [1], target: { value: t, atMost: true }, positions: 'generated' }), { kind: 'edit' as const, at: 'blocks.1.hook_resid_post', fn: record }];
    const [out] = await generateBatch(model, [ids], { maxTokens: 8, temperature: 0, hooks, stopTokens: [], keepSpecialText: true });
    const generated = rows.filter((r) => r.position >= ids.length);
    assert.equal(generated.length, out.tokens.length - 1, `${generated.length} generated rows seen for ${out.tokens.length} tokens (${out.finishReason})`);
    for (const r of generated) assert.ok(r.value <= t + 1e-3, `position ${r.position}: ${r.value}`);
    assert.ok(rows.some((r) => r.position < ids.length && r.value > t + 0.1), 'some prompt row sits above the target, unsteered');
  });

  test("a probe target holds the probe's logit w·x + b, pushing along its weights", async () => {
    const seen: ResolvedIntervention[] = [];
    const { weight, bias } = probe.layers.get(1)!;
    for (const [target, atMost] of [[2, false], [-1, true]] as const) {
      const steered = await capture(compile({ target: { value: target, probe: 'p.probe.json', atMost } }, undefined, seen));
      for (const row of steered[1]) {
        const logit = dot(row, weight) + bias[0];
        assert.ok(atMost ? logit <= target + 1e-3 : logit >= target - 1e-3, `logit ${logit}`);
      }
    }
    assert.deepEqual(seen.map((r) => r.kind === 'vector' && [r.layers, r.target]), [
      [[1], { values: [2], atMost: false, from: 'given', units: 'logit', probe: 'p.probe.json' }],
      [[1], { values: [-1], atMost: true, from: 'given', units: 'logit', probe: 'p.probe.json' }],
    ]);
  });

  test('"recommended" is c·|v| at each layer, at most for a negative c; units are reported', () => {
    const seen: ResolvedIntervention[] = [];
    compile({ vector: 'v', layers: [0, 1], target: 'recommended' }, vector({ coefficient: 2 }), seen);
    compile({ vector: 'v', target: 'recommended' }, vector({ coefficient: -1.5 }), seen);
    compile({ vector: 'v', layers: 1, target: 3 }, vector({}, false), seen);
    const norm = (l: number): number => Math.sqrt(dot(dirs.get(l)!, dirs.get(l)!));
    const got = seen.map((r) => (r.kind === 'vector' ? r.target! : assert.fail()));
    assert.deepEqual(got.map((t) => [t.atMost, t.from, t.units]), [[false, 'recommended', 'centred'], [true, 'recommended', 'centred'], [false, 'given', 'raw']]);
    got[0].values.forEach((v, i) => assert.ok(Math.abs(v - 2 * norm(i)) < 1e-9));
    assert.ok(Math.abs(got[1].values[0] + 1.5 * norm(1)) < 1e-9);
    assert.equal(seen[0].coefficient, 0);
    assert.throws(() => compile({ vector: 'v', target: 'recommended' }, vector()), /records no recommended coefficient/);
    assert.throws(() => compile({ vector: 'v', target: 'recommended' }, vector({ coefficient: 2 }, false)), /stored mean activation/);
  });

  test('a probe that does not fit is a clear error', () => {
    const multi: LinearProbe = { ...probe, classes: ['a', 'b', 'c'], layers: new Map([[1, { weight: randoms(3 * H, 3), bias: new Float32Array(3) }]]) };
    const withProbe = (p: LinearProbe, iv: Record<string, unknown>): Hook[] =>
      compileSteeringSpec(parseSteeringSpec({ interventions: [{ target: { value: 1, probe: 'p' }, ...iv }] }), shape, { vector: () => assert.fail(), sae: () => assert.fail(), probe: () => p });
    assert.throws(() => withProbe(multi, {}), /3 outputs/);
    assert.throws(() => withProbe(probe, { site: 'mlp_out' }), /reads resid_post, not mlp_out/);
    assert.throws(() => withProbe(probe, { layers: [0] }), /no layer 0/);
    assert.throws(() => compileSteeringSpec(parseSteeringSpec({ interventions: [{ target: { value: 1, probe: 'p' } }] }), shape, { vector: () => assert.fail(), sae: () => assert.fail() }), /cannot load/);
  });
});

describe('target in the spec and the --steer shorthand', () => {
  const bad = (iv: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(() => parseSteeringSpec({ interventions: [iv] }), (e: Error) => e instanceof InvalidInputError && pattern.test(e.message), JSON.stringify(iv));

  test('invalid targets are rejected with the field named', () => {
    bad({ vector: 'v', target: 2, coefficient: 1 }, /interventions\.0\.target: give either coefficient .* or target/);
    bad({ vector: 'v', target: 2, operator: 'clamp' }, /interventions\.0\.target: target works with the add operator/);
    bad({ vector: 'v', target: 2, preserveNorm: true }, /interventions\.0\.preserveNorm: target and preserveNorm do not mix/);
    bad({ vector: 'v', target: { value: 1, probe: 'p' } }, /interventions\.0\.vector: a probe target pushes along the probe's own weights/);
    bad({ target: 2 }, /interventions\.0\.vector: operator add needs a vector/);
    bad({ vector: 'v', target: Number.POSITIVE_INFINITY }, /interventions\.0\.target/);
    bad({ vector: 'v', target: 'strong' }, /interventions\.0\.target/);
    bad({ vector: 'v', target: { value: 1, atLeast: true } }, /interventions\.0\.target/);
  });

  test('FILE:=T, FILE:>=T and FILE:<=T hold a level; FILE:c@layers is unchanged', () => {
    const pick = (arg: string): unknown => {
      const iv = parseSteerShorthand(arg);
      return [iv.vector, iv.coefficient, iv.target, iv.layers];
    };
    assert.deepEqual(pick('sad.safetensors:=2.5'), ['sad.safetensors', undefined, 2.5, 'recommended']);
    assert.deepEqual(pick('sad.safetensors:>=-1e1@0,1'), ['sad.safetensors', undefined, -10, [0, 1]]);
    assert.deepEqual(pick('sad.safetensors:<=-3@1'), ['sad.safetensors', undefined, { value: -3, atMost: true }, [1]]);
    assert.deepEqual(pick('sad.safetensors:=recommended'), ['sad.safetensors', undefined, 'recommended', 'recommended']);
    assert.deepEqual(pick('sad.safetensors:4@1'), ['sad.safetensors', 4, undefined, [1]]);
    assert.throws(() => parseSteerShorthand('sad.safetensors:<=recommended'), /write sad\.safetensors:=recommended/);
    assert.throws(() => parseSteerShorthand('sad.safetensors:=abc'), /must be a finite number/);
  });
});
