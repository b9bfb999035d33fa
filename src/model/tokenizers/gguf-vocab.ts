import { ModelFileError } from '../../io/errors.js';
import { markerTexts, type TextTokenizer } from '../tokenizer.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { ScoreBpeTokenizer, TokenType } from './score-bpe.js';

/** Tokenizer metadata of a GGUF file (tokenizer.ggml.*), independent of the GGUF reader. */
export interface GgufVocab {
  /** tokenizer.ggml.model: 'llama' (SentencePiece) | 'gpt2' (byte-level BPE) ... */
  model: string;
  /** tokenizer.ggml.pre: which pre-tokenizer regex a byte-level BPE vocabulary needs. */
  pre?: string;
  tokens: string[];
  scores?: number[];
  tokenTypes?: number[];
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addSpacePrefix?: boolean;
}

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface PreTokenization {
  readonly normalizer: object | null;
  readonly preTokenizer: object;
  /** Whole pre-tokens found in the vocabulary are kept as one token (llama.cpp's LLAMA3 handling). */
  readonly ignoreMerges: boolean;
}

const byteLevel = (useRegex: boolean): object => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});
const splitThenBytes = (regex: string): object => ({
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
    byteLevel(false),
  ],
});

/** tokenizer.ggml.pre values → the Hugging Face pre-tokenization that produced the vocabulary. */
const PRE_TOKENIZATIONS: Readonly<Record<string, PreTokenization>> = (() => {
  const gpt2: PreTokenization = { normalizer: null, preTokenizer: byteLevel(true), ignoreMerges: false };
  const llama3: PreTokenization = { normalizer: null, preTokenizer: splitThenBytes(LLAMA3_REGEX), ignoreMerges: true };
  const qwen2: PreTokenization = { normalizer: { type: 'NFC' }, preTokenizer: splitThenBytes(QWEN2_REGEX), ignoreMerges: false };
  // SmolLM / StarCoder: GPT-2 byte-level regex after splitting every digit on its own.
  const digits: PreTokenization = {
    normalizer: null,
    preTokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
    ignoreMerges: false,
  };
  return {
    default: gpt2,
    'gpt-2': gpt2,
    gpt2,
    'phi-2': gpt2,
    llama3,
    'llama-v3': llama3,
    'llama-bpe': llama3,
    falcon3: llama3,
    qwen2,
    'deepseek-r1-qwen': qwen2,
    smollm: digits,
    starcoder: digits,
    refact: digits,
  };
})();

function checkLength(file: string, what: string, arr: readonly unknown[] | undefined, n: number): void {
  if (arr !== undefined && arr.length !== n) {
    throw new ModelFileError(file, `tokenizer has ${n} tokens but ${arr.length} ${what}`);
  }
}

/** The BOS/EOS pieces: markers even where a file types them as normal tokens. */
function bosEosTexts(v: GgufVocab): string[] {
  return markerTexts([v.bosId, v.eosId].map((id) => (id === undefined ? undefined : v.tokens[id])));
}

/** SentencePiece vocabulary (tokenizer.ggml.model = 'llama'): score-ranked merges, '▁' for spaces. */
function spmTokenizer(v: GgufVocab): TextTokenizer {
  return new ScoreBpeTokenizer({
    pieces: v.tokens,
    // llama.cpp treats a missing score array as all zeros.
    scores: v.scores ?? new Float32Array(v.tokens.length),
    tokenTypes: v.tokenTypes,
    spaceSymbol: '\u2581',
    addSpacePrefix: v.addSpacePrefix ?? true,
    parseSpecial: true,
    unkId: v.unkId,
    specialTexts: bosEosTexts(v),
  });
}

/** Byte-level BPE vocabulary (tokenizer.ggml.model = 'gpt2'), rebuilt as a tokenizer.json. */
function gpt2Tokenizer(v: GgufVocab, file: string): TextTokenizer {
  const pre = v.pre ?? 'default';
  const p = PRE_TOKENIZATIONS[pre];
  if (!Object.hasOwn(PRE_TOKENIZATIONS, pre) || p === undefined) {
    throw new ModelFileError(
      file,
      `pre-tokenizer "${pre}" is not supported (known: ${Object.keys(PRE_TOKENIZATIONS).join(', ')})`,
    );
  }
  if (v.merges === undefined) throw new ModelFileError(file, 'byte-level BPE tokenizer has no merges (tokenizer.ggml.merges)');
  const vocab = new Map<string, number>();
  const added: object[] = [];
  v.tokens.forEach((token, id) => {
    // Duplicate strings keep their first id, as a JSON vocab object would.
    if (!vocab.has(token)) vocab.set(token, id);
    const type = v.tokenTypes?.[id];
    // Control and user-defined tokens match whole in the input, before pre-tokenization.
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      const special = type === TokenType.CONTROL;
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    }
  });
  const merges = v.merges.map((m, i) => {
    const at = m.indexOf(' ');
    if (at <= 0 || at === m.length - 1) throw new ModelFileError(file, `merge ${i} (${JSON.stringify(m)}) is not "left right"`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: p.normalizer,
    pre_tokenizer: p.preTokenizer,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: p.ignoreMerges,
      // fromEntries keeps keys like "__proto__" as plain entries.
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const inner = new HfTokenizer(json, {}, file);
  const tokens = v.tokens;
  return {
    vocabSize: tokens.length,
    encode: (text) => inner.encode(text),
    decode: (ids) => inner.decode(ids),
    tokenToId: (token) => vocab.get(token),
    idToToken: (id) => (Number.isInteger(id) && id >= 0 && id < tokens.length ? tokens[id] : undefined),
    // The control tokens are the inner tokenizer's special added tokens.
    specialTexts: markerTexts([...inner.specialTexts, ...bosEosTexts(v)]),
  };
}

/**
 * Build the tokenizer a GGUF file describes. `file` names the source in error messages.
 * 'llama' → ScoreBpe (SentencePiece); 'gpt2' → byte-level BPE through @huggingface/tokenizers.
 */
export function tokenizerFromGgufVocab(v: GgufVocab, file = 'GGUF tokenizer'): TextTokenizer {
  const n = v.tokens.length;
  if (n === 0) throw new ModelFileError(file, 'tokenizer has no tokens');
  checkLength(file, 'scores', v.scores, n);
  checkLength(file, 'token types', v.tokenTypes, n);
  switch (v.model) {
    case 'llama':
      return spmTokenizer(v);
    case 'gpt2':
      return gpt2Tokenizer(v, file);
    default:
      throw new ModelFileError(file, `tokenizer model "${v.model}" is not supported (only "llama" and "gpt2")`);
  }
}
