import type { TextGenerator } from '../generators/text-generator.js';
import type { HookedModel } from '../runtime/model.js';
import type { JobRunner } from './jobs.js';
import type { RequestSteering } from './request-steering.js';
import type { Scheduler } from './scheduler.js';
import type { Store } from './store.js';
import type { VectorLibrary } from './vector-library.js';
import type { VectorRegistry } from './vector-registry.js';

/** Bounds on what one request may ask for. */
export interface ServerLimits {
  /** Largest request body in bytes (vector uploads are the big ones). */
  readonly bodyBytes: number;
  /** New tokens per completion at most. */
  readonly maxTokens: number;
  /** Completions per request (`n` × prompts) at most. */
  readonly maxChoices: number;
  /** Texts per /v1/score or /v1/activations request at most. */
  readonly maxInputs: number;
  /** Floats one /v1/activations response may hold at most. */
  readonly maxActivationFloats: number;
  /** Rows per generation batch. */
  readonly maxBatch: number;
  /** Requests waiting for the model at most (then 429). */
  readonly maxWaiting: number;
  /**
   * Characters of prompt text one request may carry (all prompts, messages or inputs
   * together), checked before anything is tokenized. 0: derived from the model's context
   * (see promptCharLimit).
   */
  readonly maxPromptChars: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyBytes: 16 * 1024 * 1024,
  maxTokens: 1024,
  maxChoices: 8,
  maxInputs: 32,
  maxActivationFloats: 4 * 1024 * 1024,
  maxBatch: 8,
  maxWaiting: 256,
  maxPromptChars: 0,
};

/** Characters per token that no real tokenizer's average exceeds (long whitespace runs included). */
const CHARS_PER_TOKEN_BOUND = 16;
/** Tokenizing runs on the event loop (~100k chars/s here): this keeps one request under a few seconds. */
const PROMPT_CHARS_CEILING = 1 << 18;

/**
 * The prompt character cap for a model: a text of more than context × 16 characters cannot fit
 * the context, so it is refused without tokenizing; the ceiling bounds the CPU time one request
 * may take on the event loop for long-context models (raise it with --max-prompt-chars).
 */
export function promptCharLimit(limits: Pick<ServerLimits, 'maxPromptChars'>, contextLength: number): number {
  return limits.maxPromptChars > 0 ? limits.maxPromptChars : Math.min(contextLength * CHARS_PER_TOKEN_BOUND, PROMPT_CHARS_CEILING);
}

/**
 * Body limit of the routes that carry prompts: the prompt text at the worst JSON escaping
 * (6 bytes a character), plus room for inline steering directions (a number is at most
 * ~24 bytes of JSON) at every layer, plus 1 MiB for everything else; never above bodyBytes.
 */
export function promptBodyLimit(limits: Pick<ServerLimits, 'bodyBytes'>, promptChars: number, model: { hiddenSize: number; numLayers: number }): number {
  return Math.min(limits.bodyBytes, 6 * promptChars + 24 * model.hiddenSize * model.numLayers + (1 << 20));
}

/** What every route handler works with. */
export interface ServerContext {
  /** The `id` clients send as `model` and /v1/models lists. */
  readonly modelId: string;
  /** Rewrites data-directory paths in a message as relative ones (errors never show where files live). */
  readonly redact: (message: string) => string;
  /** The data directory (absolute): database, vectors/, saes/, probes/, models/, indexes/. */
  readonly dataDir: string;
  readonly model: HookedModel;
  /** A second runtime over the same weights for background jobs, so they do not hold up requests. */
  readonly jobModel: HookedModel;
  readonly scheduler: Scheduler;
  readonly steering: RequestSteering;
  /** The shared vector registry (what every caller sees; the whole library without --users). */
  readonly registry: VectorRegistry;
  /** The shared registry and each user's: `library.view(callerOf(req))` is what a request sees. */
  readonly library: VectorLibrary;
  readonly store: Store;
  readonly jobs: JobRunner;
  /** The automatic judge of ratings: an OpenAI-compatible endpoint, or the served model itself. */
  readonly judge: TextGenerator;
  readonly limits: ServerLimits;
  readonly startedAt: number;
}
