import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { guidedLogits, type LogitRuns } from '../src/decoding/guidance.js';
import { BanSequences, FrequencyPresencePenalty, PhraseBias, RepetitionPenalty } from '../src/decoding/processors.js';
import { alignVocabularies } from '../src/decoding/vocab-align.js';
import { phraseTokenSequences } from '../src/decoding/phrases.js';
import { loadModel } from '../src/model/load.js';
import type { TextTokenizer } from '../src/model/tokenizer.js';
import type { ModelSpec } from '../src/model/spec.js';
import { Sampler } from '../src/runtime/sampling.js';
import { sharedPath } from '../src/util/shared-path.js';

const f = (...v: number[]): Float32Array => Float32Array.from(v);
const apply = (p: { apply(l: Float32Array, h: readonly number[]): void }, logits: Float32Array, history: number[]): number[] => {
  p.apply(logits, history);
  return [...logits];
};

describe('logits processors, against hand-computed logits', () => {
  test('a single-token bias adds to that token only', () => {
    assert.deepEqual(apply(new PhraseBias([{ tokens: [2], bias: 5 }]), f(0, 1, 2, 3), []), [0, 1, 7, 3]);
  });

  test('a phrase bias opens each next token of the phrase as its prefix is produced', () => {
    const p = new PhraseBias([{ tokens: [1, 2, 3], bias: 2 }]);
    assert.deepEqual(apply(p, f(0, 0, 0, 0), [0]), [0, 2, 0, 0], 'no prefix: only the first token');
    assert.deepEqual(apply(p, f(0, 0, 0, 0), [0, 1]), [0, 2, 2, 0], 'after "1": the first and the second');
    assert.deepEqual(apply(p, f(0, 0, 0, 0), [1, 2]), [0, 2, 0, 2], 'after "1 2": the first and the third');
    assert.deepEqual(apply(p, f(0, 0, 0, 0), [2]), [0, 2, 0, 0], 'a partial suffix that is not a prefix opens nothing');
  });

  test('biases of several phrases on one token add up; ids past the head are ignored', () => {
    const p = new PhraseBias([
      { tokens: [1], bias: 1 },
      { tokens: [1, 3], bias: 0.5 },
      { tokens: [9], bias: 4 },
    ]);
    assert.deepEqual(apply(p, f(0, 0, 0, 0), []), [0, 1.5, 0, 0]);
  });

  test('a ban removes a single token always and the last token of a sequence only after its prefix', () => {
    const p = new BanSequences([[3], [1, 2]]);
    assert.deepEqual(apply(p, f(1, 1, 1, 1), [0]), [1, 1, 1, -Infinity]);
    assert.deepEqual(apply(p, f(1, 1, 1, 1), [0, 1]), [1, 1, -Infinity, -Infinity]);
  });

  test('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    assert.deepEqual(apply(new RepetitionPenalty(2), f(2, -2, 1), [0, 1, 1]), [1, -4, 1]);
    assert.deepEqual(apply(new RepetitionPenalty(2, 1), f(2, -2, 1), [0, 1, 1]), [2, -4, 1], 'a window of 1 sees only the last token');
  });

  test('frequency and presence penalties subtract count · f + p', () => {
    assert.deepEqual(apply(new FrequencyPresencePenalty(0.5, 1), f(2, -2, 1), [0, 1, 1]), [0.5, -4, 1]);
  });

  test('processors run in the order given, before the sampler', () => {
    // bias then repetition: (2 + 2) / 2 = 2; repetition then bias: 2 / 2 + 2 = 3.
    const bias = new PhraseBias([{ tokens: [0], bias: 2 }]);
    const rep = new RepetitionPenalty(2);
    const a = f(2, 2.5);
    new Sampler({ processors: [bias, rep], temperature: 0 }).process(a, [0]);
    const b = f(2, 2.5);
    new Sampler({ processors: [rep, bias], temperature: 0 }).process(b, [0]);
    assert.deepEqual([a[0], b[0]], [2, 3]);
    assert.equal(new Sampler({ processors: [bias, rep], temperature: 0 }).sample(f(2, 2.5), [0]), 1);
    assert.equal(new Sampler({ processors: [rep, bias], temperature: 0 }).sample(f(2, 2.5), [0]), 0);
  });

  test('bad arguments are clear errors', () => {
    assert.throws(() => new PhraseBias([{ tokens: [], bias: 1 }]), /empty token sequence/);
    assert.throws(() => new PhraseBias([{ tokens: [1], bias: NaN }]), /finite number/);
    assert.throws(() => new BanSequences([[-1]]), /not a token id/);
    assert.throws(() => new RepetitionPenalty(0), /> 0/);
    assert.throws(() => new FrequencyPresencePenalty(Infinity, 0), /finite/);
  });
});

describe('phrases by text', () => {
  test('a word is biased as written at the start, after a space, and before a space or punctuation', () => {
    const tok = loadModel(sharedPath('models', 'tinystories-656k')).tokenizer;
    const spell = (w: string): string[] => phraseTokenSequences(tok, w).map((s) => s.map((i) => tok.idToToken(i)).join('|'));
    // This vocabulary carries trailing spaces: "Lily▁" is the word before a space.
    assert.deepEqual(spell('Lily'), ['Lily', 'Lily▁', 'Lily.▁', 'Lily,▁']);
    assert.deepEqual(spell('sad'), ['sad', 'sad▁'], 'the lone "▁" of the text-initial spelling is dropped');
    const t260 = loadModel(sharedPath('models', 'stories260k')).tokenizer;
    assert.deepEqual(phraseTokenSequences(t260, 'sad').map((s) => s.map((i) => t260.idToToken(i))), [[' sa', 'd']]);
    assert.throws(() => phraseTokenSequences(tok, '  '), /empty/);
  });
});

/** A minimal tokenizer over a list of pieces, each piece its own text. */
function listTokenizer(pieces: string[]): TextTokenizer {
  return {
    vocabSize: pieces.length,
    encode: (text) => {
      const ids: number[] = [];
      for (let at = 0; at < text.length; ) {
        let best = -1;
        pieces.forEach((p, i) => {
          if (p.length > 0 && text.startsWith(p, at) && (best < 0 || p.length > pieces[best].length)) best = i;
        });
        if (best < 0) {
          at++; // unknown characters are dropped
          continue;
        }
        ids.push(best);
        at += pieces[best].length;
      }
      return ids;
    },
    decode: (ids) => ids.map((i) => pieces[i]).join(''),
    tokenToId: (t) => (pieces.indexOf(t) >= 0 ? pieces.indexOf(t) : undefined),
    idToToken: (i) => pieces[i],
  };
}
const vocabModel = (pieces: string[], head = pieces.length) => ({ tokenizer: listTokenizer(pieces), spec: { vocabSize: head } as ModelSpec });

describe('vocabulary alignment', () => {
  test('identical vocabularies need no mapping', () => {
    const a = alignVocabularies(vocabModel(['a', 'b', 'c']), vocabModel(['a', 'b', 'c']), 'guide');
    assert.equal(a.identical, true);
    assert.deepEqual(a.feed(2), [2]);
  });

  test('vocabularies that differ only in added tokens at the end are mapped', () => {
    const main = vocabModel(['a', 'b', 'ab', '<|x|>', 'ba']);
    const guide = vocabModel(['a', 'b', 'ab', 'ba'].slice(0, 3).concat(['<|y|>']), 4);
    // Shared ids 0..2 map to themselves; the main model's "<|x|>" has no counterpart; "ba" is
    // absent from the guide at id 4 and re-tokenised as "b" "a" when fed.
    const a = alignVocabularies(main, vocabModel(['a', 'b', 'ab']), 'guide');
    assert.equal(a.identical, false);
    assert.deepEqual([...a.logitIndex], [0, 1, 2, -1, -1]);
    assert.deepEqual(a.feed(1), [1]);
    assert.deepEqual(a.feed(4), [1, 0]);
    assert.throws(() => a.feed(3), /no counterpart/);
    assert.throws(() => alignVocabularies(main, guide, 'guide'), /1 of the 4 ids .*\(3: "<\|x\|>" vs "<\|y\|>"/);
  });

  test('different vocabularies are a clear error naming the differing ids', () => {
    assert.throws(() => alignVocabularies(vocabModel(['a', 'b', 'c']), vocabModel(['a', 'c', 'b']), 'guide expert'), /guide expert does not share .* 2 of the 3 ids .*\(1: "b" vs "c"/);
  });
});

/** Runs with fixed logits (one row), for guidance arithmetic. */
function runs(rows: Float32Array[], vocab: (ReturnType<typeof alignVocabularies> | undefined)[] = []): LogitRuns {
  return { streams: rows.map((_, i) => ({ vocab: vocab[i] })), logits: (s) => rows[s] };
}

describe('guidance arithmetic, against hand-computed logits', () => {
  test('contrastive decoding: amateur + α(expert − amateur), then the plausibility cut under the expert', () => {
    const r = runs([f(1, 2, 3, 4), f(1, 1, 1, 1)]);
    const term = { name: 'contrast', weight: 2 - 1, plus: 0, minus: 1 };
    assert.deepEqual([...guidedLogits(r, [term], [], 0, new Float32Array(4))], [1, 3, 5, 7]);
    // p ≥ 0.3·p_max ⇔ l ≥ 4 + ln 0.3 = 2.796: tokens 2 and 3 survive.
    assert.deepEqual([...guidedLogits(r, [term], [{ stream: 0, beta: 0.3 }], 0, new Float32Array(4))], [-Infinity, -Infinity, 5, 7]);
    // The cut under the flat amateur keeps everything.
    assert.deepEqual([...guidedLogits(r, [term], [{ stream: 1, beta: 0.3 }], 0, new Float32Array(4))], [1, 3, 5, 7]);
  });

  test('classifier-free guidance: negative + γ(prompt − negative)', () => {
    const r = runs([f(2, 0, 1), f(0, 0, 2)]);
    assert.deepEqual([...guidedLogits(r, [{ name: 'cfg', weight: 1.5 - 1, plus: 0, minus: 1 }], [], 0, new Float32Array(3))], [3, 0, 0.5]);
  });

  test('proxy-tuning: target + α(expert − base), a guide without a token leaves it to the target', () => {
    const small = vocabModel(['a', 'b', 'c']);
    const align = alignVocabularies(vocabModel(['a', 'b', 'c', '<|x|>']), small, 'guide');
    const r = runs([f(0, 0, 0, 0.5), f(1, 2, 3), f(1, 1, 1)], [undefined, align, align]);
    assert.deepEqual([...guidedLogits(r, [{ name: 'guide', weight: 2, plus: 1, minus: 2 }], [], 0, new Float32Array(4))], [0, 2, 4, 0.5]);
  });

  test('a zero difference leaves the target logits bit for bit', () => {
    const target = f(0.1, -3.7, 12.25, 1e-7);
    const g = f(5.5, 1.25, -2, 3);
    const out = guidedLogits(runs([target, g, g.slice()]), [{ name: 'guide', weight: 1.7, plus: 1, minus: 2 }], [], 0, new Float32Array(4));
    assert.deepEqual([...out], [...target]);
  });
});
