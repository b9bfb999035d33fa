/**
 * A logits processor: an in-place edit of one row's next-token logits, run by the sampler
 * before its own steps (bias and penalties from SamplingOptions, temperature, top-k, ...).
 * Implementations (phrase bias, bans, penalties) live in src/decoding/processors.ts; each
 * is a pure function of the logits and the row's history, so batched rows share nothing.
 */
export interface LogitsProcessor {
  /** For error messages and benchmark tables. */
  readonly name: string;
  /** Edits `logits` in place. `history` = prompt + generated ids of this row. */
  apply(logits: Float32Array, history: readonly number[]): void;
}
