import { InvalidInputError } from '../io/errors.js';

/**
 * Text degeneration metrics for generated text (steering too hard makes models loop). Every
 * function takes a token sequence: token ids, or words from `wordsOf`. Tokens are compared with
 * ===, so the id 1 and the word "1" are different tokens.
 */

export type Token = string | number;

export interface RepetitionStats {
  /** distinctN(tokens, 1..3): fraction of n-grams that are distinct (1 = no repetition). */
  readonly distinct1: number;
  readonly distinct2: number;
  readonly distinct3: number;
  /** Length of the longest n-gram that occurs at least twice (0: none). */
  readonly longestRepeat: number;
  /** Number of tokens. */
  readonly tokens: number;
}

/** Small integers for the tokens (a Map tells 1 from "1"), so n-grams get cheap unambiguous keys. */
function intern(tokens: readonly Token[]): Int32Array {
  const ids = new Map<Token, number>();
  const out = new Int32Array(tokens.length);
  tokens.forEach((t, i) => {
    let id = ids.get(t);
    if (id === undefined) ids.set(t, (id = ids.size));
    out[i] = id;
  });
  return out;
}

/**
 * (# distinct n-grams) / (# n-grams) (Li et al. 2016's distinct-n). A sequence shorter than n has
 * no n-grams, so nothing in it repeats: 1, not NaN, so averages over generations stay defined.
 */
export function distinctN(tokens: readonly Token[], n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`n must be a positive integer, got ${n}`);
  const count = tokens.length - n + 1;
  if (count <= 0) return 1;
  const ids = intern(tokens);
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add(ids.subarray(i, i + n).join(','));
  return seen.size / count;
}

/**
 * Length of the longest contiguous n-gram occurring at least twice; occurrences may overlap
 * ("a a a" → 2). For each shift d, the longest run of positions with tokens[i] = tokens[i+d] is
 * such an n-gram: O(n²) comparisons, about 8M for 4096 tokens.
 */
export function longestRepeatedNgram(tokens: readonly Token[]): number {
  const ids = intern(tokens);
  const n = ids.length;
  let best = 0;
  for (let d = 1; d < n - best; d++) {
    let run = 0;
    for (let i = 0; i + d < n; i++) {
      if (ids[i] === ids[i + d]) {
        if (++run > best) best = run;
      } else run = 0;
    }
  }
  return best;
}

export function repetitionStats(tokens: readonly Token[]): RepetitionStats {
  return {
    distinct1: distinctN(tokens, 1),
    distinct2: distinctN(tokens, 2),
    distinct3: distinctN(tokens, 3),
    longestRepeat: longestRepeatedNgram(tokens),
    tokens: tokens.length,
  };
}

/**
 * Lower-cased words: runs of letters and digits, with inner apostrophes kept ("Don't" → "don't");
 * punctuation and whitespace separate words and are dropped.
 */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu) ?? [];
}
