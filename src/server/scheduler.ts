import { generateBatch, type GenerateOptions, type GenerateResult } from '../decoding/generate.js';
import type { HookedModel } from '../runtime/model.js';
import type { CompiledSpec } from '../steering/resolve.js';
import { HttpError } from './http-error.js';

/**
 * One worker in front of the served model. Requests wait in a FIFO queue; when the worker is
 * free it takes the oldest and, with it, every waiting generation that is *compatible*: same
 * steering spec and same sampling options, differing only in prompt and seed. Those share one
 * generateBatch call, whose rows do not influence each other and each sample with their own
 * seed, so a request gives the same text alone or among others. Different specs never share a
 * batch: their hooks are never in the same forward. Scoring and activation reads run alone.
 */

/** The generateBatch options a batch shares (everything but prompt, seed, streaming and cancellation). */
export type SharedOptions = Omit<GenerateOptions, 'seed' | 'seeds' | 'onText' | 'cancelled' | 'hooks' | 'decoding' | 'processors'>;

interface GenerationTask {
  readonly prompt: readonly number[];
  readonly seed: number;
  readonly options: SharedOptions;
  readonly steering: CompiledSpec;
  /** Canonical JSON of the parsed steering spec ('' without steering). */
  readonly steeringKey: string;
  readonly onText?: (delta: string) => void;
  /** Aborted when the client goes away: waiting tasks leave the queue, running ones stop. */
  readonly signal?: AbortSignal;
}

interface GenerationItem {
  readonly kind: 'generate';
  readonly task: GenerationTask;
  readonly key: string;
  readonly resolve: (r: GenerateResult) => void;
  readonly reject: (e: unknown) => void;
}

interface ExclusiveItem {
  readonly kind: 'exclusive';
  readonly run: () => Promise<unknown>;
  readonly resolve: (r: unknown) => void;
  readonly reject: (e: unknown) => void;
}

type Item = GenerationItem | ExclusiveItem;

interface SchedulerLimits {
  /** Rows per generateBatch call at most. */
  readonly maxBatch: number;
  /** Requests waiting at most; one more is refused with 429. */
  readonly maxWaiting: number;
}

interface SchedulerStats {
  readonly waiting: number;
  readonly running: number;
  /** Batches run so far and the rows they held (rows / batches = mean batch size). */
  readonly batches: number;
  readonly rows: number;
  /** Requests that stopped early because their client went away. */
  readonly cancelled: number;
}

const cancelled = (): HttpError => new HttpError(499, 'the client closed the connection', 'cancelled');

export class Scheduler {
  private readonly queue: Item[] = [];
  private runningRows = 0;
  private busy = false;
  private batches = 0;
  private rows = 0;
  private cancelledCount = 0;

  constructor(
    private readonly model: HookedModel,
    private readonly limits: SchedulerLimits,
  ) {}

  get stats(): SchedulerStats {
    return { waiting: this.queue.length, running: this.runningRows, batches: this.batches, rows: this.rows, cancelled: this.cancelledCount };
  }

  generate(task: GenerationTask): Promise<GenerateResult> {
    const { logitBias, ...rest } = task.options;
    // A Map does not survive JSON.stringify: key it by its sorted entries.
    const key = JSON.stringify([task.steeringKey, rest, logitBias ? [...logitBias].sort((a, b) => a[0] - b[0]) : null]);
    return this.enqueue<GenerateResult>(task.signal, (resolve, reject) => ({ kind: 'generate', task, key, resolve, reject }));
  }

  /** Runs `fn` with the model to itself (scoring, activations). */
  exclusive<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.enqueue<T>(signal, (resolve, reject) => ({ kind: 'exclusive', run: fn, resolve: resolve as (r: unknown) => void, reject }));
  }

  private enqueue<T>(signal: AbortSignal | undefined, make: (resolve: (r: T) => void, reject: (e: unknown) => void) => Item): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelled());
    if (this.queue.length >= this.limits.maxWaiting) {
      return Promise.reject(new HttpError(429, `the server is busy: ${this.queue.length} requests are waiting; retry later`, 'queue_full'));
    }
    return new Promise<T>((resolve, reject) => {
      const item = make(resolve, reject);
      this.queue.push(item);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(item);
          if (i >= 0) {
            this.queue.splice(i, 1);
            this.cancelledCount++;
            reject(cancelled());
          }
        },
        { once: true },
      );
      // Start on the next turn so requests that arrive together can share the first batch.
      setImmediate(() => void this.pump());
    });
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const head = this.queue.shift()!;
        if (head.kind === 'exclusive') {
          this.runningRows = 1;
          try {
            head.resolve(await head.run());
          } catch (e) {
            head.reject(e);
          }
          continue;
        }
        const batch: GenerationItem[] = [head];
        for (let i = 0; i < this.queue.length && batch.length < this.limits.maxBatch; ) {
          const it = this.queue[i];
          if (it.kind === 'generate' && it.key === head.key) {
            batch.push(it);
            this.queue.splice(i, 1);
          } else i++;
        }
        await this.runBatch(batch);
      }
    } finally {
      this.runningRows = 0;
      this.busy = false;
    }
  }

  private async runBatch(batch: readonly GenerationItem[]): Promise<void> {
    const first = batch[0].task;
    this.runningRows = batch.length;
    this.batches++;
    this.rows += batch.length;
    try {
      const results = await generateBatch(
        this.model,
        batch.map((b) => b.task.prompt),
        {
          ...first.options,
          hooks: first.steering.hooks,
          decoding: first.steering.decoding,
          seeds: batch.map((b) => b.task.seed),
          onText: (delta, row) => batch[row].task.onText?.(delta),
          cancelled: (row) => batch[row].task.signal?.aborted ?? false,
        },
      );
      results.forEach((r, i) => {
        if (r.finishReason === 'cancelled') this.cancelledCount++;
        batch[i].resolve(r);
      });
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}
