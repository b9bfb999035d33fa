import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../src/io/errors.js';
import { VECTOR_FORMAT } from '../src/steering/vector-validation.js';
import {
  addVectors, combineWeighted, cosineMatrix, cosineSimilarity, normalizeVector, projectOut, scaleVector, subtractVectors,
} from '../src/steering/vector-math.js';
import type { ModelIdentity, SteeringVector, VectorMeta } from '../src/steering/vector.js';

const MODEL: ModelIdentity = { name: 'tiny', architecture: 'llama', hiddenSize: 3, numLayers: 4 };

function v(layers: Record<number, number[]>, meta: Partial<VectorMeta> = {}, means?: Record<number, number[]>): SteeringVector {
  const toMap = (r: Record<number, number[]>) => new Map(Object.entries(r).map(([l, d]) => [Number(l), Float32Array.from(d)]));
  return {
    directions: toMap(layers),
    ...(means ? { means: toMap(means) } : {}),
    meta: {
      format: VECTOR_FORMAT,
      model: MODEL,
      method: 'diffmean',
      site: 'resid_post',
      createdAt: '2025-01-01T00:00:00.000Z',
      description: 'x',
      ...meta,
    },
  };
}

/** Directions as plain arrays keyed by layer, in the order the result lists them. */
function plain(x: SteeringVector): [number, number[]][] {
  return [...x.directions].map(([l, d]) => [l, [...d]]);
}

function assertClose(actual: SteeringVector, expected: Record<number, number[]>, tol = 1e-6): void {
  const want = Object.entries(expected).map(([l, d]) => [Number(l), d] as [number, number[]]).sort((a, b) => a[0] - b[0]);
  assert.deepEqual([...actual.directions.keys()], want.map(([l]) => l), 'layers');
  for (const [l, d] of want) {
    const got = actual.directions.get(l)!;
    assert.equal(got.length, d.length);
    for (let i = 0; i < d.length; i++) assert.ok(Math.abs(got[i] - d[i]) <= tol, `layer ${l}[${i}]: ${got[i]} vs ${d[i]}`);
  }
}

function assertCombinedMeta(r: SteeringVector, model: ModelIdentity = MODEL): void {
  assert.equal(r.meta.format, VECTOR_FORMAT);
  assert.equal(r.meta.method, 'combined');
  assert.deepEqual(r.meta.model, model);
  assert.equal(typeof r.meta.description, 'string');
  assert.ok(r.meta.description!.length > 0);
  assert.equal(r.meta.diagnostics, undefined);
  assert.equal(r.meta.recommended, undefined);
}

const inputError = (re: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
  assert.match(err.message, re);
  return true;
};

// a and b share layer 1; a alone has layer 2, b alone has layer 3.
const a = v({ 1: [1, 2, 3], 2: [0, 1, 0] }, { description: 'a' });
const b = v({ 1: [4, -1, 0], 3: [1, 1, 1] }, { description: 'b' });

describe('sums over the union of layers (missing layer = zero)', () => {
  test('addVectors', () => {
    const r = addVectors(a, b);
    assert.deepEqual(plain(r), [[1, [5, 1, 3]], [2, [0, 1, 0]], [3, [1, 1, 1]]]);
    assertCombinedMeta(r);
    assert.equal(r.meta.description, '(a) + (b)');
  });

  test('subtractVectors', () => {
    const r = subtractVectors(a, b);
    assert.deepEqual(plain(r), [[1, [-3, 3, 3]], [2, [0, 1, 0]], [3, [-1, -1, -1]]]);
    assertCombinedMeta(r);
    assert.deepEqual(plain(subtractVectors(a, a)), [[1, [0, 0, 0]], [2, [0, 0, 0]]]);
  });

  test('combineWeighted', () => {
    const r = combineWeighted([
      { vector: v({ 1: [1, 0, 0] }), weight: 2 },
      { vector: v({ 1: [0, 1, 0], 2: [1, 2, 3] }), weight: -1 },
      { vector: v({ 1: [2, 2, 2] }), weight: 0.5 },
    ]);
    assert.deepEqual(plain(r), [[1, [3, 0, 1]], [2, [-1, -2, -3]]]);
    assertCombinedMeta(r);
    assert.match(r.meta.description!, /2 × .*-1 × .*0\.5 × /);
    assert.deepEqual(plain(combineWeighted([{ vector: a, weight: 1 }])), plain(a));
    assert.throws(() => combineWeighted([]), inputError(/at least one/));
    assert.throws(() => combineWeighted([{ vector: a, weight: NaN }]), inputError(/weight #0 is NaN/));
    assert.throws(() => combineWeighted([{ vector: a, weight: 1 }, { vector: b, weight: Infinity }]), inputError(/weight #1/));
  });

  test('means are dropped from sums; readPosition kept only when all agree', () => {
    const m1 = v({ 1: [1, 0, 0] }, { readPosition: 'last' }, { 1: [9, 9, 9] });
    const m2 = v({ 1: [0, 1, 0] }, { readPosition: 'last' }, { 1: [7, 7, 7] });
    const r = addVectors(m1, m2);
    assert.equal(r.means, undefined);
    assert.equal(r.meta.readPosition, 'last');
    assert.equal(addVectors(m1, v({ 1: [0, 1, 0] }, { readPosition: 'mean' })).meta.readPosition, undefined);
  });
});

describe('operations on one vector', () => {
  test('scaleVector', () => {
    const r = scaleVector(a, 2);
    assert.deepEqual(plain(r), [[1, [2, 4, 6]], [2, [0, 2, 0]]]);
    assertCombinedMeta(r);
    assert.deepEqual(plain(scaleVector(a, -0.5)), [[1, [-0.5, -1, -1.5]], [2, [-0, -0.5, -0]]]);
    assert.throws(() => scaleVector(a, Infinity), inputError(/finite/));
    assert.throws(() => scaleVector(a, NaN), inputError(/finite/));
    // Means describe the data, which scaling does not change.
    const withMean = v({ 1: [1, 1, 1] }, {}, { 1: [5, 6, 7] });
    assert.deepEqual([...scaleVector(withMean, 3).means!.get(1)!], [5, 6, 7]);
  });

  test('normalizeVector', () => {
    const x = v({ 0: [3, 4, 0], 2: [0, 0, -2] });
    assertClose(normalizeVector(x), { 0: [0.6, 0.8, 0], 2: [0, 0, -1] });
    assertClose(normalizeVector(x, 'unit'), { 0: [0.6, 0.8, 0], 2: [0, 0, -1] });
    assertClose(normalizeVector(x, 10), { 0: [6, 8, 0], 2: [0, 0, -10] }, 1e-5);
    assertCombinedMeta(normalizeVector(x));
    assert.throws(() => normalizeVector(v({ 0: [1, 0, 0], 1: [0, 0, 0] })), inputError(/layer 1 is zero/));
    assert.throws(() => normalizeVector(x, 0), inputError(/positive finite/));
    assert.throws(() => normalizeVector(x, -1), inputError(/positive finite/));
    assert.throws(() => normalizeVector(x, NaN), inputError(/positive finite/));
  });

  test('projectOut', () => {
    const x = v({ 1: [3, 4, 0], 2: [1, 2, 3] }, {}, { 1: [1, 1, 1] });
    // Along [1,0,0]: the first component goes.
    assert.deepEqual(plain(projectOut(x, v({ 1: [1, 0, 0] }))), [[1, [0, 4, 0]], [2, [1, 2, 3]]]);
    // Along [1,1,0]: (x·o)/(o·o) = 7/2, so x − 3.5·[1,1,0] = [−0.5, 0.5, 0]. The scale of `of` does not matter.
    assertClose(projectOut(x, v({ 1: [1, 1, 0] })), { 1: [-0.5, 0.5, 0], 2: [1, 2, 3] });
    assertClose(projectOut(x, v({ 1: [-5, -5, 0] })), { 1: [-0.5, 0.5, 0], 2: [1, 2, 3] });
    // A layer only `of` has is not added; a zero direction in `of` removes nothing.
    assert.deepEqual(plain(projectOut(x, v({ 3: [1, 0, 0], 2: [0, 0, 0] }))), plain(x));
    const r = projectOut(x, v({ 1: [1, 0, 0] }));
    assertCombinedMeta(r);
    assert.deepEqual([...r.means!.get(1)!], [1, 1, 1]);
  });

  test('projectOut result is orthogonal to `of` (high dimension, random)', () => {
    const n = 512;
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
    const model = { ...MODEL, hiddenSize: n };
    const x = v({ 0: Array.from({ length: n }, rand), 3: Array.from({ length: n }, rand) }, { model });
    const of = v({ 0: Array.from({ length: n }, rand), 3: Array.from({ length: n }, rand) }, { model });
    const r = projectOut(x, of);
    for (const [layer, cos] of cosineSimilarity(r, of)) assert.ok(Math.abs(cos) < 1e-6, `layer ${layer}: cos ${cos}`);
    // Projecting out twice changes nothing more.
    for (const [layer, d] of projectOut(r, of).directions) {
      const before = r.directions.get(layer)!;
      for (let i = 0; i < n; i++) assert.ok(Math.abs(d[i] - before[i]) < 1e-6);
    }
  });

  test('inputs are not modified', () => {
    const x = v({ 1: [3, 4, 0] }, {}, { 1: [1, 2, 3] });
    const snapshot = JSON.stringify({ d: plain(x), m: [...x.means!.get(1)!], meta: x.meta });
    scaleVector(x, 5);
    normalizeVector(x);
    projectOut(x, v({ 1: [1, 0, 0] }));
    addVectors(x, x);
    const r = scaleVector(x, 1);
    r.directions.get(1)![0] = 99;
    r.means!.get(1)![0] = 99;
    assert.equal(JSON.stringify({ d: plain(x), m: [...x.means!.get(1)!], meta: x.meta }), snapshot);
  });
});

describe('cosine similarity', () => {
  test('self = 1, negation = −1, orthogonal = 0, hand-computed; intersection of layers only', () => {
    const x = v({ 0: [1, 2, 3], 1: [1, 0, 0], 2: [1, 1, 0], 3: [2, 0, 0] });
    const y = v({ 0: [-1, -2, -3], 1: [0, 1, 0], 2: [1, 0, 0] });
    const self = cosineSimilarity(x, x);
    assert.deepEqual([...self.keys()], [0, 1, 2, 3]);
    for (const c of self.values()) assert.ok(Math.abs(c - 1) < 1e-12);
    const c = cosineSimilarity(x, y);
    assert.deepEqual([...c.keys()], [0, 1, 2]); // layer 3 only in x
    assert.ok(Math.abs(c.get(0)! + 1) < 1e-12);
    assert.equal(c.get(1), 0);
    assert.ok(Math.abs(c.get(2)! - Math.SQRT1_2) < 1e-7);
    assert.deepEqual(cosineSimilarity(v({ 0: [1, 0, 0] }), v({ 1: [1, 0, 0] })), new Map());
    assert.throws(() => cosineSimilarity(v({ 0: [0, 0, 0] }), v({ 0: [1, 0, 0] })), inputError(/zero direction \(layer 0\)/));
    // Different sites may be compared (all write into the residual stream).
    assert.equal(cosineSimilarity(v({ 0: [1, 0, 0] }, { site: 'attn_out' }), v({ 0: [1, 0, 0] })).get(0), 1);
  });

  test('cosineMatrix', () => {
    const m = cosineMatrix([v({ 1: [1, 0, 0] }), v({ 1: [0, 1, 0], 2: [5, 5, 5] }), v({ 1: [1, 1, 0] }), v({ 1: [-2, 0, 0] })], 1);
    const s = Math.SQRT1_2;
    const want = [[1, 0, s, -1], [0, 1, s, 0], [s, s, 1, -s], [-1, 0, -s, 1]];
    assert.equal(m.length, 4);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) assert.ok(Math.abs(m[i][j] - want[i][j]) < 1e-7, `[${i}][${j}] = ${m[i][j]}`);
    }
    assert.deepEqual(cosineMatrix([], 0), []);
    assert.throws(() => cosineMatrix([a, b], 2), inputError(/vector #1 \(b\) has no direction for layer 2/));
    assert.throws(() => cosineMatrix([v({ 1: [0, 0, 0] })], 1), inputError(/zero direction/));
  });
});

describe('compatibility checks', () => {
  const other = (model: Partial<ModelIdentity>, layers: Record<number, number[]> = { 1: [1, 1, 1] }) =>
    v(layers, { model: { ...MODEL, ...model } });

  test('mismatched hidden sizes', () => {
    const wide = other({ hiddenSize: 4 }, { 1: [1, 1, 1, 1] });
    for (const op of [() => addVectors(a, wide), () => subtractVectors(a, wide), () => projectOut(a, wide), () => cosineSimilarity(a, wide), () => cosineMatrix([a, wide], 1), () => combineWeighted([{ vector: a, weight: 1 }, { vector: wide, weight: 1 }])]) {
      assert.throws(op, inputError(/different hidden sizes: 3 \(tiny\) and 4/));
    }
  });

  test('mismatched models, architectures, layer counts, sites', () => {
    assert.throws(() => addVectors(a, other({ name: 'huge' })), inputError(/different models: tiny and huge/));
    assert.throws(() => addVectors(a, other({ architecture: 'gpt2' })), inputError(/different architectures: llama and gpt2/));
    assert.throws(() => addVectors(a, other({ numLayers: 5 })), inputError(/disagree on its layer count: 4 and 5/));
    assert.throws(() => addVectors(a, v({ 1: [1, 1, 1] }, { site: 'resid_pre' })), inputError(/different hook sites: resid_post and resid_pre/));
    assert.throws(() => projectOut(a, v({ 1: [1, 1, 1] }, { site: 'mlp_out' })), inputError(/different hook sites/));
  });

  test("an imported vector ('unknown' model) combines with a known one and takes its identity", () => {
    const imported = v({ 2: [1, 1, 1] }, { method: 'imported', model: { name: 'unknown', architecture: 'llama', hiddenSize: 3, numLayers: 3 } });
    const r = addVectors(imported, a);
    assertCombinedMeta(r, MODEL);
    assert.deepEqual(plain(r), [[1, [1, 2, 3]], [2, [1, 2, 1]]]);
    // Two unknowns: numLayers is the larger lower bound.
    const imported2 = v({ 5: [1, 0, 0] }, { method: 'imported', model: { name: 'unknown', architecture: 'unknown', hiddenSize: 3, numLayers: 6 } });
    assert.deepEqual(addVectors(imported, imported2).meta.model, { name: 'unknown', architecture: 'llama', hiddenSize: 3, numLayers: 6 });
    // But an imported layer the known model does not have is an error.
    assert.throws(() => addVectors(a, imported2), inputError(/directions up to layer 5, but tiny has layers 0\.\.3/));
  });

  test('invalid inputs are refused', () => {
    assert.throws(() => scaleVector(v({ 1: [1, NaN, 1] }), 2), inputError(/non-finite/));
    assert.throws(() => addVectors(a, v({ 1: [1, 1] })), inputError(/2 values but the model's hidden size is 3/));
  });
});
