import { InvalidInputError, SteererError } from '../io/errors.js';
import type { ChatMessage } from '../model/chat-template.js';

/**
 * The one interface through which Steerer asks *some* language model to write text: a
 * local HookedModel (localGenerator) or any OpenAI-compatible endpoint (openAiGenerator:
 * llama.cpp's server, vLLM, Ollama...). Judges and data generation depend only on this.
 */
export interface GenerationRequest {
  readonly messages: readonly ChatMessage[];
  /** New tokens at most (generator default when omitted). */
  readonly maxTokens?: number;
  /** 0 → greedy. Generator default when omitted. */
  readonly temperature?: number;
  /** Sampling seed; the same seed and request give the same reply where the backend is deterministic. */
  readonly seed?: number;
  /** Strings that end the reply (not included in it). */
  readonly stop?: readonly string[];
}

export interface TextGenerator {
  /** Names the backend in reports (e.g. "local:tinystories-656k", "openai:qwen@http://..."). */
  readonly name: string;
  /** One reply per request, in the same order. Batching and concurrency are the generator's business. */
  complete(requests: readonly GenerationRequest[]): Promise<string[]>;
}

/** A generator backend failed (endpoint unreachable, bad status, malformed reply...). */
export class GeneratorError extends SteererError {}

/** Checks a request's fields; shared by every generator so they reject the same things. */
export function checkRequest(req: GenerationRequest, index: number): void {
  const where = `request ${index}`;
  if (!Array.isArray(req.messages) || req.messages.length === 0) throw new InvalidInputError(`${where} has no messages`);
  if (req.maxTokens !== undefined && (!Number.isInteger(req.maxTokens) || req.maxTokens < 0)) {
    throw new InvalidInputError(`${where}: maxTokens must be a non-negative integer, got ${req.maxTokens}`);
  }
  if (req.temperature !== undefined && (!Number.isFinite(req.temperature) || req.temperature < 0)) {
    throw new InvalidInputError(`${where}: temperature must be a non-negative number, got ${req.temperature}`);
  }
  if (req.seed !== undefined && !Number.isSafeInteger(req.seed)) {
    throw new InvalidInputError(`${where}: seed must be an integer, got ${req.seed}`);
  }
}

/** Fails when a generator returns the wrong number of replies (a broken custom generator). */
export function checkReplies(generator: TextGenerator, replies: readonly string[], expected: number): void {
  if (!Array.isArray(replies) || replies.length !== expected || replies.some((r) => typeof r !== 'string')) {
    throw new GeneratorError(`${generator.name} returned ${Array.isArray(replies) ? replies.length : 'no'} replies for ${expected} requests`);
  }
}
