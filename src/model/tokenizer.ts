/**
 * What the runtime needs from a tokenizer. Implementations: Hugging Face tokenizer.json
 * (via @huggingface/tokenizers), llama2.c's tok512.bin, and vocabularies stored in GGUF.
 */
export interface TextTokenizer {
  readonly vocabSize: number;
  /** Encode text to ids. Never adds BOS/EOS: the caller decides (see ModelSpec.addBos). */
  encode(text: string): number[];
  /** Decode ids to text. Special tokens (BOS/EOS/control) are dropped. */
  decode(ids: readonly number[]): string;
  /** The id of a token string (special tokens included), if it is in the vocabulary. */
  tokenToId(token: string): number | undefined;
  /** The vocabulary entry of an id (raw piece as stored), if any. */
  idToToken(id: number): string | undefined;
  /**
   * The texts of the special tokens (added tokens marked special, control tokens, BOS/EOS):
   * markers, never reply text. Generation stops where the model spells one out as ordinary
   * tokens. Absent: none known.
   */
  readonly specialTexts?: readonly string[];
}

/** The usable marker texts of `texts`: deduplicated, without empty or whitespace-only ones. */
export function markerTexts(texts: Iterable<string | undefined>): string[] {
  const out = new Set<string>();
  // Whitespace can be legitimate reply text, so it never counts as a marker.
  for (const t of texts) if (typeof t === 'string' && t.trim() !== '') out.add(t);
  return [...out];
}
