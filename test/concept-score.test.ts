import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SteeringTrial } from '../src/auto/steering-trial.js';
import { coherence } from '../src/evals/coherence.js';
import { embeddingScorer, likelihoodScorer, projectionScorer } from '../src/evals/concept-score.js';
import { compareSpans } from '../src/runtime/score.js';
import { loadModel } from '../src/model/load.js';
import { collectActivations } from '../src/runtime/activations.js';
import { generateBatch } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { logSoftmax } from '../src/runtime/sampling.js';
import { scoreTokens } from '../src/runtime/score.js';
import { sharedPath } from '../src/util/shared-path.js';
import { rng } from './helpers/prng.js';

function gaussianVector(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

let model: HookedModel;
before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
});
after(async () => {
  await model.dispose();
});

const close = (a: number, b: number, tol = 1e-4): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const sumFrom = (lp: Float64Array, from: number): number => lp.slice(from).reduce((a, b) => a + b, 0);

describe('span log-probs and KL', () => {
  test('batched span scores equal scoreTokens on each text; KL of a run against itself is 0', async () => {
    const texts = ['Tom had a red ball.', 'The sun was hot and Lily went to the park to play.', 'Hi.'];
    const spans = texts.map((t) => ({ ids: model.encode(t), from: 2 }));
    const scores = await compareSpans(model, spans, { reference: [] });
    for (const [i, s] of scores.entries()) {
      const ref = await scoreTokens(model, spans[i].ids);
      assert.equal(s.logprobs.length, spans[i].ids.length - 2);
      s.logprobs.forEach((lp, k) => close(lp, ref.logprobs[k + 1]));
      s.kl.forEach((x) => close(x, 0, 1e-6));
    }
  });

  test('KL(steered ‖ unsteered) matches a hand computation from two forwards', async () => {
    const hooks = SteeringTrial.hooks(gaussianVector(model.spec.hiddenSize, 5), 1, 'resid_post', 2);
    const ids = model.encode('Once upon a time, there was a cat');
    const [s] = await compareSpans(model, [{ ids, from: ids.length - 1 }], { hooks, reference: [] });
    const V = model.spec.vocabSize;
    const row = (logits: Float32Array) => logSoftmax(logits.slice((ids.length - 2) * V, (ids.length - 1) * V));
    const p = row((await model.forward({ tokens: [ids], hooks, logits: 'all' })).logits!);
    const q = row((await model.forward({ tokens: [ids], logits: 'all' })).logits!);
    let kl = 0;
    for (let v = 0; v < V; v++) kl += Math.exp(p[v]) * (p[v] - q[v]);
    assert.ok(kl > 1e-3, 'the steering changes the distribution');
    close(s.kl[0], kl);
    close(s.referenceLogprobs[0], q[ids[ids.length - 1]]);
  });
});

describe('coherence', () => {
  test('perplexity of continuations under the unsteered model equals the scoreTokens computation', async () => {
    const outs = await generateBatch(model, ['Once upon a time', 'The dog'], { maxTokens: 12, temperature: 0.8, seed: 4 });
    const c = await coherence(model, outs);
    let nll = 0;
    let n = 0;
    for (const o of outs) {
      const lp = (await scoreTokens(model, [...o.promptTokens, ...o.tokens])).logprobs;
      for (let k = o.promptTokens.length - 1; k < lp.length; k++, n++) nll -= lp[k];
    }
    assert.equal(c.tokens, n);
    close(c.perplexity, Math.exp(nll / n));
    assert.equal(c.meanKl, undefined);
  });
});

describe('concept scores', () => {
  test('likelihood: log p(concept | text + bridge) − log p(concept | bridge), by hand through scoreTokens', async () => {
    const scorer = likelihoodScorer(model, { concept: 'sad', template: '{text} The story was {concept}' });
    const text = 'Lily cried because her dog was lost.';
    const [score] = await scorer.score([{ promptTokens: [], tokens: [], text, output: text }]);
    const lpOf = async (ctx: string): Promise<number> => {
      const head = model.encode(ctx);
      const ids = model.encode(`${ctx} sad`);
      let from = 0;
      while (head[from] === ids[from]) from++;
      return sumFrom((await scoreTokens(model, ids)).logprobs, from - 1);
    };
    close(score, (await lpOf(`${text} The story was`)) - (await lpOf(' The story was')));
  });

  test('with a neutral concept the neutral gain is subtracted', async () => {
    const text = 'Tom was happy and sang a song.';
    const out = { promptTokens: [], tokens: [], text, output: text };
    const [both] = await likelihoodScorer(model, { concept: 'sad', neutral: 'happy' }).score([out]);
    const [sad] = await likelihoodScorer(model, { concept: 'sad' }).score([out]);
    const [happy] = await likelihoodScorer(model, { concept: 'happy' }).score([out]);
    close(both, sad - happy);
  });

  test('projection: mean over the continuation of <h, unit direction>, by hand through collectActivations', async () => {
    const D = model.spec.hiddenSize;
    const direction = gaussianVector(D, 9);
    const [o] = await generateBatch(model, ['Once upon a time'], { maxTokens: 10, temperature: 0 });
    const [score] = await projectionScorer(model, direction, { layer: 1, site: 'resid_post' }).score([{ ...o, output: o.text }]);
    const acts = await collectActivations(model, [[...o.promptTokens, ...o.tokens]], { points: [{ layer: 1, site: 'resid_post' }] });
    const h = acts.tensors.get('blocks.1.hook_resid_post')!;
    const norm = Math.hypot(...direction);
    let sum = 0;
    for (let t = o.promptTokens.length; t < o.promptTokens.length + o.tokens.length; t++) {
      for (let d = 0; d < D; d++) sum += (h[t * D + d] * direction[d]) / norm;
    }
    close(score, sum / o.tokens.length);
  });

  test('embedding: cosine of mean-pooled states of output and concept name', async () => {
    const D = model.spec.hiddenSize;
    const point = { layer: 0, site: 'resid_post' as const };
    const [o] = await generateBatch(model, ['The cat'], { maxTokens: 8, temperature: 0 });
    const [score] = await embeddingScorer(model, { concept: 'sad', point }).score([{ ...o, output: o.text }]);
    const meanOf = async (ids: number[], from: number): Promise<number[]> => {
      const h = (await collectActivations(model, [ids], { points: [point] })).tensors.get('blocks.0.hook_resid_post')!;
      const m = new Array<number>(D).fill(0);
      for (let t = from; t < ids.length; t++) for (let d = 0; d < D; d++) m[d] += h[t * D + d] / (ids.length - from);
      return m;
    };
    const a = await meanOf([...o.promptTokens, ...o.tokens], o.promptTokens.length);
    const b = await meanOf(model.encode('sad'), 1);
    const dot = a.reduce((s, x, d) => s + x * b[d], 0);
    close(score, dot / (Math.hypot(...a) * Math.hypot(...b)));
  });
});
