import { InvalidInputError } from '../io/errors.js';
import type { LogitsProcessor } from '../runtime/logits-processor.js';
import { applyPenalties } from '../runtime/sampling.js';

/**
 * Logits processors: ordered, composable edits of one row's next-token logits, applied in
 * the generation loop after guidance (contrast, CFG, proxy) and before the sampler's
 * temperature / top-k / top-p / min-p.
 */

/** A token sequence with a bias for its tokens (see PhraseBias). */
export interface BiasedSequence {
  readonly tokens: readonly number[];
  readonly bias: number;
}

function checkBias(bias: number, where: string): void {
  if (Number.isNaN(bias) || bias === Infinity) throw new InvalidInputError(`${where}: bias must be a finite number or -Infinity, got ${bias}`);
}

function checkSequence(tokens: readonly number[], where: string): void {
  if (tokens.length === 0) throw new InvalidInputError(`${where}: empty token sequence`);
  for (const id of tokens) if (!Number.isSafeInteger(id) || id < 0) throw new InvalidInputError(`${where}: ${id} is not a token id`);
}

/** Whether the last `n` history tokens equal seq[0..n). */
function endsWith(history: readonly number[], seq: readonly number[], n: number): boolean {
  if (history.length < n) return false;
  const off = history.length - n;
  for (let i = 0; i < n; i++) if (history[off + i] !== seq[i]) return false;
  return true;
}

/**
 * Bias for token sequences (words and phrases that tokenise to several tokens). A phrase's
 * first token gets the bias at every step; its token i+1 gets it when the phrase's first i
 * tokens were just produced, so a positive bias pulls the model through the whole phrase
 * and a negative one pushes it off at every point. Single tokens reduce to OpenAI's
 * logit_bias. Biases of several phrases on the same token add up.
 */
export class PhraseBias implements LogitsProcessor {
  readonly name = 'bias';
  private readonly sequences: readonly BiasedSequence[];

  constructor(sequences: readonly BiasedSequence[]) {
    sequences.forEach((s, i) => {
      checkSequence(s.tokens, `bias ${i}`);
      checkBias(s.bias, `bias ${i}`);
    });
    this.sequences = sequences;
  }

  apply(logits: Float32Array, history: readonly number[]): void {
    const V = logits.length;
    for (const { tokens, bias } of this.sequences) {
      // Every prefix length whose tokens end the history opens the next token.
      for (let n = 0; n < tokens.length; n++) {
        const id = tokens[n];
        if (id < V && endsWith(history, tokens, n)) logits[id] += bias;
      }
    }
  }
}

/**
 * Bans token sequences: a sequence's last token is set to −Infinity when the tokens before
 * it end the history (Hugging Face's bad_words_ids). A one-token sequence is banned always.
 */
export class BanSequences implements LogitsProcessor {
  readonly name = 'ban';
  private readonly sequences: readonly (readonly number[])[];

  constructor(sequences: readonly (readonly number[])[]) {
    sequences.forEach((s, i) => checkSequence(s, `ban ${i}`));
    this.sequences = sequences;
  }

  apply(logits: Float32Array, history: readonly number[]): void {
    for (const seq of this.sequences) {
      const last = seq[seq.length - 1];
      if (last < logits.length && endsWith(history, seq, seq.length - 1)) logits[last] = -Infinity;
    }
  }
}

/** CTRL / Hugging Face repetition penalty: seen tokens' logits divided (>0) or multiplied (<0) by `penalty`. */
export class RepetitionPenalty implements LogitsProcessor {
  readonly name = 'repetition';
  private readonly counts = new Map<number, number>();

  constructor(
    readonly penalty: number,
    readonly window = Infinity,
  ) {
    if (!Number.isFinite(penalty) || penalty <= 0) throw new InvalidInputError(`repetition penalty must be a finite number > 0, got ${penalty}`);
    checkWindow(window);
  }

  apply(logits: Float32Array, history: readonly number[]): void {
    applyPenalties(logits, history, { repetitionPenalty: this.penalty, repetitionWindow: this.window, frequencyPenalty: 0, presencePenalty: 0 }, this.counts);
  }
}

/** OpenAI frequency / presence penalties: logit −= count · frequency + (count > 0) · presence. */
export class FrequencyPresencePenalty implements LogitsProcessor {
  readonly name = 'frequency';
  private readonly counts = new Map<number, number>();

  constructor(
    readonly frequency: number,
    readonly presence: number,
    readonly window = Infinity,
  ) {
    if (!Number.isFinite(frequency)) throw new InvalidInputError(`frequency penalty must be a finite number, got ${frequency}`);
    if (!Number.isFinite(presence)) throw new InvalidInputError(`presence penalty must be a finite number, got ${presence}`);
    checkWindow(window);
  }

  apply(logits: Float32Array, history: readonly number[]): void {
    applyPenalties(logits, history, { repetitionPenalty: 1, repetitionWindow: this.window, frequencyPenalty: this.frequency, presencePenalty: this.presence }, this.counts);
  }
}

function checkWindow(window: number): void {
  if (window !== Infinity && (!Number.isSafeInteger(window) || window < 1)) throw new InvalidInputError(`penalty window must be a positive integer, got ${window}`);
}
