import type { GenerateResult } from '../decoding/generate.js';
import type { ChatMessage } from '../model/chat-template.js';
import type { Chooser } from '../steering/choose.js';
import { ProbePolicy } from '../steering/choose-probe.js';
import type { CompiledSpec } from '../steering/resolve.js';
import type { ServerContext } from './context.js';
import { HttpError } from './http-error.js';
import type { SharedOptions } from './scheduler.js';

/**
 * Completions whose `steering` has a `choose` section. Probe mode reads the probes on the
 * prompt with the model to itself, then queues the generation as any spec's (the choice is part
 * of its batching key). Tools mode decodes with its own loop, which changes the steering
 * mid-reply, so it runs alone (Scheduler.exclusive). Either way the result says what was chosen.
 */

interface ChosenResult extends GenerateResult {
  /** Tools mode: every call and the spec applied; probe mode: the readings and the choice. */
  readonly chosen: Record<string, unknown>;
}

interface ChosenRun {
  readonly chooser: Chooser;
  /** The request's own interventions and decoding section, and its batching key. */
  readonly compiled: CompiledSpec;
  readonly key: string;
  /** The chat (tools mode needs one). */
  readonly messages?: readonly ChatMessage[];
  readonly prompt: readonly number[];
  readonly seed: number;
  readonly options: SharedOptions;
  readonly onText?: (delta: string) => void;
  readonly signal?: AbortSignal;
}

export async function generateChosen(ctx: ServerContext, run: ChosenRun): Promise<ChosenResult> {
  const { chooser, compiled, signal } = run;
  if (chooser instanceof ProbePolicy) {
    const decision = await ctx.scheduler.exclusive(() => chooser.decide(run.prompt), signal);
    const { readings, chosen, intervention } = decision;
    const steering = { hooks: [...compiled.hooks, ...decision.hooks], decoding: compiled.decoding };
    const result = await ctx.scheduler.generate({ prompt: run.prompt, seed: run.seed, options: run.options, steering, steeringKey: `${run.key}\u0000${chosen ?? ''}`, onText: run.onText, signal });
    return { ...result, chosen: { mode: 'probe', readings, ...(chosen ? { chosen, intervention } : {}) } };
  }
  const messages = run.messages;
  if (!messages) throw new HttpError(400, 'steering: choose mode "tools" works in /v1/chat/completions: the model calls the tool in its chat reply', 'invalid_steering', 'steering');
  const reply = await ctx.scheduler.exclusive(
    () =>
      chooser.generate(messages, {
        ...run.options,
        maxTokens: run.options.maxTokens ?? 256,
        seed: run.seed,
        hooks: compiled.hooks,
        processors: compiled.decoding?.processors,
        onText: run.onText,
        cancelled: () => signal?.aborted ?? false,
      }),
    signal,
  );
  const { text, tokens, promptTokens, finishReason, events, applied } = reply;
  return { text, tokens, promptTokens, finishReason, chosen: { mode: 'tools', format: chooser.format, events, applied } };
}
