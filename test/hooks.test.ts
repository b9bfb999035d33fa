import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import type { Activation, Hook } from '../src/runtime/hooks.js';
import { addVector } from '../src/steering/operators.js';
import { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

let model: HookedModel;
let ids: number[];
const D = 128;

before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
  ids = model.encode('Once upon a time, there was a little girl named Lily.');
});
after(() => model.dispose());

function randomVector(seed: number, scale = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: D }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31 - 0.5) * scale;
  });
}

async function run(hooks: Hook[], logits: 'all' | 'last' | 'none' = 'all') {
  return model.forward({ tokens: [ids], hooks, logits });
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

describe('hook semantics on the real TinyStories model', () => {
  test('a zero intervention leaves logits bit-identical', async () => {
    const base = (await run([])).logits!;
    for (const site of ['resid_pre', 'attn_out', 'resid_mid', 'mlp_out', 'resid_post'] as const) {
      const steered = (await run([{ kind: 'intervene', at: `blocks.1.hook_${site}`, intervention: addVector(new Float32Array(D)) }])).logits!;
      assert.ok(sameBits(base, steered), `zero add at ${site}`);
    }
    const scaledToZero = (await run([{ kind: 'intervene', at: 'blocks.0.hook_resid_post', intervention: addVector(randomVector(1), { scale: 0 }) }])).logits!;
    assert.ok(sameBits(base, scaledToZero), 'coefficient 0');
  });

  test('a no-op JavaScript edit (which splits the graph) leaves logits unchanged', async () => {
    const base = (await run([])).logits!;
    const edited = (await run([{ kind: 'edit', at: 'blocks.0.hook_attn_out', fn: () => {} }, { kind: 'edit', at: 'blocks.1.hook_resid_pre', fn: () => {} }])).logits!;
    assert.ok(maxAbsDiff(base, edited) < 1e-5, `diff ${maxAbsDiff(base, edited)}`);
  });

  test('an added vector changes the residual by exactly that vector', async () => {
    const v = randomVector(2, 3);
    const at = 'blocks.0.hook_resid_post';
    const base = (await run([{ kind: 'capture', at }], 'none')).captures.get(at)!;
    const steered = (await run([{ kind: 'intervene', at, intervention: addVector(v) }, { kind: 'capture', at }], 'none')).captures.get(at)!;
    assert.deepEqual([steered.batch, steered.seq, steered.dim], [1, ids.length, D]);
    for (let r = 0; r < ids.length; r++) {
      for (let d = 0; d < D; d++) assert.equal(steered.data[r * D + d], Math.fround(base.data[r * D + d] + v[d]));
    }
  });

  test('captures hold the values the forward used: residual identities and the LM head', async () => {
    const sites = ['resid_pre', 'attn_out', 'resid_mid', 'mlp_out', 'resid_post'] as const;
    const hooks: Hook[] = [0, 1].flatMap((l) => sites.map((s): Hook => ({ kind: 'capture', at: `blocks.${l}.hook_${s}` })));
    const out = await run(hooks);
    const get = (n: string): Float32Array => out.captures.get(n)!.data;
    for (const l of [0, 1]) {
      const pre = get(`blocks.${l}.hook_resid_pre`);
      const mid = get(`blocks.${l}.hook_resid_mid`);
      get(`blocks.${l}.hook_attn_out`).forEach((a, i) => assert.equal(mid[i], Math.fround(pre[i] + a)));
      const post = get(`blocks.${l}.hook_resid_post`);
      get(`blocks.${l}.hook_mlp_out`).forEach((m, i) => assert.equal(post[i], Math.fround(mid[i] + m)));
    }
    assert.ok(sameBits(get('blocks.0.hook_resid_post'), get('blocks.1.hook_resid_pre')));
    // Final RMSNorm and unembedding, computed here in float64 from the captured residual.
    const post = get('blocks.1.hook_resid_post');
    const norm = model.weights.get('output_norm.weight')!.data;
    const W = model.weights.get('output.weight')!.data;
    const V = model.spec.vocabSize;
    const last = ids.length - 1;
    const x = Array.from(post.subarray(last * D, (last + 1) * D));
    const rms = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / D + model.spec.normEps);
    const xn = x.map((v, d) => v * rms * norm[d]);
    const logits = Array.from({ length: V }, (_, t) => xn.reduce((a, v, d) => a + v * W[d * V + t], 0));
    assert.ok(maxAbsDiff(logits, out.logits!.subarray(last * V, (last + 1) * V)) < 1e-4);
  });

  test('a JavaScript edit and the compiled add give the same result', async () => {
    const v = randomVector(3, 2);
    const compiled = (await run([{ kind: 'intervene', at: 'blocks.0.hook_mlp_out', intervention: addVector(v) }])).logits!;
    const edit = (act: Activation): void => {
      for (let r = 0; r < act.batch * act.seq; r++) for (let d = 0; d < D; d++) act.data[r * D + d] += v[d];
    };
    const js = (await run([{ kind: 'edit', at: 'blocks.0.hook_mlp_out', fn: edit }])).logits!;
    assert.ok(maxAbsDiff(compiled, js) < 1e-5);
    const base = (await run([])).logits!;
    assert.ok(maxAbsDiff(base, js) > 1e-2, 'the edit must change the output');
  });

  test('position selection touches only the selected rows', async () => {
    const at = 'blocks.1.hook_resid_pre';
    const base = (await run([{ kind: 'capture', at }], 'none')).captures.get(at)!.data;
    const v = randomVector(4);
    const steered = (await run([{ kind: 'intervene', at, intervention: addVector(v, { positions: { indices: [2, 5] } }) }, { kind: 'capture', at }], 'none')).captures.get(at)!.data;
    for (let r = 0; r < ids.length; r++) {
      const changed = maxAbsDiff(base.subarray(r * D, (r + 1) * D), steered.subarray(r * D, (r + 1) * D)) > 0;
      assert.equal(changed, r === 2 || r === 5, `row ${r}`);
    }
  });

  test('prompt-only steering is applied during prefill and not to generated tokens', async () => {
    const at = 'blocks.0.hook_resid_post';
    const v = randomVector(5, 4);
    const hooks: Hook[] = [
      { kind: 'intervene', at, intervention: addVector(v, { positions: 'prompt' }) },
      { kind: 'capture', at: 'blocks.0.hook_resid_mid' },
      { kind: 'capture', at: 'blocks.0.hook_mlp_out' },
      { kind: 'capture', at },
    ];
    const cache = model.createCache(1);
    const check = (out: Awaited<ReturnType<typeof run>>, steered: boolean): void => {
      const mid = out.captures.get('blocks.0.hook_resid_mid')!.data;
      const mlp = out.captures.get('blocks.0.hook_mlp_out')!.data;
      const post = out.captures.get(at)!.data;
      post.forEach((p, i) => assert.equal(p, Math.fround(Math.fround(mid[i] + mlp[i]) + (steered ? v[i % D] : 0))));
    };
    check(await model.forward({ tokens: [ids], cache, hooks }), true);
    check(await model.forward({ tokens: [[42]], cache, hooks }), false);
  });

  test('a capture-only pass stops early and returns the same values as a full pass', async () => {
    const at = 'blocks.0.hook_attn_out';
    const early = (await run([{ kind: 'capture', at }], 'none')).captures.get(at)!.data;
    const full = (await run([{ kind: 'capture', at }], 'all')).captures.get(at)!.data;
    assert.ok(sameBits(early, full));
  });

  test('bad hooks are clear errors', async () => {
    await assert.rejects(run([{ kind: 'capture', at: 'blocks.2.hook_resid_post' }]), (e: Error) => e instanceof InvalidInputError && /layer 2 does not exist/.test(e.message));
    await assert.rejects(run([{ kind: 'capture', at: 'blocks.0.hook_nope' }]), InvalidInputError);
    await assert.rejects(run([{ kind: 'capture', at: 'resid_post' }]), InvalidInputError);
    await assert.rejects(run([{ kind: 'intervene', at: 'blocks.0.hook_resid_post', intervention: addVector(new Float32Array(64)) }]), /size 64 .* hidden size is 128/);
    assert.throws(() => addVector(randomVector(1), { scale: Number.NaN }), /finite/);
    assert.throws(() => addVector(Float32Array.from([1, Number.NaN])), /non-finite/);
    await assert.rejects(model.forward({ tokens: [[5000]] }), /outside the vocabulary/);
    await assert.rejects(model.forward({ tokens: [Array(600).fill(5)] }), /exceeds the model's context/);
    await assert.rejects(model.forward({ tokens: Array.from({ length: 400 }, () => Array(500).fill(5)), logits: 'all' }), /float limit/);
  });
});
