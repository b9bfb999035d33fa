import { readFileSync } from 'node:fs';
import { ModelFileError } from '../../io/errors.js';
import type { TextTokenizer } from '../tokenizer.js';
import { ScoreBpeTokenizer, TokenType } from './score-bpe.js';

/** Longest piece we accept; llama2.c sizes its merge buffer from max_token_length. */
const MAX_PIECE_BYTES = 1 << 16;

/**
 * Read llama2.c's tokenizer.bin / tok{N}.bin: int32 max_token_length, then per token
 * float32 score, int32 byte length, UTF-8 bytes. Pieces spell spaces as ' '. Ids 0-2 are
 * <unk>, <s>, </s> (run.c hard-codes byte token = byte + 3).
 */
export function readLlama2cTokenizer(path: string, vocabSize: number): TextTokenizer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ModelFileError(path, `cannot read tokenizer file (${(e as Error).message})`, { cause: e });
  }
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
    throw new ModelFileError(path, `invalid vocabulary size ${vocabSize} requested`);
  }
  if (buf.length < 4) throw new ModelFileError(path, `file is ${buf.length} bytes, too short for a llama2.c tokenizer header`);
  const maxTokenLength = buf.readInt32LE(0);
  if (maxTokenLength <= 0 || maxTokenLength > MAX_PIECE_BYTES) {
    throw new ModelFileError(path, `max_token_length ${maxTokenLength} is not a plausible piece length: not a llama2.c tokenizer`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = new Array<string>(vocabSize);
  const scores = new Float32Array(vocabSize);
  let off = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > buf.length) {
      throw new ModelFileError(path, `truncated: ends inside token ${i} of ${vocabSize} (is it the tokenizer for this model?)`);
    }
    scores[i] = buf.readFloatLE(off);
    const len = buf.readInt32LE(off + 4);
    off += 8;
    if (len < 0 || len > maxTokenLength) {
      throw new ModelFileError(path, `token ${i} has length ${len}, outside 0..max_token_length (${maxTokenLength})`);
    }
    if (off + len > buf.length) {
      throw new ModelFileError(path, `truncated: ends inside token ${i} of ${vocabSize} (is it the tokenizer for this model?)`);
    }
    if (!Number.isFinite(scores[i])) throw new ModelFileError(path, `token ${i} has a non-finite score`);
    try {
      pieces[i] = decoder.decode(buf.subarray(off, off + len));
    } catch (e) {
      throw new ModelFileError(path, `token ${i} is not valid UTF-8`, { cause: e });
    }
    off += len;
  }
  if (off !== buf.length) {
    throw new ModelFileError(
      path,
      `${buf.length - off} bytes follow the ${vocabSize} tokens the model needs: the tokenizer does not match the model's vocabulary`,
    );
  }

  const types = new Uint8Array(vocabSize);
  const aliases: Record<string, number> = {};
  for (let i = 0; i < vocabSize; i++) {
    types[i] = /^<0x[0-9A-Fa-f]{2}>$/.test(pieces[i]) ? TokenType.BYTE : TokenType.NORMAL;
  }
  // llama2.c's export writes the special pieces as "<unk>", "\n<s>\n", "\n</s>\n".
  const specials: [number, number, string][] = [
    [0, TokenType.UNKNOWN, '<unk>'],
    [1, TokenType.CONTROL, '<s>'],
    [2, TokenType.CONTROL, '</s>'],
  ];
  for (const [id, type, name] of specials) {
    if (id >= vocabSize) continue;
    types[id] = type;
    if (pieces[id].trim() === name) aliases[name] = id;
  }
  return new ScoreBpeTokenizer({ pieces, scores, tokenTypes: types, spaceSymbol: ' ', addSpacePrefix: true, aliases });
}
