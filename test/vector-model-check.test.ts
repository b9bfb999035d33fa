import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ModelMismatchError } from '../src/steering/model-match.js';
import { compileSteeringSpec, parseSteeringSpec, type ResolvedIntervention } from '../src/steering/spec.js';
import { saveVector } from '../src/steering/vector-file.js';
import type { ModelIdentity, SteeringVector } from '../src/steering/vector.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';
import { postJson, startServer } from './helpers/server.js';

/** A vector made on one model and applied to another with the same hidden size is refused unless forced. */

const D = 128;
const TINY: ModelIdentity = { name: 'tinystories-656k', architecture: 'LlamaForCausalLM', hiddenSize: D, numLayers: 2 };

function vectorMadeOn(model: ModelIdentity): SteeringVector {
  return {
    directions: new Map([[1, Float32Array.from({ length: model.hiddenSize }, (_, i) => Math.cos(i))]]),
    meta: { format: 'steerer.vector/v1', model, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), recommended: { layers: [1], coefficient: 2 } },
  };
}

function inTempDir(t: { after(fn: () => void): void }, name: string): string {
  const dir = tempDir(name);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('vectors made on another model', () => {
  const compile = (made: ModelIdentity, model: { hiddenSize: number; numLayers: number; name?: string; architecture?: string }, force?: boolean) => {
    const seen: ResolvedIntervention[] = [];
    const spec = parseSteeringSpec({ interventions: [{ vector: 'sad.safetensors', layers: [1] }], ...(force === undefined ? {} : { force }) });
    const hooks = compileSteeringSpec(spec, model, { vector: () => vectorMadeOn(made), sae: () => assert.fail('no SAE') }, (r) => seen.push(r));
    return { hooks, seen };
  };

  test('the library refuses a recorded mismatch of name, architecture or layer count, and applies it with a warning when forced', () => {
    const model = { hiddenSize: D, numLayers: 2, name: 'tinystories-656k', architecture: 'LlamaForCausalLM' };
    assert.equal(compile(TINY, model).hooks.length, 1);
    // The same model under another spelling (a GGUF's general.name, its architecture) is the same model.
    assert.equal(compile(TINY, { ...model, name: 'TinyStories 656K', architecture: 'llama' }).hooks.length, 1);
    for (const other of [{ ...model, name: 'stories-other' }, { ...model, architecture: 'Qwen2ForCausalLM' }, { ...model, numLayers: 4 }]) {
      assert.throws(
        () => compile(TINY, other),
        (e: unknown) => e instanceof ModelMismatchError && /^interventions\.0: vector sad\.safetensors was made on tinystories-656k \(LlamaForCausalLM, 2 layers\), not on this model/.test(e.message) && /"force": true/.test(e.message),
      );
      const { hooks, seen } = compile(TINY, other, true);
      assert.equal(hooks.length, 1);
      assert.match(seen[0].warning ?? '', /was made on tinystories-656k/);
    }
    // Imported vectors record no model: only the hidden size can be checked.
    assert.equal(compile({ name: 'unknown', architecture: 'unknown', hiddenSize: D, numLayers: 2 }, { ...model, name: 'anything', numLayers: 7 }).hooks.length, 1);
    // A different hidden size is never forced.
    assert.throws(() => compile({ ...TINY, hiddenSize: 64 }, model, true), /hidden size 64/);
  });

  test('the CLI refuses in one line naming --force, and --force applies it with a warning on stderr', (t) => {
    const dir = inTempDir(t, 'model-check-cli');
    // The same weights under another name: a model the vector was not made on, with its hidden size.
    const other = path.join(dir, 'other-model');
    fs.mkdirSync(other);
    for (const f of fs.readdirSync(sharedPath('models', 'tinystories-656k'))) fs.copyFileSync(sharedPath('models', 'tinystories-656k', f), path.join(other, f));
    saveVector(path.join(dir, 'sad.safetensors'), vectorMadeOn(TINY));
    const steerer = steererSyncIn(dir);
    const args = ['generate', '-m', 'other-model', '-p', 'Once', '-n', '4', '--temp', '0', '--steer', 'sad.safetensors', '--json'];

    const refused = steerer(...args);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^steerer: --steer: vector sad\.safetensors was made on tinystories-656k \(LlamaForCausalLM, 2 layers\), not on this model, other-model \(LlamaForCausalLM, 2 layers\): .*; give --force to apply it anyway\n$/);
    assert.equal(refused.stdout, '');
    const evalRefused = steerer('eval', '-m', 'other-model', '--vector', 'sad.safetensors', '-o', 'report');
    assert.equal(evalRefused.status, 1);
    assert.match(evalRefused.stderr, /^steerer: --vector: vector sad\.safetensors was made on tinystories-656k .*; give --force to apply it anyway\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'report.json')));

    const forced = steerer(...args, '--force');
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stderr, /^steerer: warning: vector sad\.safetensors was made on tinystories-656k .* \(applied because of --force\)$/m);
    const out = JSON.parse(forced.stdout) as { steering: { warning?: string; layers: number[]; coefficient: number }[] };
    assert.deepEqual([out.steering[0].layers, out.steering[0].coefficient], [[1], 2]);
    assert.match(out.steering[0].warning ?? '', /made on tinystories-656k/);

    // A spec file may force it too, and the model it was made on needs nothing.
    fs.writeFileSync(path.join(dir, 'forced.json'), JSON.stringify({ force: true, interventions: [{ vector: 'sad.safetensors' }] }));
    fs.writeFileSync(path.join(dir, 'story.txt'), 'Once upon a time, there was a little cat. The cat was sad.');
    const bySpec = steerer('perplexity', '-m', 'other-model', '-f', 'story.txt', '--steer-spec', 'forced.json', '--json');
    assert.equal(bySpec.status, 0, bySpec.stderr);
    assert.match(bySpec.stderr, /warning: vector sad\.safetensors was made on/);
    const same = steerer('perplexity', '-m', sharedPath('models', 'tinystories-656k'), '-f', 'story.txt', '--steer', 'sad.safetensors', '--json');
    assert.equal(same.status, 0, same.stderr);
    assert.doesNotMatch(same.stderr, /warning/);
  });

  test('the server answers 400 unless the steering spec says "force": true', async (t) => {
    const srv = await startServer();
    t.after(() => srv.close());
    fs.mkdirSync(path.join(srv.dataDir, 'vectors'), { recursive: true });
    const file = path.join(inTempDir(t, 'model-check-server'), 'v.safetensors');
    saveVector(file, vectorMadeOn({ ...TINY, name: 'some-other-model' }));
    const up = await postJson(`${srv.url}/v1/vectors`, { name: 'foreign', safetensors: fs.readFileSync(file).toString('base64') });
    assert.equal(up.status, 201, JSON.stringify(up.json));

    const refused = await postJson<{ error: { message: string; code: string; param: string } }>(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 3, steering: { interventions: [{ vector: 'foreign' }] } });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.code, 'vector_model_mismatch');
    assert.equal(refused.json.error.param, 'steering');
    assert.match(refused.json.error.message, /vector foreign was made on some-other-model .*add "force": true to "steering"/);

    const forced = await postJson<{ steerer: { steering: { warning?: string; coefficient: number }[] } }>(`${srv.url}/v1/completions`, { prompt: 'Once', max_tokens: 3, steering: { force: true, interventions: [{ vector: 'foreign' }] } });
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    assert.equal(forced.json.steerer.steering[0].coefficient, 2);
    assert.match(forced.json.steerer.steering[0].warning ?? '', /made on some-other-model/);
  });
});
