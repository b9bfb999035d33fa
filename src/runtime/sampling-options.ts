import { InvalidInputError } from '../io/errors.js';
import type { LogitsProcessor } from './logits-processor.js';
import { validateSeed } from './rng.js';

/** What a sampler may be asked for, checked once up front (every field's range, with the option's name in the error). */

export interface SamplingOptions {
  /** 0 → greedy (argmax, ties → lowest id). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens. 0/undefined → off. */
  topK?: number;
  /** Nucleus: smallest set of top tokens with cumulative probability ≥ p. 1/undefined → off. */
  topP?: number;
  /** Keep tokens with p ≥ minP · pmax. 0/undefined → off. */
  minP?: number;
  /** CTRL/HF: for each distinct seen id, logit > 0 ? logit / penalty : logit · penalty. 1 → off. */
  repetitionPenalty?: number;
  /** How many of the most recent history tokens the penalties look at. Default: all. */
  repetitionWindow?: number;
  /** OpenAI: logit −= count · frequencyPenalty. */
  frequencyPenalty?: number;
  /** OpenAI: logit −= presencePenalty if count > 0. */
  presencePenalty?: number;
  /** RNG seed (any integer). Undefined → a random seed, readable back from Sampler.seed. */
  seed?: number;
  /** Token id → value added to its logit before anything else (−Infinity bans the token). */
  logitBias?: ReadonlyMap<number, number>;
  /** Processors run first, in order, on every row's logits. */
  processors?: readonly LogitsProcessor[];
}

export interface ResolvedSamplingOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  /** Infinity = the whole history. */
  repetitionWindow: number;
  frequencyPenalty: number;
  presencePenalty: number;
  seed: number | undefined;
  logitBias: ReadonlyMap<number, number> | undefined;
  processors: readonly LogitsProcessor[];
}

/**
 * Checks every option and fills in defaults; throws InvalidInputError naming the bad option, as
 * `names` spells it where the caller's users spell it otherwise (the CLI's --top-p for topP).
 */
export function validateSamplingOptions(o: SamplingOptions, names: Partial<Record<keyof SamplingOptions, string>> = {}): ResolvedSamplingOptions {
  const label = (name: keyof SamplingOptions): string => names[name] ?? name;
  const num = (name: keyof SamplingOptions, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new InvalidInputError(`${label(name)} must be a number, got ${String(value)}`);
    }
    return value;
  };
  const temperature = num('temperature', o.temperature, 1);
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new InvalidInputError(`${label('temperature')} must be a finite number ≥ 0 (0 = greedy), got ${temperature}`);
  }
  const topK = num('topK', o.topK, 0);
  if (!Number.isSafeInteger(topK) || topK < 0) {
    throw new InvalidInputError(`${label('topK')} must be a non-negative integer (0 = off), got ${topK}`);
  }
  const topP = num('topP', o.topP, 1);
  if (!(topP > 0 && topP <= 1)) {
    throw new InvalidInputError(`${label('topP')} must be in (0, 1] (1 = off), got ${topP}`);
  }
  const minP = num('minP', o.minP, 0);
  if (!(minP >= 0 && minP < 1)) {
    throw new InvalidInputError(`${label('minP')} must be in [0, 1) (0 = off), got ${minP}`);
  }
  const repetitionPenalty = num('repetitionPenalty', o.repetitionPenalty, 1);
  if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw new InvalidInputError(`${label('repetitionPenalty')} must be a finite number > 0 (1 = off), got ${repetitionPenalty}`);
  }
  const repetitionWindow = num('repetitionWindow', o.repetitionWindow, Infinity);
  if (repetitionWindow !== Infinity && (!Number.isSafeInteger(repetitionWindow) || repetitionWindow < 1)) {
    throw new InvalidInputError(`${label('repetitionWindow')} must be a positive integer, got ${repetitionWindow}`);
  }
  const frequencyPenalty = num('frequencyPenalty', o.frequencyPenalty, 0);
  if (!Number.isFinite(frequencyPenalty)) {
    throw new InvalidInputError(`${label('frequencyPenalty')} must be a finite number, got ${frequencyPenalty}`);
  }
  const presencePenalty = num('presencePenalty', o.presencePenalty, 0);
  if (!Number.isFinite(presencePenalty)) {
    throw new InvalidInputError(`${label('presencePenalty')} must be a finite number, got ${presencePenalty}`);
  }
  if (o.seed !== undefined) validateSeed(o.seed);
  if (o.logitBias !== undefined) {
    for (const [id, bias] of o.logitBias) {
      if (!Number.isSafeInteger(id) || id < 0) throw new InvalidInputError(`logitBias: token id must be a non-negative integer, got ${id}`);
      if (Number.isNaN(bias) || bias === Infinity) throw new InvalidInputError(`logitBias: bias for token ${id} must be a finite number or -Infinity, got ${bias}`);
    }
  }
  return {
    temperature,
    topK,
    topP,
    minP,
    repetitionPenalty,
    repetitionWindow,
    frequencyPenalty,
    presencePenalty,
    seed: o.seed,
    logitBias: o.logitBias && o.logitBias.size > 0 ? o.logitBias : undefined,
    processors: o.processors ?? [],
  };
}
