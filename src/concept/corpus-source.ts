import { InvalidInputError } from '../io/errors.js';
import type { ConceptItem } from './concept-data.js';
import { countConceptHits, type Lexicon } from './lexicon.js';

/**
 * Corpus mining: windows of running text that express the concept against windows of about
 * the same length that do not, from a user's text or the model's own unsteered samples. It
 * needs no prompt engineering at all, but only works for concepts the text actually contains.
 */

interface CorpusOptions {
  /** Sentences per window (default 2). */
  readonly sentences?: number;
  /** Pairs at most (default 64). */
  readonly count?: number;
  /** Windows shorter than this many characters are skipped (default 40). */
  readonly minChars?: number;
}

/** Sentences of a text (a sentence ends at . ! ? or a line break), quotes kept with them. */
export function splitSentences(text: string): string[] {
  return (text.match(/[^.!?\n]+(?:[.!?]+["'”’]?|\n|$)/g) ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Non-overlapping windows of `n` consecutive sentences. */
export function windows(texts: readonly string[], n: number): string[] {
  const out: string[] = [];
  for (const t of texts) {
    const sents = splitSentences(t);
    for (let i = 0; i + n <= sents.length; i += n) out.push(sents.slice(i, i + n).join(' '));
  }
  return out;
}

/**
 * Pairs each window that names the concept with the unused concept-free window closest in
 * length, so length is not what separates the sides.
 */
export function corpusItems(texts: readonly string[], lex: Lexicon, opts: CorpusOptions = {}): ConceptItem[] {
  const n = opts.sentences ?? 2;
  const max = opts.count ?? 64;
  const minChars = opts.minChars ?? 40;
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`sentences per window must be a positive integer, got ${n}`);
  const all = windows(texts, n).filter((w) => w.length >= minChars);
  const pos: string[] = [];
  const neg: string[] = [];
  for (const w of all) (countConceptHits(w, lex).hits > 0 ? pos : neg).push(w);
  neg.sort((a, b) => a.length - b.length);
  const used = new Uint8Array(neg.length);
  const items: ConceptItem[] = [];
  for (const p of pos) {
    if (items.length >= max) break;
    // Binary search for the closest length, then the nearest unused neighbour.
    let lo = 0;
    let hi = neg.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (neg[mid].length < p.length) lo = mid + 1;
      else hi = mid;
    }
    // The unused negative nearest in length, looking outward from where the length would sit.
    let best = -1;
    let left = lo - 1;
    let right = lo;
    for (;;) {
      while (left >= 0 && used[left]) left--;
      while (right < neg.length && used[right]) right++;
      if (left < 0 && right >= neg.length) break;
      if (left < 0) best = right;
      else if (right >= neg.length) best = left;
      else best = p.length - neg[left].length <= neg[right].length - p.length ? left : right;
      break;
    }
    if (best < 0) break;
    used[best] = 1;
    items.push({ positive: { prompt: '', completion: p }, negative: { prompt: '', completion: neg[best] } });
  }
  return items;
}
