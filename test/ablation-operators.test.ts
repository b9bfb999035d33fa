import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/decoding/generate.js';
import { hookName, type HookPoint } from '../src/graph/hook-points.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import type { EditFn, Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { describeResolved } from '../src/cli/steer-flags.js';
import { modelShape } from '../src/steering/resolve.js';
import { compileSteeringSpec, parseSteeringSpec, type ResolvedIntervention, type SpecResolver } from '../src/steering/spec.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererIn } from './helpers/cli.js';
import { postJson, startServer } from './helpers/server.js';
import { tempDir } from './helpers/random-model.js';
import { skipUnlessShared } from './helpers/shared.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

/**
 * The zero, mean and resample operators of the steering spec against the same replacement made
 * by hand: activations captured with capture hooks, written into the run by a JavaScript edit hook.
 */

const MODEL = sharedPath('models', 'tinystories-656k');
const TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play.';
const SOURCE = 'Tom and his dog went to the park.';


describe('ablation operators (TinyStories-656K)', { skip: skipUnlessShared(sharedPath('models', 'tinystories-656k', 'model.safetensors')) }, () => {
  let model: HookedModel;
  let D: number;
  const vectors = new Map<string, SteeringVector>();
  const resolver: SpecResolver = {
    vector: (ref) => vectors.get(ref) ?? assert.fail(`no vector ${ref}`),
    sae: () => assert.fail('no SAEs here'),
  };
  const tmp = tempDir('ablation');
  before(() => {
    model = new HookedModel(loadModel(MODEL), { threads: 1 });
    D = model.spec.hiddenSize;
  });
  after(async () => {
    await model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const hooksOf = (interventions: unknown[], report?: (r: ResolvedIntervention) => void): Hook[] =>
    compileSteeringSpec(parseSteeringSpec({ interventions }), modelShape(model), resolver, report);
  const logits = async (hooks: Hook[], text = TEXT): Promise<Float32Array> => (await model.forward({ tokens: [model.encode(text)], hooks, logits: 'all' })).logits!;
  /** The run with rows `positions` of `point` set by `row(p)` in a JS edit hook. */
  const byHand = (point: HookPoint, positions: readonly number[], row: (p: number) => ArrayLike<number>): Promise<Float32Array> => {
    const fn: EditFn = (act) => positions.forEach((p) => act.data.set(row(p), p * D));
    return logits([{ kind: 'edit', at: point, fn }]);
  };

  test('zero: the selected rows of mlp_out become 0', async () => {
    const point: HookPoint = { layer: 0, site: 'mlp_out' };
    const got = await logits(hooksOf([{ operator: 'zero', layers: [0], site: 'mlp_out', positions: { indices: [2, 3] } }]));
    const want = await byHand(point, [2, 3], () => new Float32Array(D));
    assert.ok(maxAbsDiff(got, want) < 1e-5, `${maxAbsDiff(got, want)}`);
    assert.ok(maxAbsDiff(got, await logits([])) > 1e-3, 'the ablation changes the output');
  });

  test("mean: inline values, or a vector file's stored means, at the last prompt token", async () => {
    const mean = Float32Array.from({ length: D }, (_, i) => Math.cos(i * 0.37) * 0.5);
    const n = model.encode(TEXT).length;
    const want = await byHand({ layer: 1, site: 'resid_post' }, [n - 1], () => mean);
    const inline = await logits(hooksOf([{ operator: 'mean', vector: { inline: Array.from(mean) }, layers: [1], positions: { last: 1 } }]));
    assert.ok(maxAbsDiff(inline, want) < 1e-5, `${maxAbsDiff(inline, want)}`);

    const meta = { format: 'steerer.vector/v1', model: { name: model.source.name, architecture: model.spec.architecture, hiddenSize: D, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: '' } as const;
    vectors.set('with-means', { directions: new Map([[1, new Float32Array(D).fill(1)]]), means: new Map([[1, mean]]), meta });
    const fromFile = await logits(hooksOf([{ operator: 'mean', vector: 'with-means', layers: [1], positions: { last: 1 } }]));
    assert.ok(maxAbsDiff(fromFile, want) < 1e-5);

    vectors.set('no-means', { directions: new Map([[1, new Float32Array(D).fill(1)]]), meta });
    assert.throws(() => hooksOf([{ operator: 'mean', vector: 'no-means', layers: [1] }]), /stores no mean activation for layer 1/);
    assert.throws(() => hooksOf([{ operator: 'mean', vector: 'with-means', layers: [1], site: 'mlp_out' }]), /means were taken at resid_post/);
  });

  test("resample: rows become the source text's, where the source reaches; a cached decode agrees with one pass", async () => {
    const point: HookPoint = { layer: 1, site: 'resid_pre' };
    const srcIds = model.encode(SOURCE);
    const n = model.encode(TEXT).length;
    assert.ok(srcIds.length < n - 2, 'the source is shorter, so some positions have no source row');
    const cap = await model.forward({ tokens: [srcIds], hooks: [{ kind: 'capture', at: point }], logits: 'none' });
    const src = cap.captures.get(hookName(point))!.data;
    const reached = Array.from({ length: srcIds.length }, (_, p) => p).filter((p) => p >= 1);
    const want = await byHand(point, reached, (p) => src.subarray(p * D, (p + 1) * D));
    let resolved: ResolvedIntervention | undefined;
    const hooks = hooksOf([{ operator: 'resample', source: SOURCE, layers: [1], site: 'resid_pre', positions: { from: 1 } }], (r) => (resolved = r));
    const got = await logits(hooks);
    assert.ok(maxAbsDiff(got, want) < 1e-5, `${maxAbsDiff(got, want)}`);
    assert.equal(describeResolved(resolved!), `steering: resample ablation at layer 1 from "${SOURCE}"`);

    // Prefill then one token at a time through the KV cache: the same positions are replaced.
    const ids = model.encode(TEXT);
    const V = model.spec.vocabSize;
    const cache = model.createCache(1);
    await model.forward({ tokens: [ids.slice(0, 5)], cache, hooks, logits: 'last' });
    let step: Float32Array | undefined;
    for (let p = 5; p < ids.length; p++) step = (await model.forward({ tokens: [[ids[p]]], cache, hooks, logits: 'last' })).logits!;
    assert.ok(maxAbsDiff(step!, got.subarray((ids.length - 1) * V)) < 1e-4);
  });

  test('the spec refuses what an ablation cannot take, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ operator: 'zero', vector: { inline: [1] }, layers: [0] }, /interventions\.0\.vector: operator zero takes no vector/],
      [{ operator: 'zero', layers: [0], coefficient: 2 }, /interventions\.0\.coefficient: operator zero replaces the activation/],
      [{ operator: 'resample', layers: [0] }, /interventions\.0\.source: operator resample needs a source text/],
      [{ operator: 'mean', layers: [0] }, /operator mean needs a vector/],
      [{ operator: 'add', vector: { inline: [1] }, source: 'x' }, /only the resample operator takes a source/],
      [{ operator: 'zero', layers: [0], preserveNorm: true }, /preserveNorm does not apply/],
    ];
    for (const [iv, pattern] of bad) assert.throws(() => parseSteeringSpec({ interventions: [iv] }), (e: Error) => e instanceof InvalidInputError && pattern.test(e.message), JSON.stringify(iv));
    assert.throws(() => hooksOf([{ operator: 'zero' }]), /has no vector to recommend layers/);
    assert.equal(hooksOf([{ operator: 'zero', layers: 'all', site: 'attn_out' }]).length, model.spec.numLayers);
  });

  test('generate --steer-spec applies a zero ablation as the library does', async () => {
    fs.writeFileSync(path.join(tmp, 'zero.json'), JSON.stringify({ interventions: [{ operator: 'zero', layers: [1], site: 'mlp_out' }] }));
    const r = steererIn(tmp)('generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '12', '--temp', '0', '-t', '1', '--steer-spec', 'zero.json', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { text: string; steering: ResolvedIntervention[] };
    const lib = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 12, hooks: hooksOf([{ operator: 'zero', layers: [1], site: 'mlp_out' }]) });
    assert.equal(out.text, lib.text);
    assert.notEqual(out.text, (await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 12 })).text);
    assert.deepEqual(out.steering.map((s) => [s.operator, s.layers]), [['zero', [1]]]);
  });

  test('the server takes a resample ablation in a request and applies it as the library does', async () => {
    const spec = { interventions: [{ operator: 'resample', source: SOURCE, layers: [0, 1], site: 'attn_out' }] };
    const srv = await startServer();
    try {
      const res = await postJson<{ choices: { text: string }[] }>(`${srv.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 10, temperature: 0, steering: spec });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const lib = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 10, hooks: hooksOf(spec.interventions) });
      assert.equal(res.json.choices[0].text, lib.text);
      const bad = await postJson(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 2, steering: { interventions: [{ operator: 'resample', layers: [0] }] } });
      assert.equal(bad.status, 400);
    } finally {
      await srv.close();
    }
  });
});
