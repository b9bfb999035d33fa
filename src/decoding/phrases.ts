import { InvalidInputError } from '../io/errors.js';
import type { TextTokenizer } from '../model/tokenizer.js';

/**
 * The token sequences a word or phrase takes in generated text. Tokenizers spell a word
 * differently at the start of a text, after a space, and before a space or punctuation
 * ("sad" vs " sad"; "Lily" vs "Lily▁" in a vocabulary whose tokens carry their trailing
 * space), so a bias or ban by text covers each of these spellings.
 */
export function phraseTokenSequences(tokenizer: TextTokenizer, text: string): number[][] {
  if (text.trim() === '') throw new InvalidInputError(`phrase "${text}" is empty`);
  const word = text.trim();
  const seqs = [withoutLeadingSpaces(tokenizer, tokenizer.encode(text)), ...CONTEXTS.map(([before, after]) => spelledIn(tokenizer, word, before, after))];
  const unique = new Map(seqs.filter((s) => s.length > 0).map((s) => [s.join(','), s]));
  return [...unique.values()];
}

/** Text around the phrase: after a space, then followed by nothing, a space, or punctuation. */
const CONTEXTS: readonly (readonly [string, string])[] = [
  ['x ', ''],
  ['x ', ' x'],
  ['x ', '. x'],
  ['x ', ', x'],
];

/**
 * Drops leading tokens that are only whitespace: SentencePiece's lone "▁" in front of a
 * text-initial word is an artefact of the prefix space, and biasing it would bias every step.
 */
function withoutLeadingSpaces(tokenizer: TextTokenizer, ids: number[]): number[] {
  let drop = 0;
  while (drop < ids.length - 1 && tokenizer.decode([ids[drop]]).trim() === '') drop++;
  return ids.slice(drop);
}

/**
 * The tokens that carry `word` when it is written between `before` and `after`: every token
 * whose characters overlap the word's, including tokens that straddle its edges
 * (SentencePiece's "▁sad" holds the space before, "Lily▁" the one after).
 */
function spelledIn(tokenizer: TextTokenizer, word: string, before: string, after: string): number[] {
  const ids = tokenizer.encode(before + word + after);
  const full = tokenizer.decode(ids);
  // Decoders may drop a leading space: measure offsets in the decoded text's terms.
  const shift = before.length + word.length + after.length - full.length;
  const start = before.length - shift;
  const end = start + word.length;
  const kept: number[] = [];
  let from = 0;
  for (let i = 0; i < ids.length; i++) {
    const to = tokenizer.decode(ids.slice(0, i + 1)).length;
    if (from < end && to > start) kept.push(ids[i]);
    from = to;
  }
  return kept;
}
