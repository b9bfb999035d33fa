import type { TextGenerator } from '../generators/text-generator.js';
import type { HookedModel } from '../runtime/model.js';
import type { JobRunner } from './jobs.js';
import type { RequestSteering } from './request-steering.js';
import type { Scheduler } from './scheduler.js';
import type { Store } from './store.js';
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
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyBytes: 16 * 1024 * 1024,
  maxTokens: 1024,
  maxChoices: 8,
  maxInputs: 32,
  maxActivationFloats: 4 * 1024 * 1024,
  maxBatch: 8,
  maxWaiting: 256,
};

/** What every route handler works with. */
export interface ServerContext {
  /** The `id` clients send as `model` and /v1/models lists. */
  readonly modelId: string;
  readonly model: HookedModel;
  /** A second runtime over the same weights for background jobs, so they do not hold up requests. */
  readonly jobModel: HookedModel;
  readonly scheduler: Scheduler;
  readonly steering: RequestSteering;
  readonly registry: VectorRegistry;
  readonly store: Store;
  readonly jobs: JobRunner;
  /** The automatic judge of ratings: an OpenAI-compatible endpoint, or the served model itself. */
  readonly judge: TextGenerator;
  readonly limits: ServerLimits;
  readonly startedAt: number;
}
