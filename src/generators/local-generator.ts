import { InvalidInputError } from '../io/errors.js';
import type { ChatMessage } from '../model/chat-template.js';
import { encodeChat } from '../runtime/chat.js';
import { DEFAULT_MAX_TOKENS, generateBatch } from '../decoding/generate.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { checkRequest, type GenerationRequest, type TextGenerator } from './text-generator.js';

export interface LocalGeneratorOptions {
  /** Hooks active on every generation (e.g. a steering intervention). */
  readonly hooks?: readonly Hook[];
  /** Rows per generateBatch call at most (default 8). */
  readonly batchSize?: number;
}

/** Sampling temperature when a request gives none (the Sampler's own default). */
const DEFAULT_TEMPERATURE = 1;

/**
 * A TextGenerator backed by a local HookedModel. Messages are rendered with the model's
 * chat template; a model without one (a base model) gets the message contents joined by
 * blank lines as a plain prompt, which it continues.
 *
 * Batching is exact: generateBatch's rows do not influence each other and row r samples
 * with seed + r, so requests sharing maxTokens, temperature and stop strings go in one batch
 * when their seeds are consecutive (seed s at row 0, s + 1 at row 1...), when they are
 * greedy (temperature 0: seeds do not matter), or when none of them sets a seed.
 */
export function localGenerator(model: HookedModel, opts: LocalGeneratorOptions = {}): TextGenerator {
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  return {
    name: `local:${model.source.name}`,
    async complete(requests: readonly GenerationRequest[]): Promise<string[]> {
      requests.forEach(checkRequest);
      const prompts = requests.map((r) => localPrompt(model, r.messages));
      const replies: string[] = new Array(requests.length);
      for (const batch of planBatches(requests, batchSize)) {
        const first = requests[batch.rows[0]];
        const out = await generateBatch(
          model,
          batch.rows.map((i) => prompts[i]),
          {
            maxTokens: first.maxTokens ?? DEFAULT_MAX_TOKENS,
            temperature: first.temperature ?? DEFAULT_TEMPERATURE,
            stop: first.stop,
            seed: batch.seed,
            hooks: opts.hooks,
          },
        );
        batch.rows.forEach((i, r) => (replies[i] = out[r].text));
      }
      return replies;
    },
  };
}

/** The prompt a request becomes: chat-template token ids, or plain text for a model without a template. */
export function localPrompt(model: HookedModel, messages: readonly ChatMessage[]): string | number[] {
  if (model.chatTemplate) return encodeChat(model, messages);
  return messages.map((m) => m.content).join('\n\n');
}

interface PlannedBatch {
  /** Request indices, row order. */
  readonly rows: readonly number[];
  /** Seed of row 0 (row r samples with seed + r); undefined → unseeded or greedy. */
  readonly seed: number | undefined;
}

/**
 * Groups requests into batches whose generateBatch call reproduces what each request would
 * give alone. Exported for tests.
 */
export function planBatches(requests: readonly GenerationRequest[], batchSize: number): PlannedBatch[] {
  // Requests can share a call only when every generateBatch option other than the seed agrees.
  const groups = new Map<string, number[]>();
  requests.forEach((r, i) => {
    const key = JSON.stringify([r.maxTokens ?? DEFAULT_MAX_TOKENS, r.temperature ?? DEFAULT_TEMPERATURE, r.stop ?? []]);
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });

  const batches: PlannedBatch[] = [];
  const chunk = (rows: number[], seed: number | undefined) => {
    for (let s = 0; s < rows.length; s += batchSize) {
      batches.push({ rows: rows.slice(s, s + batchSize), seed: seed === undefined ? undefined : seed + s });
    }
  };
  for (const rows of groups.values()) {
    const greedy = (requests[rows[0]].temperature ?? DEFAULT_TEMPERATURE) === 0;
    const free = greedy ? rows : rows.filter((i) => requests[i].seed === undefined);
    chunk(free, undefined);
    if (greedy) continue;

    // Seeded rows, by seed: extend a run whose next seed is this one, else open a new run.
    // Repeated seeds thus land in different runs, as they must.
    const seeded = rows.filter((i) => requests[i].seed !== undefined).sort((a, b) => requests[a].seed! - requests[b].seed! || a - b);
    const runs: { seed: number; rows: number[] }[] = [];
    const open = new Map<number, { seed: number; rows: number[] }[]>(); // next expected seed → runs
    for (const i of seeded) {
      const seed = requests[i].seed!;
      const waiting = open.get(seed);
      let run = waiting?.shift();
      if (waiting && waiting.length === 0) open.delete(seed);
      if (!run) {
        run = { seed, rows: [] };
        runs.push(run);
      }
      run.rows.push(i);
      const next = open.get(seed + 1);
      if (next) next.push(run);
      else open.set(seed + 1, [run]);
    }
    for (const run of runs) chunk(run.rows, run.seed);
  }
  return batches;
}
