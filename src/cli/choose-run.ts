import { Option, type Command } from 'commander';
import { InvalidInputError } from '../io/errors.js';
import type { ChatMessage } from '../model/chat-template.js';
import { generate, type GenerateOptions } from '../decoding/generate.js';
import type { DecodingPlan } from '../decoding/plan.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { compileChooser, type Chooser } from '../steering/choose.js';
import { ProbePolicy } from '../steering/choose-probe.js';
import type { ChoiceEvent } from '../steering/tool-turn.js';
import { fileResolver, readSteeringSpecFile } from '../steering/resolve.js';
import { parseSteeringSpec, type ResolvedIntervention } from '../steering/spec.js';
import { describeResolved, type SteerFlags } from './steer-flags.js';

/** `steerer generate` with a `choose` section (--steer-spec) or --offer: the model picks its vector. */

export interface ChooseFlags {
  offer?: string[];
}

export function addChooseOptions(cmd: Command): Command {
  return cmd.addOption(new Option('--offer <vector...>', 'offer these vector files to a chat model as a "steer" tool it may call mid-reply (with --chat; the spec\'s choose mode "tools")'));
}

/** The chooser the flags ask for, or undefined (then generate runs as usual). */
export function chooserFromFlags(model: HookedModel, flags: SteerFlags & ChooseFlags): Chooser | undefined {
  const runtime = { threads: model.threads, device: model.device };
  const file = flags.steerSpec ? readSteeringSpecFile(flags.steerSpec) : undefined;
  if (flags.offer?.length) {
    if (file?.spec.choose) throw new InvalidInputError(`give --offer or a choose section in ${flags.steerSpec}, not both`);
    const spec = parseSteeringSpec({ choose: { mode: 'tools', vectors: flags.offer.map((vector) => ({ vector })) }, ...(flags.force ? { force: true } : {}) }, '--offer');
    return compileChooser(model, spec, fileResolver(process.cwd(), runtime));
  }
  if (!file?.spec.choose) return undefined;
  return compileChooser(model, flags.force ? { ...file.spec, force: true } : file.spec, fileResolver(file.baseDir, runtime));
}

interface ChooseRun {
  /** The prompt as generate encoded it (probe mode reads and continues it). */
  readonly prompt: readonly number[];
  /** The chat, when --chat gave one (tools mode needs it). */
  readonly messages?: readonly ChatMessage[];
  /** Echoed before a plain prompt's continuation, as generate does. */
  readonly echo?: string;
  readonly base: GenerateOptions;
  /** The spec's own interventions and decoding section. */
  readonly hooks: readonly Hook[];
  readonly decoding?: DecodingPlan;
  readonly resolved: readonly ResolvedIntervention[];
  readonly json: boolean;
}

/** Generates with the chooser: text on stdout, what was chosen on stderr (or all of it as JSON). */
export async function generateChoosing(model: HookedModel, chooser: Chooser, run: ChooseRun): Promise<void> {
  const onText = run.json ? undefined : (delta: string): void => void process.stdout.write(delta);
  const say = (line: string): void => {
    if (!run.json) process.stderr.write(`${line}\n`);
  };
  if (chooser instanceof ProbePolicy) {
    const decision = await chooser.decide(run.prompt);
    const levels = decision.readings.map((r) => `${r.vector} ${fmt(r.level)} (target ${fmt(r.target)})`).join(', ');
    say(`steerer: probes read ${levels}: ${decision.chosen ? `steering with ${decision.chosen}` : 'every target is met: no vector'}`);
    if (decision.resolved) say(describeResolved(decision.resolved));
    if (run.echo !== undefined && !run.json) process.stdout.write(run.echo);
    const result = await generate(model, run.prompt, { ...run.base, hooks: [...run.hooks, ...decision.hooks], decoding: run.decoding, onText });
    if (run.json) {
      const { readings, chosen, intervention } = decision;
      const choose = { mode: 'probe', readings, ...(chosen ? { chosen, intervention } : {}) };
      writeJson({ text: result.text, tokens: result.tokens, promptTokens: result.promptTokens.length, finishReason: result.finishReason, steering: run.resolved, choose });
    } else if (process.stdout.isTTY) process.stdout.write('\n');
    return;
  }
  if (!run.messages) throw new InvalidInputError('choose mode "tools" (and --offer) needs --chat: the model calls the tool in its chat reply');
  if (chooser.format === 'system') say('steerer: the chat template has no tool format read here: the steer tool is described in the system message');
  const { maxTokens = 128, stop, temperature, topK, topP, minP, repetitionPenalty, seed } = run.base;
  const sampling = { temperature, topK, topP, minP, repetitionPenalty, seed, processors: run.decoding?.processors };
  const reply = await chooser.generate(run.messages, { ...sampling, maxTokens, stop, hooks: run.hooks, onText });
  if (run.json) {
    const { text, tokens, promptTokens, finishReason, events, applied } = reply;
    writeJson({ text, tokens, promptTokens: promptTokens.length, finishReason, steering: run.resolved, choose: { mode: 'tools', format: chooser.format, events, applied } });
    return;
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  for (const e of reply.events) say(describeEvent(e));
}

/** One line per call, e.g. `steerer: the model called steer (sad, strength 1.5) after token 12: applied from position 57: ...`. */
function describeEvent(e: ChoiceEvent): string {
  const what = e.vector === undefined ? 'steer' : `steer (${e.vector}, strength ${e.strength})`;
  const head = `steerer: the model called ${what} at token ${e.token}`;
  if (e.status === 'ignored') return `${head}: ignored: ${e.reason}`;
  return `${head}: ${e.resolved ? `${describeResolved(e.resolved).replace(/^steering: /, 'applied ')} from position ${e.from}` : `steering off from position ${e.from}`}`;
}

const fmt = (x: number): string => String(Number(x.toPrecision(3)));

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
