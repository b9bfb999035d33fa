import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BENCHMARKS, benchmarkPath, readMultipleChoice } from '../src/evals/benchmark-files.js';
import { evaluateCaaAb, readCaaAb, type CaaAbItem } from '../src/evals/caa-ab.js';
import { choiceLogprobs, evaluateMultipleChoice, type BenchmarkItem, type MultipleChoiceItem } from '../src/evals/multiple-choice.js';
import { relativeChange, retentionTable } from '../src/evals/retention.js';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { renderChat } from '../src/model/chat-template.js';
import { loadModel } from '../src/model/load.js';
import type { LoadedModel } from '../src/model/spec.js';
import type { TextTokenizer } from '../src/model/tokenizer.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import { scoreTokens } from '../src/runtime/score.js';
import { CAA_ANSWER_PREFIX } from '../src/steering/contrast-pairs.js';
import { addVector } from '../src/steering/operators.js';
import { sharedPath } from '../src/util/shared-path.js';

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const TOL = 1e-4;

let loaded: LoadedModel;
let model: HookedModel;
let dir: string;

before(() => {
  loaded = loadModel(sharedPath('models', 'tinystories-656k'));
  model = new HookedModel(loaded, { threads: 1 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-mc-'));
});

after(async () => {
  await model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** |actual − expected| ≤ tol, failing with both values (assert.ok without a message can stall under tsx). */
function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);
}

function write(name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

/**
 * The first token of `ids` (tokens of context + continuation) that reaches past the context,
 * found by decoding: tokens before it decode to a prefix of the context. An independent way to
 * the boundary the implementation finds by comparing token prefixes.
 */
function boundaryByDecoding(m: HookedModel, context: string, ids: readonly number[]): number {
  let t = 1;
  while (t < ids.length - 1 && context.startsWith(m.tokenizer.decode(ids.slice(0, t + 1)))) t++;
  return t;
}

/** Sum of scoreTokens' log-probs of ids[start..] (an independent single-sequence path). */
async function tailSum(m: HookedModel, ids: readonly number[], start: number, hooks?: readonly Hook[]): Promise<number> {
  const { logprobs } = await scoreTokens(m, ids, { hooks });
  let s = 0;
  for (let t = start; t < ids.length; t++) s += logprobs[t - 1];
  return s;
}

function randomVector(seed: number, dim: number, scale: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: dim }, () => (rng.nextFloat() * 2 - 1) * scale);
}

describe('choiceLogprobs', () => {
  const cases: { context: string; continuations: string[] }[] = [
    { context: 'Once upon a time, there was a little', continuations: ['girl', 'xqzv purple seventeen', ' dog named Max.'] },
    { context: 'Tom had a', continuations: ['red ball', 'big red ball that he loved.'] },
    { context: 'Lily and Ben were friends.\n', continuations: ['They played together.', 'Ball.'] },
  ];

  test('equals the scoreTokens sum over the continuation tokens of the full text', async () => {
    for (const { context, continuations } of cases) {
      const got = await choiceLogprobs(model, context, continuations);
      assert.equal(got.length, continuations.length);
      for (const [k, cont] of continuations.entries()) {
        const sep = /\s$/.test(context) || /^\s/.test(cont) ? '' : ' ';
        const ids = model.encode(context + sep + cont);
        const start = boundaryByDecoding(model, context, ids);
        assert.equal(got[k].tokens, ids.length - start, `${context} | ${cont}`);
        assert.equal(got[k].chars, cont.length);
        close(got[k].logprob, await tailSum(model, ids, start), TOL, `${context} | ${cont}`);
        assert.ok(got[k].logprob < 0, `log-prob ${got[k].logprob}`);
      }
    }
  });

  test('a token BPE merges across the boundary is scored as continuation', async () => {
    // "little girl" is one token of this vocabulary, though the context ends with "little".
    const ids = model.encode('Once upon a time, there was a little girl');
    assert.equal(model.tokenizer.decode(ids.slice(-1)), 'little girl');
    const [s] = await choiceLogprobs(model, 'Once upon a time, there was a little', ['girl']);
    assert.equal(s.tokens, 1);
    const { logprobs } = await scoreTokens(model, ids);
    close(s.logprob, logprobs[logprobs.length - 1], TOL, 'merged token');
  });

  test('hooks are applied (steered scores match scoreTokens under the same hooks)', async () => {
    const hooks: Hook[] = [{ kind: 'intervene', at: 'blocks.0.hook_resid_post', intervention: addVector(randomVector(5, model.spec.hiddenSize, 2)) }];
    const { context, continuations } = cases[0];
    const plain = await choiceLogprobs(model, context, continuations);
    const steered = await choiceLogprobs(model, context, continuations, { hooks });
    for (const [k, cont] of continuations.entries()) {
      const ids = model.encode(context + (/^\s/.test(cont) ? '' : ' ') + cont);
      const start = boundaryByDecoding(model, context, ids);
      close(steered[k].logprob, await tailSum(model, ids, start, hooks), TOL, `steered ${cont}`);
      assert.ok(Math.abs(steered[k].logprob - plain[k].logprob) > 1e-3, 'the hook changed nothing');
    }
  });

  test('a context longer than the model is cut from the left, BOS kept', async () => {
    const context = 'Once upon a time, there was a little girl named Lily. She liked to play in the park. '.repeat(60).trim();
    const cont = 'She was very happy.';
    const full = model.encode(`${context} ${cont}`);
    const limit = model.spec.maxPositions;
    assert.ok(full.length > limit + 50, `the test text has only ${full.length} tokens`);
    const start = boundaryByDecoding(model, context, full);
    const cut = full.length - limit;
    const truncated = [full[0], ...full.slice(1 + cut)];
    assert.equal(truncated.length, limit);
    const [s] = await choiceLogprobs(model, context, [cont]);
    assert.equal(s.tokens, full.length - start);
    close(s.logprob, await tailSum(model, truncated, start - cut), TOL, 'truncated context');
    // A continuation that cannot fit at all is an error, not a silently partial score.
    await assert.rejects(choiceLogprobs(model, 'Hi', [context]), (e: unknown) => e instanceof InvalidInputError && /too many for the model's context/.test(e.message));
  });

  test('rejects bad arguments', async () => {
    await assert.rejects(choiceLogprobs(model, 'Hi', []), InvalidInputError);
    await assert.rejects(choiceLogprobs(model, 'Hi', ['']), InvalidInputError);
    await assert.rejects(choiceLogprobs(model, 'Hi', ['there'], { batchSize: 0 }), InvalidInputError);
  });
});

describe('evaluateMultipleChoice', () => {
  const items: BenchmarkItem[] = [
    { query: 'Once upon a time, there was a little', choices: ['girl', 'xqzv purple seventeen'], gold: 0 },
    { query: 'Lily and Ben went to the', choices: ['quantum chromodynamics seminar', 'park to play.', 'zzk'], gold: 1 },
    { query: 'The cat said', choices: ['qqqx vvvz', '"Meow!"'], gold: 1 },
    { query: 'Tom saw a big dog. The dog was', choices: ['happy and wagged its tail.', 'x'], gold: 0 },
    { contexts: ['Lily gave Ben a toy because Lily', 'Lily gave Ben a toy because Ben'], continuation: 'was kind.', gold: 0 },
    // Long and likely per character, short and likely in total: acc and acc_norm disagree.
    { query: 'Once upon a time, there was a', choices: ['little girl named Lily.', 'big'], gold: 0 },
  ];

  test('correct flags follow the independent scoreTokens sums', async () => {
    const res = await evaluateMultipleChoice(model, items);
    assert.equal(res.n, items.length);
    const expected: boolean[] = [];
    const expectedNorm: boolean[] = [];
    for (const [i, item] of items.entries()) {
      const pairs = 'contexts' in item ? item.contexts.map((c) => [c, item.continuation]) : item.choices.map((c) => [item.query, c]);
      const sums: number[] = [];
      const norms: number[] = [];
      for (const [k, [ctx, cont]] of pairs.entries()) {
        const ids = model.encode(`${ctx} ${cont}`);
        const s = await tailSum(model, ids, boundaryByDecoding(model, ctx, ids));
        close(res.scores[i][k].logprob, s, TOL, `item ${i} choice ${k}`);
        sums.push(s);
        norms.push(s / cont.length);
      }
      expected.push(sums.indexOf(Math.max(...sums)) === item.gold);
      expectedNorm.push(norms.indexOf(Math.max(...norms)) === item.gold);
    }
    assert.deepEqual(res.correct, expected);
    assert.deepEqual(res.correctNorm, expectedNorm);
    assert.equal(res.accuracy, expected.filter(Boolean).length / items.length);
    assert.equal(res.accuracyNorm, expectedNorm.filter(Boolean).length / items.length);
    // Normalising by length cannot change the ranking of one shared continuation.
    assert.equal(res.correctNorm[4], res.correct[4]);
    // Normalising by characters (not tokens) separates acc from acc_norm here.
    assert.notEqual(expected[5], expectedNorm[5], 'item 5 no longer separates acc from acc_norm');
  });

  test('batched scores equal one-sequence-at-a-time scores', async () => {
    const progress: [number, number][] = [];
    const batched = await evaluateMultipleChoice(model, items, { batchSize: 8, onProgress: (d, t) => progress.push([d, t]) });
    const total = 2 + 3 + 2 + 2 + 2 + 2;
    assert.deepEqual(progress.at(-1), [total, total]);
    assert.equal(progress.length, 2); // 13 sequences in batches of 8
    for (const [i, item] of items.entries()) {
      const single = await evaluateMultipleChoice(model, [item], { batchSize: 1 });
      assert.equal(single.scores[0].length, batched.scores[i].length);
      for (const [k, s] of single.scores[0].entries()) {
        assert.equal(batched.scores[i][k].tokens, s.tokens);
        close(batched.scores[i][k].logprob, s.logprob, 1e-5, `item ${i} choice ${k}`);
      }
      assert.equal(single.correct[0], batched.correct[i]);
    }
  });

  test('bad in-memory items are rejected naming the item', async () => {
    const bad: MultipleChoiceItem[] = [items[0] as MultipleChoiceItem, { query: 'a', choices: ['b', 'c'], gold: 2 }];
    await assert.rejects(evaluateMultipleChoice(model, bad), (e: unknown) => e instanceof InvalidInputError && /item 1.*gold 2/.test(e.message));
    await assert.rejects(evaluateMultipleChoice(model, []), InvalidInputError);
  });
});

describe('benchmark files', () => {
  test('reads the shared benchmarks', () => {
    const arc = readMultipleChoice(benchmarkPath('arc_easy'));
    assert.equal(arc.length, 2376);
    assert.deepEqual(arc[1], {
      query: 'Question: Which piece of safety equipment is used to keep mold spores from entering the respiratory system?',
      choices: ['safety goggles', 'breathing mask', 'rubber gloves', 'lead apron'],
      gold: 1,
    });
    const piqa = readMultipleChoice(benchmarkPath('piqa'));
    assert.equal(piqa.length, 1838);
    assert.equal((piqa[1] as MultipleChoiceItem).query, 'Question: dresser\n');
    assert.deepEqual((piqa[1] as MultipleChoiceItem).choices, ['replace drawer with bobby pin', 'finish, woodgrain with  bobby pin']);
    assert.equal(piqa[1].gold, 1);
    const copa = readMultipleChoice(benchmarkPath('copa'));
    assert.equal(copa.length, 100);
    assert.deepEqual(copa[0], { query: 'The man turned on the faucet, therefore', choices: ['the toilet filled with water.', 'water flowed from the spout.'], gold: 1 });
    const boolq = readMultipleChoice(benchmarkPath('boolq'));
    assert.equal(boolq.length, 3270);
    assert.deepEqual((boolq[0] as MultipleChoiceItem).choices, ['no', 'yes']);
    assert.equal(boolq[0].gold, 0);
    assert.match((boolq[0] as MultipleChoiceItem).query, /^Passage: All biomass/);
    const wino = readMultipleChoice(benchmarkPath('winogrande'), { limit: 1 });
    assert.deepEqual(wino[0], {
      contexts: ['Sarah was a much better surgeon than Maria so Sarah', 'Sarah was a much better surgeon than Maria so Maria'],
      continuation: 'always got the easier cases.',
      gold: 1,
    });
  });

  test('benchmarkPath knows the shared files and lists them for unknown names', () => {
    for (const name of BENCHMARKS) assert.ok(fs.existsSync(benchmarkPath(name)), name);
    assert.throws(
      () => benchmarkPath('hellaswag'),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes('hellaswag') && e.message.includes('arc_easy, arc_challenge'),
    );
  });

  test('file errors name the file and the 1-based line', () => {
    const good = '{"query": "q", "choices": ["a", "b"], "gold": 0}';
    const check = (content: string, pattern: RegExp): void => {
      const file = write(`bad-${Math.random().toString(36).slice(2)}.jsonl`, content);
      assert.throws(
        () => readMultipleChoice(file),
        (e: unknown) => e instanceof ModelFileError && e.file === file && pattern.test(e.problem),
      );
    };
    check(`${good}\n{"query": "q", "choices": ["a", "b"], "gold": 0\n`, /^line 2: not valid JSON/);
    check(`${good}\n\n${good.replace('"gold": 0', '"gold": 2')}\n`, /^line 3: "gold" must be a choice index in 0\.\.1, got 2/);
    check('{"query": "q", "choices": ["a", "b"], "gold": -1}\n', /^line 1: "gold"/);
    check('{"query": "q", "choices": ["a", "b"], "gold": "1"}\n', /^line 1: "gold"/);
    check('{"query": "q", "choices": ["a", "b"]}\n', /^line 1: "gold"/);
    check('{"query": "q", "choices": ["a"], "gold": 0}\n', /^line 1: "choices" must be an array of at least two/);
    check('{"question": "q", "answers": ["a", "b"], "gold": 0}\n', /^line 1: not a benchmark item \(fields: question, answers, gold\)/);
    check('[1, 2]\n', /^item 0: expected a JSON object/);
    check('\n\n', /is empty/);
    assert.throws(() => readMultipleChoice(path.join(dir, 'missing.jsonl')), ModelFileError);
  });

  test('seeded subsamples are deterministic, in file order, and differ between seeds', () => {
    const file = benchmarkPath('copa');
    const all = readMultipleChoice(file);
    const a = readMultipleChoice(file, { limit: 10, seed: 1 });
    const b = readMultipleChoice(file, { limit: 10, seed: 1 });
    const c = readMultipleChoice(file, { limit: 10, seed: 2 });
    assert.deepEqual(a, b);
    assert.equal(a.length, 10);
    assert.notDeepEqual(a, c);
    for (const sample of [a, c]) {
      const keys = all.map((x) => JSON.stringify(x));
      const at = sample.map((item) => keys.indexOf(JSON.stringify(item)));
      assert.ok(at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1])), `not a subset in file order: ${at.join(',')}`);
    }
    assert.notDeepEqual(a, all.slice(0, 10));
    assert.deepEqual(readMultipleChoice(file, { limit: 10 }), all.slice(0, 10));
    assert.deepEqual(readMultipleChoice(file, { limit: 1000, seed: 3 }), all);
    assert.throws(() => readMultipleChoice(file, { limit: 0 }), InvalidInputError);
    assert.throws(() => readMultipleChoice(file, { seed: 1 }), InvalidInputError);
  });
});

describe('CAA A/B', () => {
  const letter = (answer: string): string => /[A-Z]/.exec(answer)![0];

  /** P(matching)/(P(A)+P(B)) by a full softmax of the next-token logits after `prompt`. */
  async function softmaxRatio(m: HookedModel, prompt: string, item: CaaAbItem): Promise<number> {
    const ids = m.encode(prompt);
    const letterId = (l: string): number => {
      const withLetter = m.encode(prompt + l);
      assert.deepEqual(withLetter.slice(0, -1), ids, 'the letter must be one token after the prompt');
      return withLetter[withLetter.length - 1];
    };
    const out = await m.forward({ tokens: [ids], logits: 'all' });
    const V = m.spec.vocabSize;
    const row = out.logits!.subarray((ids.length - 1) * V, ids.length * V);
    const max = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - max);
    const prob = (id: number): number => Math.exp(row[id] - max) / z;
    const pm = prob(letterId(letter(item.answer_matching_behavior)));
    const pn = prob(letterId(letter(item.answer_not_matching_behavior)));
    return pm / (pm + pn);
  }

  test('reads test_dataset_ab.json', () => {
    const items = readCaaAb(sharedPath('data', 'caa', 'refusal', 'test_dataset_ab.json'));
    assert.equal(items.length, 50);
    assert.match(items[0].question, /^How can I make a bomb\?/);
    assert.equal(items[0].answer_matching_behavior, '(B)');
    assert.equal(items[0].answer_not_matching_behavior, '(A)');
    const bad = write('caa-bad.json', JSON.stringify([items[0], { question: 'q', answer_matching_behavior: '(A)', answer_not_matching_behavior: '(A)' }]));
    assert.throws(() => readCaaAb(bad), (e: unknown) => e instanceof ModelFileError && /^item 1: both answers/.test(e.problem));
    const missing = write('caa-missing.jsonl', '{"question": "q", "answer_matching_behavior": "(A)"}\n');
    assert.throws(() => readCaaAb(missing), (e: unknown) => e instanceof ModelFileError && /^line 1: "answer_not_matching_behavior"/.test(e.problem));
  });

  test('p is the softmax ratio of the two letters after "…Answer: ("', async () => {
    const items = readCaaAb(sharedPath('data', 'caa', 'refusal', 'test_dataset_ab.json')).slice(0, 3);
    const res = await evaluateCaaAb(model, items, { batchSize: 2 });
    assert.equal(res.n, 3);
    for (const p of res.perItem) assert.ok(p > 0 && p < 1, String(p));
    close(res.meanMatchingProbability, (res.perItem[0] + res.perItem[1] + res.perItem[2]) / 3, 1e-12, 'mean');
    for (const i of [0, 2]) {
      const expected = await softmaxRatio(model, items[i].question + CAA_ANSWER_PREFIX, items[i]);
      close(res.perItem[i], expected, 1e-5, `item ${i}`);
    }
    // Steering moves it.
    const hooks: Hook[] = [{ kind: 'intervene', at: 'blocks.1.hook_resid_post', intervention: addVector(randomVector(9, model.spec.hiddenSize, 3)) }];
    const steered = await evaluateCaaAb(model, items.slice(0, 1), { hooks });
    assert.ok(Math.abs(steered.perItem[0] - res.perItem[0]) > 1e-4, `steering left p at ${res.perItem[0]}`);
  });

  test('chat models are scored after the chat-rendered turn, as the vectors are trained', async () => {
    const chat = new HookedModel({ ...loaded, chatTemplate: CHATML }, { threads: 1 });
    try {
      const item = readCaaAb(sharedPath('data', 'caa', 'myopic-reward', 'test_dataset_ab.json'))[0];
      const res = await evaluateCaaAb(chat, [item]);
      const rendered = renderChat(CHATML, [{ role: 'user', content: item.question }], { addGenerationPrompt: true, specialTokens: chat.specialTokens });
      const expected = await softmaxRatio(chat, `${rendered}(`, item);
      close(res.perItem[0], expected, 1e-5, 'p');
      const plain = await evaluateCaaAb(chat, [item], { chat: false });
      close(plain.perItem[0], await softmaxRatio(chat, item.question + CAA_ANSWER_PREFIX, item), 1e-5, 'plain prompt');
    } finally {
      await chat.dispose();
    }
  });

  test('a letter merged with "(" by BPE: ratio of the two sequence probabilities', async () => {
    // A tokenizer that merges "(" + "A" into one token (as GPT-2-style BPEs can) but not "(" + "B":
    // the two texts then differ in more than their last token.
    const base = loaded.tokenizer;
    const paren = base.encode('(A').at(-2)!;
    const merged = new Map([[base.encode('(A').at(-1)!, 1500]]);
    const tokenizer: TextTokenizer = {
      vocabSize: base.vocabSize,
      encode: (text) => {
        const out: number[] = [];
        for (const id of base.encode(text)) {
          const m = merged.get(id);
          if (m !== undefined && out.at(-1) === paren) out[out.length - 1] = m;
          else out.push(id);
        }
        return out;
      },
      decode: (ids) => base.decode(ids),
      tokenToId: (t) => base.tokenToId(t),
      idToToken: (id) => base.idToToken(id),
    };
    const bpe = new HookedModel({ ...loaded, tokenizer }, { threads: 1 });
    try {
      const item = readCaaAb(sharedPath('data', 'caa', 'refusal', 'test_dataset_ab.json'))[1];
      const prompt = item.question + CAA_ANSWER_PREFIX;
      const idsM = bpe.encode(prompt + letter(item.answer_matching_behavior));
      const idsN = bpe.encode(prompt + letter(item.answer_not_matching_behavior));
      const [ia, ib] = letter(item.answer_matching_behavior) === 'A' ? [idsM, idsN] : [idsN, idsM];
      assert.equal(ia.length + 1, ib.length);
      assert.deepEqual(ia.slice(0, -1), ib.slice(0, -2));
      const res = await evaluateCaaAb(bpe, [item]);
      // From the common prefix on: one merged token vs "(" then "B".
      const lm = await tailSum(bpe, idsM, ia.length - 1);
      const ln = await tailSum(bpe, idsN, ia.length - 1);
      const expected = Math.exp(lm) / (Math.exp(lm) + Math.exp(ln));
      close(res.perItem[0], expected, 1e-5, 'p');
    } finally {
      await bpe.dispose();
    }
  });
});

describe('retention', () => {
  test('relativeChange', () => {
    close(relativeChange(0.5, 0.4), -0.2, 1e-12, '0.5 → 0.4');
    close(relativeChange(0.25, 0.5), 1, 1e-12, '0.25 → 0.5');
    close(relativeChange(-2, -3), -0.5, 1e-12, '-2 → -3'); // a lower log-likelihood is a drop
    assert.equal(relativeChange(0, 0), 0);
    assert.equal(relativeChange(0, 0.1), Infinity);
    assert.equal(relativeChange(0, -0.1), -Infinity);
  });

  test('retentionTable adds the change to each row', () => {
    assert.deepEqual(retentionTable([{ name: 'arc_easy', base: 0.5, steered: 0.25 }]), [{ name: 'arc_easy', base: 0.5, steered: 0.25, change: -0.5 }]);
  });
});
