import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { addVector, steeringIntervention } from '../src/steering/operators.js';
import { compileSteeringSpec, parseSteeringSpec, steeringSpecJsonSchema, type ResolvedIntervention } from '../src/steering/spec.js';
import type { SteeringVector } from '../src/steering/vector.js';
import type { Sae } from '../src/sae/sae.js';
import { sharedPath } from '../src/util/shared-path.js';

let model: HookedModel;
const D = 128;
const shape = { hiddenSize: D, numLayers: 2 };
const noFiles = (ref: string): SteeringVector => {
  throw new InvalidInputError(`no such vector ${ref}`);
};
const noSae = (ref: string): Sae => {
  throw new InvalidInputError(`no such SAE ${ref}`);
};
const v = Array.from({ length: D }, (_, i) => Math.sin(i));

before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
});
after(() => model.dispose());

describe('steering spec', () => {
  test('defaults are filled in', () => {
    const spec = parseSteeringSpec({ interventions: [{ vector: { inline: v }, layers: 1 }] });
    assert.deepEqual(
      { ...spec.interventions[0], vector: undefined },
      // No coefficient: left out, so compiling takes the vector's recommended one (or 1 without one).
      { vector: undefined, layers: 1, site: 'resid_post', operator: 'add', positions: 'all', preserveNorm: false },
    );
    assert.equal(spec.version, 1);
  });

  test('an omitted coefficient is the recommended one, else 1; what was used is reported', () => {
    const D = v.length;
    const dir = new Float32Array(D).fill(0.5);
    const vector = (recommended?: { coefficient?: number; layers?: number[] }): SteeringVector => ({
      directions: new Map([[1, dir]]),
      meta: { format: 'steerer.vector/v1', model: { name: 'm', architecture: 'llama', hiddenSize: D, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), ...(recommended ? { recommended } : {}) },
    });
    const shape = { hiddenSize: D, numLayers: 2 };
    const seen: ResolvedIntervention[] = [];
    const compile = (rec: Parameters<typeof vector>[0], iv: Record<string, unknown>) =>
      compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: 'f', ...iv }] }), shape, { vector: () => vector(rec), sae: () => assert.fail('no SAE') }, (r) => seen.push(r));
    compile({ coefficient: 3.5, layers: [1] }, {});
    compile({ layers: [1] }, {});
    compile({ coefficient: 3.5, layers: [1] }, { coefficient: 2 });
    assert.deepEqual(seen.map((r) => [r.coefficient, r.coefficientFrom, r.layers]), [[3.5, 'recommended', [1]], [1, 'default', [1]], [2, 'given', [1]]]);
    assert.throws(() => compile({ layers: [1] }, { coefficient: 'recommended' }), /records none/);
  });

  test('invalid specs are rejected with the JSON path of each problem', () => {
    const bad = (value: unknown, pattern: RegExp): void => assert.throws(() => parseSteeringSpec(value), (e: Error) => e instanceof InvalidInputError && pattern.test(e.message));
    bad({ interventions: [{ vector: 'x.safetensors', coefficient: Number.NaN }] }, /interventions\.0\.coefficient/);
    bad({ interventions: [{ vector: 'x', operator: 'multiply' }] }, /interventions\.0\.operator/);
    bad({ interventions: [{ vector: 'x', layers: -1 }] }, /interventions\.0\.layers/);
    bad({ interventions: [{ vector: 'x', site: 'hook_resid_post' }] }, /interventions\.0\.site/);
    bad({ interventions: [{ vector: 'x', positions: { last: 2, extra: 1 } }] }, /interventions\.0\.positions/);
    bad({ interventions: [{ vector: 'x', colour: 'red' }] }, /Unrecognized key/);
    bad({ interventions: [{}] }, /interventions\.0\.vector/);
    bad({ version: 2, interventions: [] }, /version/);
    bad('not an object', /\(root\)/);
  });

  test('JSON Schema export describes the same shape', () => {
    const schema = steeringSpecJsonSchema() as { properties: { interventions: { items: { anyOf: { properties: Record<string, unknown> }[] } } } };
    const [vector, feature] = schema.properties.interventions.items.anyOf.map((b) => b.properties);
    for (const key of ['vector', 'layers', 'site', 'operator', 'coefficient', 'positions', 'preserveNorm']) assert.ok(key in vector, key);
    for (const key of ['sae', 'features', 'operator', 'coefficient', 'positions']) assert.ok(key in feature, key);
  });

  test('a compiled spec steers exactly like the equivalent hooks', async () => {
    const spec = parseSteeringSpec({ interventions: [{ vector: { inline: v }, layers: [0, 1], coefficient: 3, positions: 'prompt' }] });
    const hooks = compileSteeringSpec(spec, shape, { vector: noFiles, sae: noSae });
    assert.equal(hooks.length, 2);
    const ids = model.encode('Once upon a time');
    const bySpec = (await model.forward({ tokens: [ids], hooks, logits: 'all' })).logits!;
    const manual = (
      await model.forward({
        tokens: [ids],
        hooks: [0, 1].map((layer) => ({ kind: 'intervene' as const, at: { layer, site: 'resid_post' as const }, intervention: addVector(Float32Array.from(v), { scale: 3, positions: 'prompt' }) })),
        logits: 'all',
      })
    ).logits!;
    assert.ok(bySpec.every((x, i) => Object.is(x, manual[i])));
  });

  test('interventions at one point apply in the order listed', async () => {
    const ids = model.encode('The dog ran');
    const at = { layer: 0, site: 'resid_post' as const };
    const capture = { kind: 'capture' as const, at: 'blocks.0.hook_resid_post' };
    const clampThenAdd = compileSteeringSpec(
      parseSteeringSpec({ interventions: [{ vector: { inline: v }, layers: 0, operator: 'clamp', coefficient: 0 }, { vector: { inline: v }, layers: 0, coefficient: 1 }] }),
      shape,
      { vector: noFiles, sae: noSae },
    );
    const out = await model.forward({ tokens: [ids], hooks: [...clampThenAdd, capture], logits: 'none' });
    // clamp to 0 then add v: the projection on v/|v| ends at |v|.
    const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    const row = out.captures.get('blocks.0.hook_resid_post')!.data.subarray(0, D);
    const proj = row.reduce((a, x, i) => a + (x * v[i]) / norm, 0);
    assert.ok(Math.abs(proj - norm) < 1e-3, `projection ${proj}`);
    // The opposite order clamps last: projection 0.
    const reversed = await model.forward({
      tokens: [ids],
      hooks: [
        { kind: 'intervene', at, intervention: addVector(Float32Array.from(v)) },
        { kind: 'intervene', at, intervention: steeringIntervention({ operator: 'clamp', vector: Float32Array.from(v), coefficient: 0 }) },
        capture,
      ],
      logits: 'none',
    });
    const row2 = reversed.captures.get('blocks.0.hook_resid_post')!.data.subarray(0, D);
    assert.ok(Math.abs(row2.reduce((a, x, i) => a + (x * v[i]) / norm, 0)) < 1e-3);
  });

  test('compiling against the model catches size and layer mismatches', () => {
    assert.throws(() => compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: [1, 2, 3] }, layers: 0 }] }), shape, { vector: noFiles, sae: noSae }), /size 3 .* hidden size is 128/);
    assert.throws(() => compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: v }, layers: 5 }] }), shape, { vector: noFiles, sae: noSae }), /layer 5 does not exist/);
    assert.throws(() => compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: v } }] }), shape, { vector: noFiles, sae: noSae }), /recommended/);
    assert.throws(() => compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: 'missing.safetensors', layers: 0 }] }), shape, { vector: noFiles, sae: noSae }), /no such vector/);
  });
});
