import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { activationPatching, patchedLogits, resolveToken } from '../src/explore/patching.js';
import { hookName, type HookPoint } from '../src/graph/hook-points.js';
import { InvalidInputError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';
import { skipUnlessShared } from './helpers/shared.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

/**
 * Activation patching on TinyStories-656K against what must hold exactly (the last layer's
 * residual is everything the head reads) and against single runs patched by hand through a
 * JavaScript edit hook (another code path than the batched graph replacement).
 */

const MODEL = sharedPath('models', 'tinystories-656k');
const CLEAN = 'Tom had a red ball. Tom gave the ball to';
const CORRUPT = 'Sue had a red ball. Sue gave the ball to';


function logSoftmaxAt(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(s);
}

describe('activation patching (TinyStories-656K)', { skip: skipUnlessShared(sharedPath('models', 'tinystories-656k', 'model.safetensors')) }, () => {
  let model: HookedModel;
  let clean: number[];
  let corrupt: number[];
  let cleanLogits: Float32Array;
  let corruptLogits: Float32Array;
  const last = (): HookPoint => ({ layer: model.spec.numLayers - 1, site: 'resid_post' });
  before(async () => {
    model = new HookedModel(loadModel(MODEL), { threads: 1 });
    clean = model.encode(CLEAN);
    corrupt = model.encode(CORRUPT);
    cleanLogits = (await model.forward({ tokens: [clean], logits: 'last' })).logits!;
    corruptLogits = (await model.forward({ tokens: [corrupt], logits: 'last' })).logits!;
  });
  after(() => model.dispose());

  /** The corrupt run with `point` at `positions` overwritten from a captured clean run, in a JS edit hook. */
  async function byHand(point: HookPoint, positions: readonly number[]): Promise<Float32Array> {
    const cap = await model.forward({ tokens: [clean], hooks: [{ kind: 'capture', at: point }], logits: 'none' });
    const src = cap.captures.get(hookName(point))!.data;
    const D = model.spec.hiddenSize;
    const out = await model.forward({
      tokens: [corrupt],
      logits: 'last',
      hooks: [{ kind: 'edit', at: point, fn: (act) => positions.forEach((p) => act.data.set(src.subarray(p * D, (p + 1) * D), p * D)) }],
    });
    return out.logits!;
  }

  test('the prompts differ and have the same token count', () => {
    assert.equal(clean.length, corrupt.length);
    assert.ok(maxAbsDiff(cleanLogits, corruptLogits) > 0.1);
  });

  test("patching the last layer's residual (all positions, or the last only) gives the clean logits; patching nothing the corrupt ones", async () => {
    const all = await patchedLogits(model, CLEAN, CORRUPT, [{ point: last(), positions: clean.map((_, i) => i) }]);
    assert.ok(maxAbsDiff(all, cleanLogits) < 1e-5, `all positions: ${maxAbsDiff(all, cleanLogits)}`);
    const final = await patchedLogits(model, CLEAN, CORRUPT, [{ point: last(), positions: [clean.length - 1] }]);
    assert.ok(maxAbsDiff(final, cleanLogits) < 1e-5, `last position: ${maxAbsDiff(final, cleanLogits)}`);
    const none = await patchedLogits(model, CLEAN, CORRUPT, []);
    assert.ok(maxAbsDiff(none, corruptLogits) < 1e-5, `nothing: ${maxAbsDiff(none, corruptLogits)}`);
  });

  test('a sweep: effect 1 at the last layer’s last position, 0 elsewhere in that layer, and cells equal to hand-patched runs', async () => {
    const r = await activationPatching(model, CLEAN, CORRUPT, { batchSize: 7 });
    const target = cleanLogits.indexOf(Math.max(...cleanLogits));
    assert.equal(r.target.id, target);
    assert.equal(r.metric, 'logprob');
    assert.ok(Math.abs(r.clean.metric - logSoftmaxAt(cleanLogits, target)) < 1e-5);
    assert.ok(Math.abs(r.corrupt.metric - logSoftmaxAt(corruptLogits, target)) < 1e-5);
    assert.deepEqual(r.sites.map((s) => s.site), ['resid_pre', 'attn_out', 'mlp_out', 'resid_post']);
    assert.deepEqual(r.positions, clean.map((_, i) => i));
    const post = r.sites.find((s) => s.site === 'resid_post')!;
    const L = r.layers.length - 1;
    const P = r.positions.length - 1;
    // Values to 1e-5; the effect divides by clean − corrupt (0.27 nats here), hence 1e-4.
    assert.ok(Math.abs(post.value[L][P] - r.clean.metric) < 1e-5, `value ${post.value[L][P]} vs ${r.clean.metric}`);
    assert.ok(Math.abs(post.effect[L][P]! - 1) < 1e-4, `effect ${post.effect[L][P]}`);
    for (let p = 0; p < P; p++) assert.ok(Math.abs(post.effect[L][p]!) < 1e-4, `position ${p}: ${post.effect[L][p]}`);
    // Where the tokens agree, layer 0's input is the same in both runs: nothing to restore.
    const pre = r.sites.find((s) => s.site === 'resid_pre')!;
    clean.forEach((id, p) => {
      if (id === corrupt[p]) assert.ok(Math.abs(pre.effect[0][p]!) < 1e-4);
    });
    for (const [site, layer, p] of [['attn_out', 0, 2], ['mlp_out', 0, 5], ['resid_pre', 1, 2], ['attn_out', 1, P]] as const) {
      const want = logSoftmaxAt(await byHand({ layer, site }, [p]), target);
      const s = r.sites.find((x) => x.site === site)!;
      assert.ok(Math.abs(s.value[layer][p] - want) < 1e-4, `${site} layer ${layer} position ${p}: ${s.value[layer][p]} vs ${want}`);
      const effect = (want - r.corrupt.metric) / (r.clean.metric - r.corrupt.metric);
      assert.ok(Math.abs(s.effect[layer][p]! - effect) < 1e-3);
    }
  });

  test('logit difference with a foil; batching does not change a cell', async () => {
    const target = resolveToken(model, CLEAN, '#85', '--target');
    const foil = resolveToken(model, CLEAN, ' the', '--foil');
    assert.equal(target, 85);
    assert.equal(foil, model.tokenizer.encode('the').at(-1));
    const opts = { target, foil, sites: ['attn_out' as const], positions: [2, 5, -1] };
    const a = await activationPatching(model, CLEAN, CORRUPT, { ...opts, batchSize: 1 });
    const b = await activationPatching(model, CLEAN, CORRUPT, { ...opts, batchSize: 64 });
    assert.equal(a.metric, 'logit_diff');
    assert.deepEqual(a.positions, [2, 5, clean.length - 1]);
    assert.ok(Math.abs(a.clean.metric - (cleanLogits[target] - cleanLogits[foil])) < 1e-4);
    assert.ok(Math.abs(a.corrupt.metric - (corruptLogits[target] - corruptLogits[foil])) < 1e-4);
    a.sites[0].value.forEach((row, l) => assert.ok(maxAbsDiff(row, b.sites[0].value[l]) < 1e-4));
    const hand = await byHand({ layer: 1, site: 'attn_out' }, [clean.length - 1]);
    assert.ok(Math.abs(a.sites[0].value[1][2] - (hand[target] - hand[foil])) < 1e-4);
  });

  test('clean and corrupt of different token counts are refused, saying why', async () => {
    await assert.rejects(activationPatching(model, CLEAN, 'Sue had a big red ball and she gave it to her friend'), (e: Error) => e instanceof InvalidInputError && /same token count/.test(e.message));
    assert.throws(() => resolveToken(model, CLEAN, 'Mary', '--target'), /"Mary" is 3 tokens/);
    assert.throws(() => resolveToken(model, CLEAN, `#${model.spec.vocabSize}`, '--target'), /outside the vocabulary/);
  });
});
