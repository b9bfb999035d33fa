import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/decoding/generate.js';
import { saveProbe } from '../src/probes/probe-file.js';
import type { LinearProbe } from '../src/probes/probe.js';
import { trainProbes } from '../src/probes/train-probes.js';
import { collectActivations } from '../src/runtime/activations.js';
import type { HookedModel } from '../src/runtime/model.js';
import { openModel } from '../src/runtime/open-model.js';
import { compileChooser } from '../src/steering/choose.js';
import { ProbePolicy } from '../src/steering/choose-probe.js';
import { fileResolver, readSteeringSpecFile, steeringHooks } from '../src/steering/resolve.js';
import { parseSteeringSpec } from '../src/steering/spec.js';
import { saveVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererInProcess } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';
import { skipUnlessShared } from './helpers/shared.js';

/**
 * Probe mode of `choose` on TinyStories-656K: two concepts, each a vector and a probe trained
 * here on a few sentences, and a policy that must pick the vector whose probe reads furthest
 * below its target on the prompt, as computed by hand from the probe's weights and the prompt's
 * activation (collectActivations, a separate code path from the policy's own read).
 */

const TINY = sharedPath('models', 'tinystories-656k');
const LAYER = 1;

const SAD = ['Tom was very sad and cried.', 'Lily felt sad and alone.', 'The boy cried because he lost his toy.', 'She was unhappy and wept.', 'Sam was sad when his friend left.', 'The girl cried all night.'];
const DOG = ['The dog ran to the park.', 'A big dog barked at the cat.', 'Max the dog wagged his tail.', 'The puppy played with a ball.', 'The dog ate his food.', 'A little dog jumped up.'];
const OTHER = ['The sun was bright in the sky.', 'She had a red ball.', 'They went to the store.', 'The tree was tall and green.', 'He ate an apple.', 'The car was blue.'];

describe('choose: probe mode on tinystories-656k', { skip: skipUnlessShared(path.join(TINY, 'model.safetensors')) }, () => {
  let model: HookedModel;
  let dir: string;
  const probes = new Map<string, LinearProbe>();
  const prompt = 'One day, Tom went to the park and';

  before(async () => {
    model = openModel(TINY, { threads: 1 });
    dir = tempDir('choose-probe');
    const meanAt = async (texts: readonly string[]): Promise<Float32Array> => {
      const acts = await collectActivations(model, texts, { points: [{ layer: LAYER, site: 'resid_post' }], positions: 'mean' });
      const D = model.spec.hiddenSize;
      const all = acts.tensors.values().next().value!;
      const m = new Float32Array(D);
      for (let r = 0; r < acts.rows; r++) for (let d = 0; d < D; d++) m[d] += all[r * D + d] / acts.rows;
      return m;
    };
    const other = await meanAt(OTHER);
    for (const [name, texts] of [['sad', SAD], ['dog', DOG]] as const) {
      const { probe } = await trainProbes(model, [...texts.map((text) => ({ text, label: name })), ...OTHER.map((text) => ({ text, label: 'other' }))], { layers: [LAYER], folds: 2, classes: ['other', name], positions: 'mean', l2: 10 });
      probes.set(name, probe);
      saveProbe(path.join(dir, `${name}.probe.safetensors`), probe);
      const concept = await meanAt(texts);
      saveVector(path.join(dir, `${name}.safetensors`), {
        directions: new Map([[LAYER, concept.map((x, d) => x - other[d])]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: model.spec.architecture, hiddenSize: model.spec.hiddenSize, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), recommended: { layers: [LAYER], coefficient: 2 } },
      });
    }
  });
  after(async () => {
    await model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** P(class) of each probe on the prompt, by hand: w·x + b in float64 on the prompt's mean activation (the probes read means). */
  const byHand = async (): Promise<Record<string, number>> => {
    const acts = await collectActivations(model, [prompt], { points: [{ layer: LAYER, site: 'resid_post' }], positions: 'mean' });
    const x = acts.tensors.values().next().value!;
    const out: Record<string, number> = {};
    for (const [name, probe] of probes) {
      const { weight, bias } = probe.layers.get(LAYER)!;
      let z = bias[0];
      for (let d = 0; d < x.length; d++) z += weight[d] * x[d];
      out[name] = 1 / (1 + Math.exp(-z));
    }
    return out;
  };
  const writeSpec = (targets: Record<string, number>): string => {
    const file = path.join(dir, 'spec.json');
    const candidates = Object.entries(targets).map(([name, target]) => ({ vector: `${name}.safetensors`, probe: `${name}.probe.safetensors`, class: name, target }));
    fs.writeFileSync(file, JSON.stringify({ choose: { mode: 'probe', candidates } }));
    return file;
  };
  const policyFor = (file: string): ProbePolicy => {
    const { spec, baseDir } = readSteeringSpecFile(file);
    const p = compileChooser(model, spec, fileResolver(baseDir));
    assert.ok(p instanceof ProbePolicy);
    return p;
  };

  test('picks the vector whose concept reads furthest below its target, as computed by hand', async () => {
    const level = await byHand();
    assert.ok(level.sad < 0.7 && level.dog < 0.7, `both concepts have room below their targets: ${JSON.stringify(level)}`);
    const ids = model.encode(prompt);
    // Targets a little above each level: dog is further below its target, so dog is chosen;
    // then sad is, and with every target met nothing is.
    for (const [targets, expected] of [
      [{ sad: level.sad + 0.05, dog: level.dog + 0.2 }, 'dog'],
      [{ sad: level.sad + 0.3, dog: level.dog + 0.1 }, 'sad'],
      [{ sad: level.sad - 0.05, dog: level.dog - 0.05 }, undefined],
    ] as const) {
      const gaps = Object.entries(targets).map(([name, t]) => [name, t - level[name]] as const);
      const hand = gaps.filter(([, g]) => g > 0).sort((a, b) => b[1] - a[1])[0]?.[0];
      assert.equal(hand, expected, 'the hand computation itself');
      const decision = await policyFor(writeSpec(targets)).decide(ids);
      assert.equal(decision.chosen, expected, JSON.stringify(decision.readings));
      for (const r of decision.readings) assert.ok(Math.abs(r.level - level[r.vector]) < 1e-5, `${r.vector}: policy ${r.level}, by hand ${level[r.vector]}`);
      assert.equal(decision.hooks.length, expected ? 1 : 0);
    }
  });

  test('the chosen vector steers the turn exactly as the plain spec it reports', async () => {
    const level = await byHand();
    const file = writeSpec({ sad: level.sad + 0.3, dog: level.dog });
    const ids = model.encode(prompt);
    const decision = await policyFor(file).decide(ids);
    assert.equal(decision.chosen, 'sad');
    assert.deepEqual(decision.intervention, { vector: 'sad.safetensors', layers: 'recommended', coefficient: 2, positions: 'all' });
    const opts = { maxTokens: 12, temperature: 0 };
    const chosen = await generate(model, ids, { ...opts, hooks: decision.hooks });
    const plain = await generate(model, ids, { ...opts, hooks: steeringHooks(model, parseSteeringSpec({ interventions: [decision.intervention] }), dir) });
    const bare = await generate(model, ids, opts);
    assert.equal(chosen.text, plain.text);
    assert.notEqual(chosen.text, bare.text, 'the vector changes the text');

    // The CLI: `steerer generate --steer-spec` with the section reports the choice.
    const steerer = steererInProcess(dir);
    const r = await steerer('generate', '-m', TINY, '--steer-spec', file, '-p', prompt, '-n', '12', '--temperature', '0', '--json', '-t', '1');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { text: string; choose: { mode: string; chosen: string; readings: { vector: string; level: number }[] } };
    assert.equal(out.choose.chosen, 'sad');
    assert.equal(out.text, chosen.text);
    const said = await steerer('generate', '-m', TINY, '--steer-spec', file, '-p', prompt, '-n', '4', '--temperature', '0', '-t', '1');
    assert.match(said.stderr, /steerer: probes read sad [\d.e-]+ \(target [\d.e-]+\), dog [\d.e-]+ \(target [\d.e-]+\): steering with sad/);
  });

  test('targets of a classifier probe are probabilities; tools mode needs a chat template', () => {
    const bad = parseSteeringSpec({ choose: { mode: 'probe', candidates: [{ vector: 'sad.safetensors', probe: 'sad.probe.safetensors', target: 3 }] } });
    assert.throws(() => compileChooser(model, bad, fileResolver(dir)), /choose\.candidates\.0: target 3 is a probability/);
    const tools = parseSteeringSpec({ choose: { mode: 'tools', vectors: [{ vector: 'sad.safetensors' }] } });
    assert.throws(() => compileChooser(model, tools, fileResolver(dir)), /needs a chat model: tinystories-656k has no chat template/);
  });
});
