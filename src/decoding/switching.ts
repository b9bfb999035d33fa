import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { Sampler } from '../runtime/sampling.js';
import type { SamplingOptions } from '../runtime/sampling-options.js';

/**
 * Generation whose steering can change between tokens: one sequence, one KV cache, and a
 * controller told of every sampled token that may switch the hooks and feed tokens of its own
 * (a tool's answer) before the model goes on. Nothing is ever run twice: a switch only changes
 * the hooks of the forwards that follow, so positions already in the cache keep what they were
 * computed with. (generateBatch's hooks are fixed for a whole generation; this loop is for the
 * choices a model makes mid-reply, src/steering/choose-tools.ts.)
 */

/** New hooks from the next forward on, and tokens to feed after the sampled one. */
export interface Switch {
  readonly hooks: readonly Hook[];
  readonly feed?: readonly number[];
}

export interface TokenOutcome {
  readonly switchTo?: Switch;
  /** End generation now (a stop string in the reply text). */
  readonly stop?: boolean;
}

export interface SwitchController {
  /**
   * A sampled token (end tokens are not passed on). `position` is its absolute position, so
   * the next token fed sits at position + 1.
   */
  onToken(id: number, position: number): TokenOutcome;
}

export interface SwitchingOptions extends SamplingOptions {
  /** Tokens the model may sample at most (fed tokens do not count). */
  readonly maxTokens: number;
  /** Hooks of the prompt's forward and every forward until the controller switches. */
  readonly hooks?: readonly Hook[];
  /** Token ids that end generation (default: the model's EOS ids). */
  readonly stopTokens?: readonly number[];
  /** Polled before every step; true stops there ('cancelled'). */
  readonly cancelled?: () => boolean;
}

export interface SwitchingResult {
  /** The tokens the model sampled, in order (fed tokens not included). */
  readonly tokens: readonly number[];
  /** Everything after the prompt in cache order: sampled and fed tokens. */
  readonly sequence: readonly number[];
  readonly finishReason: 'stop' | 'length' | 'cancelled';
}

export async function generateSwitching(model: HookedModel, prompt: readonly number[], controller: SwitchController, opts: SwitchingOptions): Promise<SwitchingResult> {
  const { maxTokens } = opts;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  if (prompt.length === 0) throw new InvalidInputError('prompt is empty (and the model adds no BOS token)');
  const room = model.spec.maxPositions;
  if (prompt.length > room) throw new InvalidInputError(`prompt of ${prompt.length} tokens exceeds the model's context of ${room}`);
  const sampler = new Sampler(opts);
  const stopTokens = new Set(opts.stopTokens ?? model.spec.eosTokenIds);
  const tokens: number[] = [];
  const sequence: number[] = [];
  const history = [...prompt];
  if (maxTokens === 0) return { tokens, sequence, finishReason: 'length' };

  let hooks = opts.hooks ?? [];
  const cache = model.createCache(1);
  let out = await model.forward({ tokens: [prompt], cache, hooks, logits: 'last' });
  for (let step = 0; ; step++) {
    if (opts.cancelled?.()) return { tokens, sequence, finishReason: 'cancelled' };
    const id = sampler.sample(out.logits!.slice(), history);
    if (stopTokens.has(id)) return { tokens, sequence, finishReason: 'stop' };
    const position = history.length;
    tokens.push(id);
    sequence.push(id);
    history.push(id);
    const outcome = controller.onToken(id, position);
    if (outcome.stop) return { tokens, sequence, finishReason: 'stop' };
    if (step === maxTokens - 1) return { tokens, sequence, finishReason: 'length' };
    const extra = outcome.switchTo?.feed ?? [];
    // The sampled token and the controller's tokens go in one forward, at the next positions.
    if (position + 1 + extra.length > room) return { tokens, sequence, finishReason: 'length' };
    if (outcome.switchTo) hooks = outcome.switchTo.hooks;
    out = await model.forward({ tokens: [[id, ...extra]], cache, hooks, logits: 'last' });
    sequence.push(...extra);
    history.push(...extra);
  }
}
