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
}
