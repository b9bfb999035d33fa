import { InvalidInputError } from '../io/errors.js';
import type { Hook } from './hooks.js';
import type { HookedModel } from './model.js';
import { Sampler, type SamplingOptions } from './sampling.js';
import { StopMatcher } from './stop.js';

export interface GenerateOptions extends SamplingOptions {
  /** New tokens at most (default 128). */
  readonly maxTokens?: number;
  /** Strings that end generation (not included in the text). */
  readonly stop?: readonly string[];
  /** Token ids that end generation (default: the model's EOS ids). */
  readonly stopTokens?: readonly number[];
  /** Hooks active on every forward of the generation (prompt and each new token). */
  readonly hooks?: readonly Hook[];
  /** Streaming: called with each new piece of text of row `row`. */
  readonly onText?: (delta: string, row: number) => void;
}

export type FinishReason = 'stop' | 'length';

export interface GenerateResult {
  readonly text: string;
  readonly tokens: readonly number[];
  readonly promptTokens: readonly number[];
  readonly finishReason: FinishReason;
}

export const DEFAULT_MAX_TOKENS = 128;

/** Generates one continuation. A string prompt is encoded with the model's BOS rule. */
export async function generate(model: HookedModel, prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
  return (await generateBatch(model, [prompt], opts))[0];
}

/**
 * Generates continuations of several prompts in one batch (left-padded prefill, then one
 * token per row per step). Row r samples with seed + r, so a row's text does not depend on
 * the other rows.
 */
export async function generateBatch(
  model: HookedModel,
  prompts: readonly (string | readonly number[])[],
  opts: GenerateOptions = {},
): Promise<GenerateResult[]> {
  if (prompts.length === 0) return [];
  const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  const promptIds = prompts.map((p) => (typeof p === 'string' ? model.encode(p) : [...p]));
  const longest = Math.max(...promptIds.map((p) => p.length));
  if (longest === 0) throw new InvalidInputError('prompt is empty (and the model adds no BOS token)');
  const room = model.spec.maxPositions - longest;
  if (room < 0) throw new InvalidInputError(`prompt of ${longest} tokens exceeds the model's context of ${model.spec.maxPositions}`);
  const budget = Math.min(maxTokens, room);
  const stopTokens = new Set(opts.stopTokens ?? model.spec.eosTokenIds);
  const samplers = promptIds.map((_, r) => new Sampler({ ...opts, seed: opts.seed === undefined ? undefined : opts.seed + r }));

  const B = promptIds.length;
  const V = model.spec.vocabSize;
  const generated: number[][] = promptIds.map(() => []);
  const matchers = promptIds.map(() => new StopMatcher(opts.stop ?? []));
  const texts = promptIds.map(() => '');
  const finish: (FinishReason | undefined)[] = new Array(B).fill(undefined);
  const cache = model.createCache(B);

  let out = budget > 0 ? await model.forward({ tokens: promptIds, cache, hooks: opts.hooks, logits: 'last' }) : undefined;
  for (let step = 0; out && step < budget; step++) {
    const next: number[] = [];
    for (let r = 0; r < B; r++) {
      const last = generated[r].length > 0 ? generated[r][generated[r].length - 1] : promptIds[r][promptIds[r].length - 1];
      if (finish[r]) {
        next.push(last); // finished rows ride along; their outputs are ignored
        continue;
      }
      const logits = out.logits!.slice(r * V, (r + 1) * V);
      const id = samplers[r].sample(logits, [...promptIds[r], ...generated[r]]);
      if (stopTokens.has(id)) {
        finish[r] = 'stop';
        next.push(last);
        continue;
      }
      generated[r].push(id);
      const pushed = matchers[r].push(model.tokenizer.decode(generated[r]));
      if (pushed.emit) {
        texts[r] += pushed.emit;
        opts.onText?.(pushed.emit, r);
      }
      if (pushed.stopped) finish[r] = 'stop';
      next.push(id);
    }
    if (finish.every((f) => f) || step === budget - 1) break;
    out = await model.forward({ tokens: next.map((id) => [id]), cache, hooks: opts.hooks, logits: 'last' });
  }

  return promptIds.map((p, r) => {
    if (!finish[r]) {
      const rest = matchers[r].flush();
      texts[r] += rest;
      if (rest) opts.onText?.(rest, r);
    }
    return { text: texts[r], tokens: generated[r], promptTokens: p, finishReason: finish[r] ?? 'length' };
  });
}
