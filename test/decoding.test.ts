import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileDecoding, DecodingSchema } from '../src/decoding/decoding-spec.js';
import { generate, generateBatch } from '../src/decoding/generate.js';
import type { CandidateScorer, DecodingPlan } from '../src/decoding/plan.js';
import { hookName } from '../src/graph/hook-points.js';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { argmax, logSoftmax } from '../src/runtime/sampling.js';
import { scoreTokens } from '../src/runtime/score.js';
import { compileSpecForGeneration, fileResolver } from '../src/steering/resolve.js';
import { probeScorer } from '../src/decoding/probe-scorer.js';
import { saveProbe } from '../src/probes/probe-file.js';
import { probeScores } from '../src/probes/probe.js';
import { bestProbeLayer, trainProbes } from '../src/probes/train-probes.js';
import { compileSteeringSpec, parseSteeringSpec } from '../src/steering/spec.js';
import { sharedPath } from '../src/util/shared-path.js';
import { rng } from './helpers/prng.js';
import { writeRandomHfModel } from './helpers/random-model.js';

/**
 * Decode-time steering against independent references: each expected token is computed from
 * full forward passes without any KV cache (so lockstep caches that drift show up), combined
 * by the formulas of the papers, and picked by argmax.
 */

let tiny: HookedModel;
const dirs: string[] = [];
const models: HookedModel[] = [];
const open = (dir: string): HookedModel => {
  const m = new HookedModel(loadModel(dir), { threads: 1 });
  models.push(m);
  return m;
};
before(() => {
  tiny = open(sharedPath('models', 'tinystories-656k'));
});
after(async () => {
  await Promise.all(models.map((m) => m.dispose()));
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

const randomModel = (seed: number): string => {
  const m = writeRandomHfModel('llama', { seed, hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64 });
  dirs.push(m.dir);
  return m.dir;
};

/** Last-position logits of a full, cache-free forward. */
async function lastLogits(model: HookedModel, ids: readonly number[], hooks: readonly Hook[] = []): Promise<Float32Array> {
  return (await model.forward({ tokens: [ids], hooks, logits: 'last' })).logits!;
}

const plan = (p: Partial<DecodingPlan>): DecodingPlan => ({ processors: [], runs: [], terms: [], cuts: [], ...p });

function steeringHooks(model: HookedModel, seed: number, scale: number): Hook[] {
  const r = rng(seed);
  const v = Array.from({ length: model.spec.hiddenSize }, () => (r() - 0.5) * scale);
  return compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: v }, layers: 1 }] }), model.spec, fileResolver('.'));
}

describe('proxy-tuning: three models in lockstep', () => {
  test('expert == base gives exactly the target output (greedy and seeded sampling)', async () => {
    const target = open(randomModel(1));
    const guideDir = randomModel(2);
    const expert = open(guideDir);
    const base = open(guideDir);
    const p = plan({
      runs: [
        { name: 'expert', model: expert, hooks: [] },
        { name: 'base', model: base, hooks: [] },
      ],
      terms: [{ name: 'guide', weight: 1.5, plus: 1, minus: 2 }],
    });
    for (const opts of [{ temperature: 0 }, { temperature: 1, seed: 7 }]) {
      const prompts = ['Once upon a time', 'The dog ran'];
      const plain = await generateBatch(target, prompts, { ...opts, maxTokens: 16, stopTokens: [] });
      const guided = await generateBatch(target, prompts, { ...opts, maxTokens: 16, stopTokens: [], decoding: p });
      assert.deepEqual(
        guided.map((g) => g.tokens),
        plain.map((g) => g.tokens),
        JSON.stringify(opts),
      );
    }
  });

  test('target + α(expert − base) matches step-by-step full forwards of the three models', async () => {
    const [target, expert, base] = [open(randomModel(3)), open(randomModel(4)), open(randomModel(5))];
    const alpha = 0.7;
    const prompt = target.encode('Lily and Ben');
    const out = await generate(target, prompt, {
      temperature: 0,
      maxTokens: 10,
      stopTokens: [],
      decoding: plan({
        runs: [
          { name: 'expert', model: expert, hooks: [] },
          { name: 'base', model: base, hooks: [] },
        ],
        terms: [{ name: 'guide', weight: alpha, plus: 1, minus: 2 }],
      }),
    });
    const ids = [...prompt];
    for (let i = 0; i < 10; i++) {
      const [t, e, b] = await Promise.all([target, expert, base].map((m) => lastLogits(m, ids)));
      ids.push(argmax(t.map((x, j) => x + alpha * (e[j] - b[j]))));
    }
    assert.deepEqual(out.tokens, ids.slice(prompt.length));
    // The guide does change the text (otherwise this test would prove nothing).
    const plain = await generate(target, prompt, { temperature: 0, maxTokens: 10, stopTokens: [] });
    assert.notDeepEqual(out.tokens, plain.tokens);
  });

  test('a guide with another vocabulary is refused with the differing ids named', () => {
    const s260 = open(sharedPath('models', 'stories260k'));
    const decoding = DecodingSchema.parse({ guide: { expert: 'a', base: 'b' } });
    assert.throws(() => compileDecoding(decoding, tiny, { model: () => s260 }), /does not share the main model's vocabulary: 511 of the 512 ids/);
  });
});

describe('contrastive decoding and CFG on tinystories-656k', () => {
  test('steered vs unsteered: unsteered + α(steered − unsteered) under the plausibility cut', async () => {
    const hooks = steeringHooks(tiny, 11, 6);
    const alpha = 2;
    const beta = 0.1;
    const prompt = tiny.encode('Once upon a time');
    const decoding = plan({ runs: [{ name: 'amateur', hooks: [] }], terms: [{ name: 'contrast', weight: alpha - 1, plus: 0, minus: 1 }], cuts: [{ stream: 0, beta }] });
    const out = await generate(tiny, prompt, { temperature: 0, maxTokens: 12, stopTokens: [], hooks, decoding });
    const ids = [...prompt];
    for (let i = 0; i < 12; i++) {
      const steered = await lastLogits(tiny, ids, hooks);
      const plain = await lastLogits(tiny, ids);
      const lp = logSoftmax(steered.slice());
      const top = Math.max(...lp);
      const mixed = plain.map((x, j) => (lp[j] >= top + Math.log(beta) ? x + alpha * (steered[j] - x) : -Infinity));
      ids.push(argmax(mixed));
    }
    assert.deepEqual(out.tokens, ids.slice(prompt.length));
  });

  test('CFG with a negative prompt, two prompts of different lengths in one batch', async () => {
    const scale = 1.8;
    const negative = 'Once upon a time there was a happy';
    const prompts = ['Once upon a time', 'The little cat was very'];
    const decoding = compileDecoding(DecodingSchema.parse({ cfg: { scale, negativePrompt: negative } }), tiny, {});
    const out = await generateBatch(tiny, prompts, { temperature: 0, maxTokens: 10, stopTokens: [], decoding });
    for (const [r, text] of prompts.entries()) {
      const ids = tiny.encode(text);
      const neg = tiny.encode(negative);
      const start = ids.length;
      for (let i = 0; i < 10; i++) {
        const cond = await lastLogits(tiny, ids);
        const uncond = await lastLogits(tiny, [...neg, ...ids.slice(start)]);
        ids.push(argmax(cond.map((x, j) => uncond[j] + scale * (x - uncond[j]))));
      }
      assert.deepEqual(out[r].tokens, ids.slice(start), `row ${r}`);
    }
  });
});

describe('logits processors in generation', () => {
  test('a banned word never appears, in any of its spellings', async () => {
    const plain = await generate(tiny, 'Once upon a time', { temperature: 0, maxTokens: 60 });
    assert.match(plain.text, /Lily/);
    const decoding = compileDecoding(DecodingSchema.parse({ processors: [{ type: 'ban', text: 'Lily' }] }), tiny, {});
    for (const seed of [0, 1, 2]) {
      const banned = await generate(tiny, 'Once upon a time', { temperature: 1, seed, maxTokens: 60, decoding });
      assert.doesNotMatch(banned.text, /Lily/);
    }
  });

  test('a token id outside the vocabulary is refused', () => {
    assert.throws(() => compileDecoding(DecodingSchema.parse({ processors: [{ type: 'bias', tokens: [99999], bias: 1 }] }), tiny, {}), /outside the vocabulary/);
    assert.throws(() => compileDecoding(DecodingSchema.parse({ processors: [{ type: 'ban' }] }), tiny, {}), /give "text" or "tokens"/);
  });
});

describe('selection and reranking', () => {
  test('best-of-N by perplexity returns the candidate with the best mean log-prob under the unsteered model', async () => {
    const hooks = steeringHooks(tiny, 3, 4);
    const opts = { temperature: 1, seed: 11, maxTokens: 12, stopTokens: [], hooks };
    const best = await generate(tiny, 'Tom saw a', { ...opts, decoding: plan({ select: { candidates: 3, by: 'perplexity' } }) });
    const prompt = tiny.encode('Tom saw a');
    const scores: number[] = [];
    const alone: number[][] = [];
    for (let j = 0; j < 3; j++) {
      const c = await generate(tiny, prompt, { ...opts, seed: 11 + j });
      alone.push([...c.tokens]);
      const { logprobs } = await scoreTokens(tiny, [...prompt, ...c.tokens]);
      scores.push(logprobs.slice(prompt.length - 1).reduce((a, b) => a + b, 0) / c.tokens.length);
    }
    assert.ok(new Set(alone.map((a) => a.join())).size > 1, 'candidates differ');
    const chosen = scores.indexOf(Math.max(...scores));
    assert.equal(best.selection?.chosen, chosen);
    best.selection!.scores.forEach((s, j) => assert.ok(Math.abs(s - scores[j]) < 1e-4, `score ${j}: ${s} vs ${scores[j]}`));
    assert.deepEqual(best.tokens, alone[chosen]);
  });

  test('best-of-N by a scorer ranks candidates by the score at their last token, or of their mean activation', async () => {
    const point = { layer: 0, site: 'resid_post' as const };
    const r = rng(4);
    const D = tiny.spec.hiddenSize;
    const u = Float32Array.from({ length: D }, () => r() - 0.5);
    const dot = (a: Float32Array, at: number): number => u.reduce((s, x, d) => s + x * a[at + d], 0);
    for (const reduce of ['last', 'mean'] as const) {
      const scorer: CandidateScorer = { name: 'dot', point, reduce, score: (acts, rows) => Float32Array.from({ length: rows }, (_, i) => dot(acts, i * D)) };
      const opts = { temperature: 1, seed: 21, maxTokens: 9, stopTokens: [] };
      const out = await generate(tiny, 'A boy', { ...opts, decoding: plan({ select: { candidates: 4, by: scorer } }) });
      const prompt = tiny.encode('A boy');
      const expected: number[] = [];
      for (let j = 0; j < 4; j++) {
        const c = await generate(tiny, prompt, { ...opts, seed: 21 + j });
        const ids = [...prompt, ...c.tokens];
        const act = (await tiny.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: point }], logits: 'none' })).captures.get(hookName(point))!.data;
        // The score is linear, so the score of the mean is the mean of the per-token scores.
        const perToken = ids.map((_, t) => dot(act, t * D));
        expected.push(reduce === 'last' ? perToken.at(-1)! : perToken.reduce((a, b) => a + b, 0) / ids.length);
      }
      out.selection!.scores.forEach((s, j) => assert.ok(Math.abs(s - expected[j]) < 1e-3, `${reduce} score ${j}: ${s} vs ${expected[j]}`));
      assert.equal(out.selection!.chosen, expected.indexOf(Math.max(...expected)), reduce);
    }
  });

  test('chunk-level selection: the first chunk is the best of the candidates first chunks', async () => {
    const opts = { temperature: 1, seed: 5, stopTokens: [] };
    const every = 6;
    const out = await generate(tiny, 'The bird', { ...opts, maxTokens: 18, decoding: plan({ select: { candidates: 3, every, by: 'perplexity' } }) });
    const prompt = tiny.encode('The bird');
    const firsts: { tokens: readonly number[]; score: number }[] = [];
    for (let j = 0; j < 3; j++) {
      const c = await generate(tiny, prompt, { ...opts, seed: 5 + j, maxTokens: every });
      const { logprobs } = await scoreTokens(tiny, [...prompt, ...c.tokens]);
      firsts.push({ tokens: c.tokens, score: logprobs.slice(prompt.length - 1).reduce((a, b) => a + b, 0) / every });
    }
    const best = firsts.reduce((a, b) => (b.score > a.score ? b : a));
    assert.deepEqual(out.tokens.slice(0, every), best.tokens);
    assert.equal(out.tokens.length, 18);
  });

  test('probe-style reranking picks, among the top-k, the token maximising log p + w · score one step ahead', async () => {
    const point = { layer: 1, site: 'resid_post' as const };
    const r = rng(9);
    const D = tiny.spec.hiddenSize;
    const u = Float32Array.from({ length: D }, () => r() - 0.5);
    const dot = (a: Float32Array, at: number): number => {
      let s = 0;
      for (let d = 0; d < D; d++) s += a[at + d] * u[d];
      return s;
    };
    const weight = 0.5;
    const topK = 4;
    const prompt = tiny.encode('Once upon a time');
    const plain = await generate(tiny, prompt, { temperature: 0, maxTokens: 6, stopTokens: [] });
    for (const reduce of ['last', 'mean'] as const) {
      const scorer: CandidateScorer = { name: 'dot', point, reduce, score: (acts, rows) => Float32Array.from({ length: rows }, (_, i) => dot(acts, i * D)) };
      const out = await generate(tiny, prompt, { temperature: 0, maxTokens: 6, stopTokens: [], decoding: plan({ rerank: { scorer, topK, weight: reduce === 'mean' ? 8 : weight } }) });
      const ids = [...prompt];
      for (let i = 0; i < 6; i++) {
        const lp = logSoftmax(await lastLogits(tiny, ids));
        const top = [...lp.keys()].sort((a, b) => lp[b] - lp[a] || a - b).slice(0, topK);
        let best = -1;
        let bestValue = -Infinity;
        for (const c of top) {
          const act = (await tiny.forward({ tokens: [[...ids, c]], hooks: [{ kind: 'capture', at: point }], logits: 'none' })).captures.get(hookName(point))!.data;
          const perToken = [...ids, c].map((_, t) => dot(act, t * D));
          const score = reduce === 'last' ? perToken.at(-1)! : perToken.reduce((x, y) => x + y, 0) / perToken.length;
          const value = lp[c] + (reduce === 'mean' ? 8 : weight) * score;
          if (value > bestValue) [best, bestValue] = [c, value];
        }
        ids.push(best);
      }
      assert.deepEqual(out.tokens, ids.slice(prompt.length), reduce);
      assert.notDeepEqual(out.tokens, plain.tokens, `${reduce}: the scorer changes the choice`);
    }
  });

  test('reranking leaves the end of a story to the model: an ending is not scored as content, and a marker being spelt is not cut into', async () => {
    // TinyStories-656K ends a story by spelling "<|" "end" "_story" "|>" in ordinary tokens.
    const point = { layer: 1, site: 'resid_post' as const };
    const D = tiny.spec.hiddenSize;
    const markers = ['<unk>', '<|start_story|>', '<|end_story|>'];
    const eos = 2;
    const startsMarker = (id: number): boolean => {
      const t = tiny.tokenizer.decode([id]).trimStart();
      return t !== '' && markers.some((m) => m.startsWith(t));
    };
    const spelling = (text: string): boolean => markers.some((m) => Array.from({ length: m.length - 1 }, (_, k) => m.slice(0, k + 1)).some((p) => text.endsWith(p)));
    const lastAct = async (ids: readonly number[]): Promise<Float32Array> =>
      (await tiny.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: point }], logits: 'none' })).captures.get(hookName(point))!.data.slice((ids.length - 1) * D, ids.length * D);
    // The scorer likes (sign +1) or dislikes (−1) the state right after "<|" at a story's end.
    // Scored as content, the first skipped the ending and the second spelt "<|endend_story|>".
    const a = await lastAct([...tiny.encode('Tim was happy.'), 208]);
    const cos = (v: Float32Array): number => {
      let [ab, aa, bb] = [0, 0, 0];
      for (let d = 0; d < D; d++) [ab, aa, bb] = [ab + v[d] * a[d], aa + a[d] * a[d], bb + v[d] * v[d]];
      return ab / Math.sqrt(aa * bb);
    };
    let endingsSeen = 0;
    let spellingSeen = 0;
    for (const [prompt, sign, weight] of [['Tim was happy.', -1, 10], ['The dog ran away. Sue was sad.', 1, 10], ['Once upon a time', 1, 10]] as const) {
      const scorer: CandidateScorer = { name: 'marker', point, reduce: 'last', score: (acts, rows) => Float32Array.from({ length: rows }, (_, i) => sign * cos(acts.subarray(i * D, (i + 1) * D))) };
      const out = await generate(tiny, prompt, { temperature: 0, maxTokens: 24, decoding: plan({ rerank: { scorer, topK: 8, weight } }) });
      // Reference from full forwards: while the text ends in a piece of a marker the model's own
      // choice stands; otherwise end tokens score the mean of the content candidates.
      const ids = tiny.encode(prompt);
      const gen: number[] = [];
      let text = '';
      let finish = 'length';
      for (let step = 0; step < 24; step++) {
        const lp = logSoftmax(await lastLogits(tiny, [...ids, ...gen]));
        let id: number;
        if (spelling(text)) {
          spellingSeen++;
          id = lp.indexOf(Math.max(...lp));
        } else {
          const top = [...lp.keys()].sort((x, y) => lp[y] - lp[x] || x - y).slice(0, 8);
          const scores = new Map<number, number>();
          for (const c of top) scores.set(c, sign * cos(await lastAct([...ids, ...gen, c])));
          const content = top.filter((c) => c !== eos && !startsMarker(c)).map((c) => scores.get(c)!);
          const neutral = content.reduce((x, y) => x + y, 0) / content.length;
          if (content.length < top.length) endingsSeen++;
          const value = (c: number): number => lp[c] + weight * (c === eos || startsMarker(c) ? neutral : scores.get(c)!);
          id = top.reduce((best, c) => (value(c) > value(best) ? c : best));
        }
        if (id === eos) {
          finish = 'stop';
          break;
        }
        gen.push(id);
        text = tiny.tokenizer.decode(gen);
        const at = Math.min(...markers.map((m) => (text.includes(m) ? text.indexOf(m) : Infinity)));
        if (at < Infinity) {
          [text, finish] = [text.slice(0, at), 'stop'];
          break;
        }
      }
      assert.equal(out.text, text, `${prompt} (sign ${sign})`);
      assert.equal(out.finishReason, finish, `${prompt} (sign ${sign})`);
      assert.doesNotMatch(out.text, /<\|end/);
    }
    assert.ok(endingsSeen > 0 && spellingSeen > 0, `the test reaches both rules (${endingsSeen}, ${spellingSeen})`);
  });
});

describe('a trained probe as the scorer', () => {
  test('best-of-N by a probe file in the spec: scores are the probe at the last token of each candidate', async () => {
    const names = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Mia', 'Anna', 'Sam'];
    const examples = names.flatMap((n) => [
      { text: `${n} was very sad and cried all day.`, label: 'sad' },
      { text: `${n} lost the ball and felt sad and alone.`, label: 'sad' },
      { text: `${n} was very happy and laughed all day.`, label: 'happy' },
      { text: `${n} found the ball and felt happy and loved.`, label: 'happy' },
    ]);
    const { probe } = await trainProbes(tiny, examples, { folds: 4, positions: 'last', classes: ['happy', 'sad'] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-probe-decoding-'));
    dirs.push(dir);
    saveProbe(path.join(dir, 'mood.safetensors'), probe);
    const spec = parseSteeringSpec({ decoding: { select: { candidates: 3, by: { probe: 'mood.safetensors', class: 'happy' } } } });
    const { decoding } = compileSpecForGeneration(tiny, spec, fileResolver(dir));
    const opts = { temperature: 1, seed: 8, maxTokens: 10, stopTokens: [] };
    const out = await generate(tiny, 'One day,', { ...opts, decoding });
    const layer = bestProbeLayer([...probe.metrics!].map(([l, metrics]) => ({ layer: l, metrics })))!;
    const point = { layer, site: probe.site };
    const prompt = tiny.encode('One day,');
    const expected: number[] = [];
    for (let j = 0; j < 3; j++) {
      const c = await generate(tiny, prompt, { ...opts, seed: 8 + j });
      const ids = [...prompt, ...c.tokens];
      const cap = await tiny.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: point }], logits: 'none' });
      const D = tiny.spec.hiddenSize;
      const last = cap.captures.get(hookName(point))!.data.slice((ids.length - 1) * D, ids.length * D);
      // Favouring "happy", the negative class of a binary probe, flips the sign of its logit.
      expected.push(-probeScores(probe, layer, last, 1)[0]);
    }
    out.selection!.scores.forEach((s, j) => assert.ok(Math.abs(s - expected[j]) < 1e-3, `score ${j}: ${s} vs ${expected[j]}`));
    assert.equal(out.selection!.chosen, expected.indexOf(Math.max(...expected)));
    assert.throws(() => probeScorer(probe, tiny, undefined, 'angry'), /no class "angry"/);
    assert.throws(() => probeScorer(probe, tiny, 7), /no layer 7/);
  });
});

describe('the decoding section of the steering spec', () => {
  test('parses, fills defaults, and reports bad values with their path', () => {
    const spec = parseSteeringSpec({ decoding: { contrast: { alpha: 2 }, processors: [{ type: 'bias', text: 'sad', bias: 2 }] } });
    assert.deepEqual(spec.interventions, []);
    assert.deepEqual(spec.decoding?.contrast, { alpha: 2, plausibility: 0.1, cutUnder: 'expert', amateur: { steered: false } });
    assert.throws(() => parseSteeringSpec({ decoding: { contrast: { alpha: 2, plausibility: 2 } } }), /decoding\.contrast\.plausibility/);
    assert.throws(() => parseSteeringSpec({ decoding: { processors: [{ type: 'nope' }] } }), /decoding\.processors\.0/);
    assert.throws(() => parseSteeringSpec({ decoding: { select: { candidates: 1 } } }), /decoding\.select\.candidates/);
  });
});
