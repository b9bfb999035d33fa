import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describe, test } from 'node:test';
import { ModelFileError } from '../src/io/errors.js';
import { tokenizerFromGgufVocab, type GgufVocab } from '../src/model/tokenizers/gguf-vocab.js';
import { tokenizerFromHfJson } from '../src/model/tokenizers/hf-tokenizer.js';
import { readLlama2cTokenizer } from '../src/model/tokenizers/llama2c-tokenizer.js';
import { ScoreBpeTokenizer, TokenType } from '../src/model/tokenizers/score-bpe.js';
import { packageRoot, sharedDir, sharedPath } from '../src/util/shared-path.js';
import { skipUnlessShared } from './helpers/shared.js';

const SMOL = sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json');
const TINY = sharedPath('models', 'tinystories-656k', 'tokenizer.json');
const TOK512 = sharedPath('models', 'stories260k', 'tok512.bin');
const SAMPLE = sharedPath('models', 'stories260k', 'GREEDY_SAMPLE.txt');
const WIKI = sharedPath('data', 'text', 'wikitext-2', 'test.txt');

interface HfJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

const readJson = (p: string): HfJson => JSON.parse(readFileSync(p, 'utf8')) as HfJson;

const VARIED = [
  'Hello world!',
  'The year 12345 was long; 3.14159 and 1,000,000.',
  'def f(x):\n    return x ** 2  # square\n\tindented()\n',
  'emoji 😀🎉👍🏽 café naïve Ωmega',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  "I'm sure they'll say WE'VE   spaced    out\n\n\nlines",
  '中文字符 and русский текст',
  '   leading spaces',
  'trailing spaces   ',
  '',
];

/** Stories and wikitext lines: plain English prose. */
function proseLines(limit: number): string[] {
  const lines = readFileSync(SAMPLE, 'utf8').split('\n');
  lines.push(
    ...readFileSync(WIKI, 'utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0 && !l.includes('<unk>'))
      .slice(0, limit),
  );
  return lines;
}

describe('sharedPath', () => {
  test('defaults to ../shared beside the package root; STEERER_SHARED overrides', () => {
    assert.ok(existsSync(join(packageRoot(), 'package.json')));
    const saved = process.env.STEERER_SHARED;
    try {
      delete process.env.STEERER_SHARED;
      assert.equal(sharedDir(), join(packageRoot(), '..', 'shared'));
      process.env.STEERER_SHARED = '/somewhere/else';
      assert.equal(sharedPath('models', 'x'), '/somewhere/else/models/x');
      process.env.STEERER_SHARED = 'rel/dir';
      assert.ok(isAbsolute(sharedDir()));
      assert.equal(sharedDir(), join(packageRoot(), 'rel', 'dir'));
    } finally {
      if (saved === undefined) delete process.env.STEERER_SHARED;
      else process.env.STEERER_SHARED = saved;
    }
  });
});

describe('ScoreBpeTokenizer', () => {
  // ids:         0        1      2      3    4    5    6     7     8     9     10     11      12        13
  const pieces = ['<unk>', '<s>', '</s>', ' ', 'a', 'b', 'c', ' a', 'ab', 'bc', 'abc', ' ab', '<0xC3>', '<0xA9>'];
  const types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 6];

  test('merges the best-scoring pair first (hand-worked)', () => {
    // " abc": pairs " a"(-5) ab(-1) bc(-2). ab wins → " ", ab, c. Then " ab"(-4) vs abc(-3): abc → [" ", abc].
    const scores = [0, 0, 0, 0, 0, 0, 0, -5, -1, -2, -3, -4, 0, 0];
    const t = new ScoreBpeTokenizer({ pieces, scores, tokenTypes: types });
    assert.deepEqual(t.encode('abc'), [3, 10]);
    // abc scored below " ab": " ab"(-4) beats abc(-6) → [" ab", c].
    const s2 = [...scores];
    s2[10] = -6;
    assert.deepEqual(new ScoreBpeTokenizer({ pieces, scores: s2, tokenTypes: types }).encode('abc'), [11, 6]);
    // bc best: " ", a, bc → " a"(-5) vs abc(-3) → abc.
    const s3 = [...scores];
    s3[9] = -0.5;
    assert.deepEqual(new ScoreBpeTokenizer({ pieces, scores: s3, tokenTypes: types }).encode('abc'), [3, 10]);
    // bc best and no "abc" piece: only " a" can merge → [" a", bc].
    const p4 = [...pieces];
    p4[10] = 'zzz';
    assert.deepEqual(new ScoreBpeTokenizer({ pieces: p4, scores: s3, tokenTypes: types }).encode('abc'), [7, 9]);
  });

  test('equal scores merge leftmost first (llama2.c strict >)', () => {
    const scores = [0, 0, 0, 0, 0, 0, 0, -9, -1, -1, -9, -9, 0, 0];
    const p = [...pieces];
    p[10] = 'zzz';
    p[11] = 'yyy';
    // " abc": ab and bc tie at -1 → ab (left) merges; then " a"... gone; result [" ", ab, c].
    assert.deepEqual(new ScoreBpeTokenizer({ pieces: p, scores, tokenTypes: types }).encode('abc'), [3, 8, 6]);
  });

  test('byte fallback, <unk> runs, decode rules', () => {
    const scores = [0, 0, 0, 0, 0, 0, 0, -5, -1, -2, -3, -4, 0, 0];
    const t = new ScoreBpeTokenizer({ pieces, scores, tokenTypes: types });
    // é = C3 A9 → byte tokens; ✓ has no bytes here → <unk>, once per run.
    assert.deepEqual(t.encode('aé'), [7, 12, 13]);
    assert.deepEqual(t.encode('a✓✓b'), [7, 0, 5]);
    assert.equal(t.decode([7, 12, 13]), 'aé');
    // A multi-byte character split across byte tokens is reassembled.
    assert.equal(t.decode([12, 13, 4]), 'éa');
    // Control and unknown tokens are dropped; only the first piece loses its leading space.
    assert.equal(t.decode([1, 7, 0, 7, 2]), 'a a');
    assert.equal(t.decode([3, 4]), 'a');
    assert.equal(t.decode([4, 3, 4]), 'a a');
    assert.equal(t.decode([999, -1, 4]), 'a', 'out-of-range ids are ignored');
    assert.deepEqual(t.encode(''), []);
    assert.equal(t.tokenToId(' ab'), 11);
    assert.equal(t.idToToken(8), 'ab');
    assert.equal(t.idToToken(14), undefined);
    assert.equal(t.vocabSize, 14);
  });

  test('▁ vocabularies with special-token parsing (GGUF llama)', () => {
    const p = ['<unk>', '<s>', '</s>', '▁', 'h', 'i', '▁h', '▁hi', '<|user|>', '\n'];
    const ty = [2, 3, 3, 1, 1, 1, 1, 1, 4, 1];
    const sc = [0, 0, 0, 0, 0, 0, -2, -1, 0, 0];
    const t = tokenizerFromGgufVocab({ model: 'llama', tokens: p, scores: sc, tokenTypes: ty });
    assert.deepEqual(t.encode('hi hi'), [7, 7]);
    // Control tokens in text become single ids; each text fragment after one gets the dummy prefix.
    assert.deepEqual(t.encode('<s>hi</s>'), [1, 7, 2]);
    assert.deepEqual(t.encode('<|user|>\nhi'), [8, 3, 9, 4, 5]);
    assert.equal(t.decode([1, 7, 7, 2]), 'hi hi');
    assert.equal(t.decode([8, 3, 9]), '<|user|> \n');
    const noPrefix = tokenizerFromGgufVocab({ model: 'llama', tokens: p, scores: sc, tokenTypes: ty, addSpacePrefix: false });
    assert.deepEqual(noPrefix.encode('hi'), [4, 5]);
  });
});

/** run.c's encode(), written naively: the reference ScoreBpe must reproduce on tok512.bin. */
function llama2cReferenceEncode(text: string, vocab: string[], scores: Float32Array): number[] {
  const lookup = (s: string): number => vocab.indexOf(s);
  const tokens: number[] = [];
  if (text.length > 0) tokens.push(lookup(' '));
  for (const ch of text) {
    const id = lookup(ch);
    if (id >= 0) tokens.push(id);
    else for (const b of Buffer.from(ch, 'utf8')) tokens.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup(vocab[tokens[i]] + vocab[tokens[i + 1]]);
      if (id !== -1 && scores[id] > best) {
        best = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

describe('llama2.c tokenizer (tok512.bin)', { skip: skipUnlessShared(TOK512, SAMPLE, WIKI) }, () => {
  test('matches a naive transcription of run.c encode()', () => {
    const t = readLlama2cTokenizer(TOK512, 512);
    const vocab = Array.from({ length: 512 }, (_, i) => t.idToToken(i)!);
    // Scores as stored: read them back from the file.
    const buf = readFileSync(TOK512);
    const scores = new Float32Array(512);
    let off = 4;
    for (let i = 0; i < 512; i++) {
      scores[i] = buf.readFloatLE(off);
      off += 8 + buf.readInt32LE(off + 4);
    }
    const texts = [...proseLines(200), ...VARIED.filter((s) => s.length > 0)];
    let seed = 11;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz     ,.!?\'"\nTHEé€😀0123';
    const chars = Array.from(alphabet);
    for (let n = 0; n < 200; n++) {
      let s = '';
      for (let i = 0; i < 1 + (n % 40); i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        s += chars[seed % chars.length];
      }
      texts.push(s);
    }
    for (const text of texts) {
      assert.deepEqual(t.encode(text), llama2cReferenceEncode(text, vocab, scores), JSON.stringify(text));
      assert.equal(t.decode(t.encode(text)), text);
    }
  });

  test('special texts are the markers, without the newlines llama2.c stores around them', () => {
    assert.deepEqual(readLlama2cTokenizer(TOK512, 512).specialTexts, ['<unk>', '<s>', '</s>']);
  });

  test('a long text (the sample 50 times) encodes and decodes back to itself', () => {
    const t = readLlama2cTokenizer(TOK512, 512);
    const text = readFileSync(SAMPLE, 'utf8').repeat(50);
    const ids = t.encode(text);
    assert.ok(ids.length > 50 && ids.length < text.length, `${ids.length} tokens for ${text.length} characters`);
    assert.equal(t.decode(ids), text);
  });
});

describe('Hugging Face tokenizer.json wrapper', { skip: skipUnlessShared(SMOL) }, () => {
  test('SmolLM2: ids, special tokens, decode', () => {
    const t = tokenizerFromHfJson(readJson(SMOL));
    assert.equal(t.vocabSize, 49152);
    assert.equal(t.tokenToId('<|im_start|>'), 1);
    assert.equal(t.idToToken(2), '<|im_end|>');
    assert.deepEqual(t.encode('<|im_start|>user\n').slice(0, 1), [1]);
    assert.equal(t.decode(t.encode('<|im_start|>user\nhi<|im_end|>')), 'user\nhi');
    assert.equal(t.decode([]), '');
    assert.deepEqual(t.encode(''), []);
    for (const s of VARIED) if (!s.includes('<|')) assert.equal(t.decode(t.encode(s)), s);
  });

  test('TinyStories: no BOS added by encode; BOS/EOS dropped by decode', { skip: skipUnlessShared(TINY) }, () => {
    const t = tokenizerFromHfJson(readJson(TINY), JSON.parse(readFileSync(join(TINY, '..', 'tokenizer_config.json'), 'utf8')) as object);
    const ids = t.encode('Once upon a time');
    assert.notEqual(ids[0], 1);
    assert.equal(t.decode([1, ...ids, 2]), 'Once upon a time');
    assert.equal(t.vocabSize, 2048);
  });

  test('special texts: added tokens marked special and the BOS/EOS strings, never plain added ones', { skip: skipUnlessShared(TINY) }, () => {
    const tiny = tokenizerFromHfJson(readJson(TINY));
    assert.deepEqual(tiny.specialTexts, ['<unk>', '<|start_story|>', '<|end_story|>']);
    const smol = tokenizerFromHfJson(readJson(SMOL));
    assert.ok(smol.specialTexts?.includes('<|im_end|>') && smol.specialTexts.includes('<|endoftext|>'));
    const j = readJson(SMOL);
    const plain = { ...j, added_tokens: j.added_tokens.map((a) => ({ ...a, special: a.content === '<|im_end|>' })) };
    // An EOS named only in tokenizer_config.json counts too; whitespace never does.
    const cfg = { eos_token: { content: '<|endoftext|>' }, bos_token: ' ' };
    assert.deepEqual(tokenizerFromHfJson(plain, cfg).specialTexts, ['<|im_end|>', '<|endoftext|>']);
  });

  test('bad tokenizer.json is a ModelFileError', () => {
    assert.throws(() => tokenizerFromHfJson({ nothing: true }), ModelFileError);
  });
});

describe('GGUF vocabularies', () => {
  test('gpt2 path: SmolLM2 vocab rebuilt from GGUF-style metadata encodes like tokenizer.json', { skip: skipUnlessShared(SMOL, SAMPLE, WIKI) }, () => {
    const j = readJson(SMOL);
    const hf = tokenizerFromHfJson(j);
    const n = hf.vocabSize;
    const tokens = new Array<string>(n);
    for (const [tok, id] of Object.entries(j.model.vocab)) tokens[id] = tok;
    const tokenTypes = new Array<number>(n).fill(TokenType.NORMAL);
    for (const a of j.added_tokens) {
      tokens[a.id] = a.content;
      tokenTypes[a.id] = a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    }
    const vocab: GgufVocab = {
      model: 'gpt2',
      pre: 'smollm',
      tokens,
      tokenTypes,
      merges: j.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
    };
    const g = tokenizerFromGgufVocab(vocab);
    assert.equal(g.vocabSize, n);
    const texts = [...VARIED, ...proseLines(300)];
    for (const text of texts) {
      const ids = hf.encode(text);
      assert.deepEqual(g.encode(text), ids, JSON.stringify(text));
      assert.equal(g.decode(ids), hf.decode(ids));
    }
    // Digits are split one by one (SmolLM's Digits pre-tokenizer).
    assert.deepEqual(g.encode('12345'), ['1', '2', '3', '4', '5'].map((d) => hf.tokenToId(d)!));
    assert.equal(g.tokenToId('<|im_end|>'), 2);
    assert.equal(g.idToToken(1), '<|im_start|>');
  });

  test('llama path: TinyStories (HF BPE, merges) as a score-ranked SentencePiece vocab', { skip: skipUnlessShared(TINY, SAMPLE, WIKI) }, () => {
    // TinyStories' tokenizer.json is a SentencePiece-style BPE ("▁" spaces, Prepend normalizer,
    // byte_fallback on but no <0xNN> pieces). Score each piece by vocabulary order (-id) or by the
    // rank of the merge that creates it: both reproduce HF's merge-rank BPE on plain text.
    const j = readJson(TINY);
    const hf = tokenizerFromHfJson(j);
    const n = hf.vocabSize;
    const tokens = new Array<string>(n);
    for (const [tok, id] of Object.entries(j.model.vocab)) tokens[id] = tok;
    const rank = new Map<string, number>();
    j.model.merges.forEach((m, i) => {
      const [a, b] = Array.isArray(m) ? m : m.split(' ');
      if (!rank.has(a + b)) rank.set(a + b, i);
    });
    const tokenTypes = tokens.map((_, i) => (i === 0 ? TokenType.UNKNOWN : i < 3 ? TokenType.CONTROL : TokenType.NORMAL));
    const texts = [...VARIED.filter((s) => !s.includes('<|')), ...proseLines(1000)];
    for (const scores of [tokens.map((_, i) => -i), tokens.map((t) => -(rank.get(t) ?? 0))]) {
      const sp = tokenizerFromGgufVocab({ model: 'llama', tokens, scores, tokenTypes });
      for (const text of texts) {
        const ids = hf.encode(text);
        assert.deepEqual(sp.encode(text), ids, JSON.stringify(text));
        assert.equal(sp.decode(ids), hf.decode(ids));
      }
    }
  });

  test('special texts: control and unknown pieces, and the BOS/EOS pieces whatever their type', () => {
    const tokens = ['<unk>', '<s>', '</s>', 'a', 'b', 'ab', '<|user|>', '<eot>'];
    const { NORMAL, CONTROL, UNKNOWN, USER_DEFINED } = TokenType;
    const tokenTypes = [UNKNOWN, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL, USER_DEFINED, NORMAL];
    const base = { tokens, tokenTypes, bosId: 1, eosId: 7 };
    const spm = tokenizerFromGgufVocab({ ...base, model: 'llama', scores: tokens.map(() => 0) });
    assert.deepEqual(spm.specialTexts, ['<unk>', '<s>', '</s>', '<eot>']);
    const bpe = tokenizerFromGgufVocab({ ...base, model: 'gpt2', merges: ['a b'] });
    assert.deepEqual(bpe.specialTexts, ['<s>', '</s>', '<eot>']);
  });

  test('invalid vocabularies are ModelFileErrors', () => {
    const base = { tokens: ['a', 'b'], merges: ['a b'] };
    const bad = (v: GgufVocab, re: RegExp): void =>
      assert.throws(() => tokenizerFromGgufVocab(v, 'x.gguf'), (e: unknown) => e instanceof ModelFileError && e.file === 'x.gguf' && re.test(e.problem));
    bad({ ...base, model: 'bert' }, /not supported/);
    bad({ ...base, model: 'gpt2', pre: 'mystery' }, /pre-tokenizer "mystery"/);
    bad({ model: 'gpt2', tokens: ['a'] }, /no merges/);
    bad({ ...base, model: 'llama', scores: [0] }, /1 scores/);
    bad({ ...base, model: 'gpt2', tokenTypes: [1, 1, 1] }, /3 token types/);
    bad({ model: 'llama', tokens: [] }, /no tokens/);
  });
});
