import { markerTexts, type TextTokenizer } from '../model/tokenizer.js';
import type { HookedModel } from '../runtime/model.js';

/**
 * The marker texts generation stops at by default: the tokenizer's special tokens and the
 * model's BOS/EOS strings. Small models often spell their end marker as ordinary tokens
 * ("<|", "end", "_story", "|>") before the real EOS, and those pieces decode to visible text.
 */
export function specialStopTexts(model: Pick<HookedModel, 'tokenizer' | 'specialTokens'>): string[] {
  const { bos_token: bos, eos_token: eos } = model.specialTokens;
  return markerTexts([...(model.tokenizer.specialTexts ?? []), bos, eos]);
}

/**
 * The ids that spell a row's final text of `length` characters: the shortest prefix of `ids`
 * whose text reaches it. Tokens that only spell a stop string, a cut-off marker or a held-back
 * tail are dropped; a token that straddles the end stays.
 */
export function tokensOfText(tokenizer: TextTokenizer, ids: readonly number[], length: number): number[] {
  let n = ids.length;
  if (tokenizer.decode(ids).length <= length) return [...ids];
  while (n > 0 && tokenizer.decode(ids.slice(0, n - 1)).length >= length) n--;
  return ids.slice(0, n);
}

const startTokenCache = new WeakMap<TextTokenizer, Map<string, readonly number[]>>();

/**
 * Ids of ordinary tokens that begin spelling a marker (their text, leading spaces aside, is a
 * prefix of one): what to ban where a story must not end, since a model whose end token is
 * banned spells its end marker instead. Special ids are left to the caller (they decode to "").
 */
export function markerStartTokens(tokenizer: TextTokenizer, vocabSize: number, markers: readonly string[]): number[] {
  // A pass over the whole vocabulary: once per tokenizer and marker set, not per request.
  const key = `${vocabSize}\u0000${markers.join('\u0000')}`;
  let known = startTokenCache.get(tokenizer);
  if (!known) startTokenCache.set(tokenizer, (known = new Map()));
  const hit = known.get(key);
  if (hit) return [...hit];
  const ids: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const text = tokenizer.decode([id]).trimStart();
    if (text !== '' && markers.some((m) => m.startsWith(text))) ids.push(id);
  }
  known.set(key, ids);
  return [...ids];
}
