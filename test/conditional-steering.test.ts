import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hookName } from '../src/graph/hook-points.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import type { LinearProbe } from '../src/probes/probe.js';
import { modelShape } from '../src/steering/resolve.js';
import { compileSteeringSpec, parseSteeringSpec, type ResolvedIntervention, type SpecResolver } from '../src/steering/spec.js';
import { createRng } from '../src/runtime/rng.js';
import { sharedPath } from '../src/util/shared-path.js';
import { skipUnlessShared } from './helpers/shared.js';
import { bestF1Threshold, fitCondition } from '../src/steering/condition-fit.js';
import { loadVector, saveVector } from '../src/steering/vector-file.js';
import { packageRoot } from '../src/util/shared-path.js';
import { generate } from '../src/decoding/generate.js';
import { steererIn } from './helpers/cli.js';
import { tempDir } from './helpers/random-model.js';
import { postJson, startServer } from './helpers/server.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

/**
 * Conditional steering (`when` in the spec) on TinyStories-656K: a condition that never holds
 * gives the unsteered run and one that always holds the plain steered run, bit for bit, through
 * a prompt and greedy decoding on a KV cache; a batch whose rows decide differently matches each
 * row's own run; the gate's decision matches the condition computed in plain JS from captured
 * activations.
 */

const MODEL = sharedPath('models', 'tinystories-656k');
const PROMPTS = ['Once upon a time, there was a little girl named Lily.', 'Tom and his dog went to the park to play with a red ball.'];

const bytesEqual = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('conditional steering (TinyStories-656K)', { skip: skipUnlessShared(sharedPath('models', 'tinystories-656k', 'model.safetensors')) }, () => {
  let model: HookedModel;
  let D: number;
  let steer: number[];
  let cond: number[];
  const probes = new Map<string, LinearProbe>();
  const resolver: SpecResolver = {
    vector: () => assert.fail('inline vectors only'),
    sae: () => assert.fail('no SAEs here'),
    probe: (ref) => probes.get(ref) ?? assert.fail(`no probe ${ref}`),
  };
  before(() => {
    model = new HookedModel(loadModel(MODEL), { threads: 1 });
    D = model.spec.hiddenSize;
    const rng = createRng(7);
    steer = Array.from({ length: D }, () => rng.nextFloat() - 0.5);
    cond = Array.from({ length: D }, () => rng.nextFloat() - 0.5);
  });
  after(() => model.dispose());

  const hooksOf = (interventions: unknown[], report?: (r: ResolvedIntervention) => void): Hook[] =>
    compileSteeringSpec(parseSteeringSpec({ interventions }), modelShape(model), resolver, report);

  /** Logits of the prompt's forward and of `steps` greedy decode steps on a cache. */
  async function decode(hooks: Hook[], prompts: readonly string[] = [PROMPTS[0]], steps = 8): Promise<Float32Array[]> {
    const cache = model.createCache(prompts.length);
    let out = await model.forward({ tokens: prompts.map((p) => model.encode(p)), cache, hooks, logits: 'last' });
    const all = [out.logits!.slice()];
    const V = model.spec.vocabSize;
    for (let s = 0; s < steps; s++) {
      const next = prompts.map((_, b) => {
        const row = out.logits!.subarray(b * V, (b + 1) * V);
        return [row.indexOf(Math.max(...row))];
      });
      out = await model.forward({ tokens: next, cache, hooks, logits: 'last' });
      all.push(out.logits!.slice());
    }
    return all;
  }
  const sameRuns = (a: Float32Array[], b: Float32Array[], what: string): void => {
    assert.equal(a.length, b.length);
    a.forEach((x, i) => assert.ok(bytesEqual(x, b[i]), `${what}: step ${i} differs (max |Δ| ${maxAbsDiff(x, b[i])})`));
  };
  const steered = (layers: number[], extra: Record<string, unknown> = {}) => ({ vector: { inline: steer }, layers, coefficient: 4, ...extra });
  const when = (layer: number, threshold: number, extra: Record<string, unknown> = {}) => ({ vector: { inline: cond }, layer, measure: 'projection', reduce: 'last', threshold, ...extra });

  for (const [label, ivLayers, condLayer, read] of [
    ['read at layer 0, steering layer 1 (in the same graph)', [1], 0, 'prompt'],
    ['read at layer 1, steering layers 0 and 1 (a pre-pass reads the prompt)', [0, 1], 1, 'prompt'],
    ['read at every token at layer 0, steering layer 1', [1], 0, 'token'],
    ['read as a running mean at layer 0, steering layer 1', [1], 0, 'running'],
  ] as const) {
    test(`${label}: never = unsteered, always = steered, bit for bit`, async () => {
      const plain = await decode([]);
      const steeredRun = await decode(hooksOf([steered([...ivLayers])]));
      assert.ok(maxAbsDiff(plain[1], steeredRun[1]) > 1e-3, 'the steering changes the logits');
      const never = await decode(hooksOf([steered([...ivLayers], { when: when(condLayer, 1e6, { read }) })]));
      const always = await decode(hooksOf([steered([...ivLayers], { when: when(condLayer, -1e6, { read }) })]));
      sameRuns(never, plain, 'never fires vs unsteered');
      sameRuns(always, steeredRun, 'always fires vs steered');
    });
  }

  /** The condition's score per prompt from captured activations, in plain JS (the independent reference). */
  async function scores(layer: number, reduce: 'last' | 'mean', measure: 'cosine' | 'projection', w: readonly number[] = cond, bias = 0): Promise<number[]> {
    const norm = Math.hypot(...w);
    const unit = measure === 'cosine' || bias === 0 ? w.map((x) => x / norm) : [...w];
    return Promise.all(
      PROMPTS.map(async (p) => {
        const ids = model.encode(p);
        const out = await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: { layer, site: 'resid_post' } }], logits: 'none' });
        const act = out.captures.get(hookName({ layer, site: 'resid_post' }))!.data;
        const x = new Float64Array(D);
        const rows = reduce === 'last' ? [ids.length - 1] : ids.map((_, i) => i);
        for (const r of rows) for (let d = 0; d < D; d++) x[d] += act[r * D + d] / rows.length;
        let dot = bias;
        for (let d = 0; d < D; d++) dot += unit[d] * x[d];
        return measure === 'cosine' ? dot / Math.hypot(...x) : dot;
      }),
    );
  }

  for (const reduce of ['last', 'mean'] as const) {
    test(`a batch whose prompts decide differently (reduce ${reduce}) decoded as one batch, matches each prompt's own run`, async () => {
      const [s0, s1] = await scores(0, reduce, 'cosine');
      assert.notEqual(Math.sign(s0 - s1), 0);
      const threshold = (s0 + s1) / 2;
      const spec = [steered([1], { when: { vector: { inline: cond }, layer: 0, reduce, threshold } })];
      const batched = await decode(hooksOf(spec), PROMPTS, 4);
      const fires = s0 > threshold ? 0 : 1;
      const V = model.spec.vocabSize;
      for (let b = 0; b < 2; b++) {
        const own = await decode(b === fires ? hooksOf([steered([1])]) : [], [PROMPTS[b]], 4);
        batched.forEach((step, i) => assert.ok(maxAbsDiff(step.subarray(b * V, (b + 1) * V), own[i]) < 1e-4, `prompt ${b}, step ${i}`));
      }
      // The gate the forward reports, against the JS scores.
      const out = await model.forward({ tokens: PROMPTS.map((p) => model.encode(p)), hooks: hooksOf(spec), logits: 'last' });
      assert.deepEqual([...out.gates!.get('c0')!], [0, 1].map((b) => (b === fires ? 1 : 0)));
    });
  }

  test("a running condition's gate at every token is the JS running mean of the score against the threshold, across steps", async () => {
    // Teacher-forced tokens, so the gated steering (at layer 1) cannot change what layer 0 reads.
    const ids = model.encode(`${PROMPTS[0]} She went to the park and played with her ball all day.`);
    const promptLength = 6;
    const point = { layer: 0, site: 'resid_post' as const };
    const act = (await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: point }], logits: 'none' })).captures.get(hookName(point))!.data;
    const norm = Math.hypot(...cond);
    const running: number[] = [];
    let sum = 0;
    ids.forEach((_, t) => {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += (cond[d] / norm) * act[t * D + d];
      sum += dot;
      running.push(sum / (t + 1));
    });
    // A threshold the running mean crosses, in the widest gap between its middle values (far
    // from any of them, so float32 against float64 rounding cannot flip a gate).
    const sorted = [...running].sort((a, b) => a - b);
    let k = Math.floor(sorted.length / 4);
    for (let i = k; i < Math.floor((3 * sorted.length) / 4); i++) if (sorted[i + 1] - sorted[i] > sorted[k + 1] - sorted[k]) k = i;
    const threshold = (sorted[k] + sorted[k + 1]) / 2;
    const expected = running.map((m) => (m > threshold ? 1 : 0));
    assert.ok(expected.includes(0) && expected.includes(1), 'the gate changes along the text');
    const hooks = hooksOf([steered([1], { when: when(0, threshold, { read: 'running' }) })]);
    const whole = await model.forward({ tokens: [ids], hooks, logits: 'last' });
    assert.deepEqual([...whole.gates!.get('c0')!], expected, 'one forward over the whole text');
    const cache = model.createCache(1);
    const stepwise = [...(await model.forward({ tokens: [ids.slice(0, promptLength)], cache, hooks, logits: 'last' })).gates!.get('c0')!];
    for (let t = promptLength; t < ids.length; t++) stepwise.push(...(await model.forward({ tokens: [[ids[t]]], cache, hooks, logits: 'last' })).gates!.get('c0')!);
    assert.deepEqual(stepwise, expected, 'a prompt, then one token per step on a cache');
  });

  test('thresholds just above and below the JS score flip the gate (cosine and projection, compare above and below)', async () => {
    for (const measure of ['cosine', 'projection'] as const) {
      const [s0] = await scores(1, 'last', measure);
      const eps = Math.max(1e-4, Math.abs(s0) * 1e-4);
      for (const [threshold, compare, expected] of [
        [s0 - eps, 'above', 1],
        [s0 + eps, 'above', 0],
        [s0 + eps, 'below', 1],
        [s0 - eps, 'below', 0],
      ] as const) {
        const out = await model.forward({ tokens: [model.encode(PROMPTS[0])], hooks: hooksOf([steered([1], { when: when(1, threshold, { measure, compare }) })]), logits: 'last' });
        assert.equal(out.gates!.get('c0')![0], expected, `${measure} ${compare} ${threshold} (score ${s0})`);
      }
    }
  });

  test("a probe condition reads the probe's logit w·x + b at its layer", async () => {
    const bias = 0.3;
    const weight = Float32Array.from(cond, (x) => x / 10);
    probes.set('p', { task: 'classification', site: 'resid_post', positions: 'last', classes: ['no', 'yes'], layers: new Map([[0, { weight, bias: Float32Array.of(bias) }]]), hiddenSize: D });
    const [logit] = await scores(0, 'last', 'projection', [...weight], bias);
    for (const [threshold, expected] of [[logit - 1e-3, 1], [logit + 1e-3, 0]] as const) {
      const out = await model.forward({ tokens: [model.encode(PROMPTS[0])], hooks: hooksOf([steered([1], { when: { probe: 'p', threshold } })]), logits: 'last' });
      assert.equal(out.gates!.get('c0')![0], expected);
    }
    const report: ResolvedIntervention[] = [];
    hooksOf([steered([1], { when: { probe: 'p' } })], (r) => report.push(r));
    assert.deepEqual({ measure: report[0].when?.measure, threshold: report[0].when?.threshold, layer: report[0].when?.layer }, { measure: 'probe logit', threshold: 0, layer: 0 });
  });

  test('bad conditions are refused with the reason', () => {
    assert.throws(() => parseSteeringSpec({ interventions: [steered([1], { when: { layer: 0, threshold: 0 } })] }), /exactly one of "vector" and "probe"/);
    assert.throws(() => parseSteeringSpec({ interventions: [steered([1], { when: { vector: { inline: cond }, probe: 'p', layer: 0 } })] }), /exactly one/);
    assert.throws(() => hooksOf([steered([1], { when: { vector: { inline: cond }, threshold: 0 } })]), /needs a layer/);
    assert.throws(() => hooksOf([steered([1], { when: { vector: { inline: cond }, layer: 0 } })]), /give a threshold/);
    assert.throws(() => hooksOf([steered([1], { when: when(5, 0) })]), /layer 5 does not exist/);
    assert.throws(() => hooksOf([steered([1], { when: { vector: { inline: cond.slice(1) }, layer: 0, threshold: 0 } })]), /hidden size/);
    // Per-token conditions gate what comes after them only.
    const hooks = hooksOf([steered([0], { when: when(1, 0, { read: 'token' }) })]);
    return assert.rejects(model.forward({ tokens: [model.encode(PROMPTS[0])], hooks }), (e: unknown) => e instanceof InvalidInputError && /can only gate interventions after it/.test(e.message));
  });
});

test('the best-F1 threshold is the best of every cut, by brute force', () => {
  const rng = createRng(3);
  for (let trial = 0; trial < 50; trial++) {
    const n = 2 + Math.floor(rng.nextFloat() * 20);
    // Coarse scores, so ties happen.
    const scored = Array.from({ length: n }, () => ({ y: rng.nextFloat() < 0.5, s: Math.round(rng.nextFloat() * 8) / 4 }));
    if (!scored.some((e) => e.y)) scored[0].y = true;
    const f1At = (t: number): number => {
      const tp = scored.filter((e) => e.y && e.s > t).length;
      const firing = scored.filter((e) => e.s > t).length;
      return (2 * tp) / (firing + scored.filter((e) => e.y).length);
    };
    const cuts = [-1, ...scored.map((e) => e.s)];
    const best = Math.max(...cuts.map(f1At));
    const t = bestF1Threshold(scored);
    assert.ok(Math.abs(f1At(t) - best) < 1e-12, `trial ${trial}: F1 ${f1At(t)} at ${t}, best ${best}`);
    assert.ok(!scored.some((e) => e.s === t), 'the threshold lies between scores, never on one');
  }
});

describe('conditions fitted from two prompt sets (TinyStories-656K)', { skip: skipUnlessShared(sharedPath('models', 'tinystories-656k', 'model.safetensors')) }, () => {
  const examples = path.join(packageRoot(), 'examples');
  const lines = (f: string): string[] => fs.readFileSync(path.join(examples, f), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const sad = lines('sad.txt');
  const plain = lines('plain.txt');
  const tmp = tempDir('condition');
  let model: HookedModel;
  before(() => {
    model = new HookedModel(loadModel(MODEL), { threads: 1 });
  });
  after(async () => {
    await model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a fitted condition gates prompts it was not fitted on as its direction and threshold say', async () => {
    // Fitted on 12 + 12 prompts; the last 4 of each are held out here.
    const fit = await fitCondition(model, sad.slice(0, 12), plain.slice(0, 12), { folds: 4 });
    const c = fit.vector.meta.condition!;
    assert.equal(fit.layers.length, model.spec.numLayers);
    for (const l of fit.layers) for (const v of [l.f1, l.precision, l.recall, l.accuracy]) assert.ok(v >= 0 && v <= 1);
    assert.equal(c.layer, fit.chosen.layer);
    assert.equal(fit.chosen.f1, Math.max(...fit.layers.map((l) => l.f1)));
    const file = path.join(tmp, 'sad-prompt.safetensors');
    saveVector(file, fit.vector);
    const loaded = loadVector(file);
    assert.deepEqual(loaded.meta.condition, c);
    const held = [...sad.slice(12), ...plain.slice(12)];
    const spec = parseSteeringSpec({ interventions: [{ vector: { inline: Array.from({ length: model.spec.hiddenSize }, () => 0.1) }, layers: [1], coefficient: 1, when: { vector: 'cond' } }] });
    const hooks = compileSteeringSpec(spec, modelShape(model), { vector: () => loaded, sae: () => assert.fail() });
    const out = await model.forward({ tokens: held.map((p) => model.encode(p)), hooks, logits: 'last' });
    // The decision by hand: cosine of the mean prompt activation at the fitted layer with the direction.
    const point = { layer: c.layer, site: 'resid_post' as const };
    const u = loaded.directions.get(c.layer)!;
    for (const [b, p] of held.entries()) {
      const ids = model.encode(p);
      const act = (await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: point }], logits: 'none' })).captures.get(hookName(point))!.data;
      const D = model.spec.hiddenSize;
      const mean = new Float64Array(D);
      for (let t = 0; t < ids.length; t++) for (let d = 0; d < D; d++) mean[d] += act[t * D + d] / ids.length;
      const cos = mean.reduce((s, x, d) => s + x * u[d], 0) / Math.hypot(...mean);
      assert.equal(out.gates!.get('c0')![b], cos > c.threshold ? 1 : 0, `prompt ${b}: cosine ${cos} vs ${c.threshold}`);
    }
  });

  test('CLI: vector condition fit, then generate with a "when" steers the sad prompt and leaves the plain one as it was', async () => {
    const steerer = steererIn(tmp);
    const sadFile = path.join(tmp, 'sad.txt');
    const plainFile = path.join(tmp, 'plain.txt');
    fs.writeFileSync(sadFile, sad.join('\n'));
    fs.writeFileSync(plainFile, plain.join('\n'));
    const fit = steerer('vector', 'condition', 'fit', '-m', MODEL, '--positive', sadFile, '--negative', plainFile, '-o', 'cond.safetensors', '--json', '-t', '1');
    assert.equal(fit.status, 0, fit.stderr);
    const fitted = JSON.parse(fit.stdout) as { chosen: { layer: number; f1: number }; folds: number };
    assert.equal(fitted.folds, 5);
    saveVector(path.join(tmp, 'push.safetensors'), { directions: new Map([[1, Float32Array.from({ length: 128 }, (_, i) => (i % 3) - 1)]]), meta: { ...loadVector(path.join(tmp, 'cond.safetensors')).meta, condition: undefined, method: 'imported' } });
    fs.writeFileSync(path.join(tmp, 'spec.json'), JSON.stringify({ interventions: [{ vector: 'push.safetensors', layers: [1], coefficient: 3, when: { vector: 'cond.safetensors' } }] }));
    const run = (prompt: string, ...extra: string[]) => {
      const r = steerer('generate', '-m', MODEL, '-p', prompt, '--temperature', '0', '--max-tokens', '12', '--json', '-t', '1', ...extra);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { text: string; conditions?: Record<string, boolean>; steering?: { when?: { layer: number } }[] };
    };
    const [sadPrompt, plainPrompt] = [`${sad[0]} One day,`, `${plain[0]} One day,`];
    const sadRun = run(sadPrompt, '--steer-spec', 'spec.json');
    const plainRun = run(plainPrompt, '--steer-spec', 'spec.json');
    assert.deepEqual(sadRun.conditions, { c0: true });
    assert.deepEqual(plainRun.conditions, { c0: false });
    assert.equal(sadRun.steering?.[0].when?.layer, fitted.chosen.layer);
    // The references, in process: greedy text unsteered, and steered without a condition.
    const reference = async (prompt: string, hooks: Hook[]) => (await generate(model, prompt, { temperature: 0, maxTokens: 12, hooks })).text;
    const push = compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: 'push', layers: [1], coefficient: 3 }] }), modelShape(model), { vector: () => loadVector(path.join(tmp, 'push.safetensors')), sae: () => assert.fail() });
    assert.equal(plainRun.text, await reference(plainPrompt, []), 'not steered where the condition does not hold');
    assert.equal(sadRun.text, await reference(sadPrompt, push), 'steered as without a condition where it holds');
    assert.notEqual(sadRun.text, await reference(sadPrompt, []), 'the steering changes the text');
  });

  test('server: the steering field takes a "when" and the reply says whether it held', async () => {
    const srv = await startServer();
    try {
      const upload = async (name: string, file: string) => {
        const r = await postJson(`${srv.url}/v1/vectors`, { name, safetensors: fs.readFileSync(path.join(tmp, file)).toString('base64') });
        assert.equal(r.status, 201, JSON.stringify(r.json));
      };
      await upload('cond', 'cond.safetensors');
      await upload('push', 'push.safetensors');
      const complete = (prompt: string, steering?: unknown) =>
        postJson<{ choices: { text: string }[]; steerer: { conditions?: Record<string, boolean>[] } }>(`${srv.url}/v1/completions`, { prompt, max_tokens: 10, temperature: 0, ...(steering ? { steering } : {}) });
      const steering = { interventions: [{ vector: 'push', layers: [1], coefficient: 3, when: { vector: 'cond' } }] };
      const [s, p, pBase] = await Promise.all([complete(sad[0], steering), complete(plain[0], steering), complete(plain[0])]);
      assert.equal(s.status, 200, JSON.stringify(s.json));
      assert.deepEqual(s.json.steerer.conditions, [{ c0: true }]);
      assert.deepEqual(p.json.steerer.conditions, [{ c0: false }]);
      assert.equal(p.json.choices[0].text, pBase.json.choices[0].text);
      const bad = await complete(sad[0], { interventions: [{ vector: 'push', layers: [1], when: { vector: 'cond', layer: 9 } }] });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.json), /no direction at layer 9/);
    } finally {
      await srv.close();
    }
  });
});
