
import { Command, Option } from 'commander';
import { encodeChat } from '../../runtime/chat.js';
import { generate, type GenerateOptions, type GenerateResult } from '../../decoding/generate.js';
import { selectionLines, selectionScorer } from '../selection-report.js';
import { addDecodingOptions, type DecodingFlags } from '../decoding-flags.js';
import { addChooseOptions, chooserFromFlags, generateChoosing, type ChooseFlags } from '../choose-run.js';
import { addSteerOptions, describeResolved, generationSteeringFromFlags, type SteerFlags } from '../steer-flags.js';
import type { ResolvedIntervention } from '../../steering/spec.js';
import { validateSamplingOptions, type SamplingOptions } from '../../runtime/sampling-options.js';
import { InvalidInputError } from '../../io/errors.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseNumber, readTextFile, runAction, deviceOption, threadsOption } from '../common.js';

/** Sampling options as this command's flags name them (errors say --top-p, not topP). */
const SAMPLING_FLAGS: Partial<Record<keyof SamplingOptions, string>> = {
  temperature: '--temperature',
  topK: '--top-k',
  topP: '--top-p',
  minP: '--min-p',
  repetitionPenalty: '--repetition-penalty',
};

interface GenerateFlags extends SteerFlags, DecodingFlags, ChooseFlags {
  model: string;
  threads?: string;
  device?: string;
  prompt?: string;
  promptFile?: string;
  chat?: boolean;
  system?: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
  stop?: string[];
  compare?: boolean;
  json?: boolean;
}

export function generateCommand(): Command {
  return addChooseOptions(addDecodingOptions(addSteerOptions(new Command('generate'))))
    .description('generate text from a prompt (streams to stdout)')
    .addOption(modelOption)
    .option('-p, --prompt <text>', 'prompt text (default: empty, i.e. start from BOS)')
    .option('-f, --prompt-file <file>', 'read the prompt from a file')
    .option('--chat', "wrap the prompt as a user message with the model's chat template")
    .option('--system <text>', 'system message (with --chat)')
    .option('-n, --max-tokens <n>', 'new tokens at most', '128')
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', '0.8')
    .option('--top-k <k>', 'keep the k most likely tokens')
    .option('--top-p <p>', 'nucleus sampling mass')
    .option('--min-p <p>', 'drop tokens below p × the top probability')
    .option('--repetition-penalty <r>', 'penalize tokens already seen (1 = off)')
    .addOption(new Option('--seed <n>', 'random seed (same seed, same text); unset: a new text each run').env('STEERER_SEED'))
    .addOption(new Option('--stop <strings...>', 'stop strings'))
    .option('--compare', 'also generate without steering (same seed) and show both')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: GenerateFlags) => {
        if (flags.prompt !== undefined && flags.promptFile !== undefined) throw new InvalidInputError('give --prompt or --prompt-file, not both');
        const model = openFromOptions(flags);
        const promptText = flags.promptFile ? readTextFile(flags.promptFile, '--prompt-file') : (flags.prompt ?? '');
        const messages = flags.chat ? [...(flags.system ? [{ role: 'system' as const, content: flags.system }] : []), { role: 'user' as const, content: promptText }] : undefined;
        const prompt = messages ? encodeChat(model, messages) : model.encode(promptText);
        const opt = (v: string | undefined, name: string): number | undefined => (v === undefined ? undefined : parseNumber(v, name));
        // Say what is applied (stderr, so stdout stays the text): the coefficient may be the vector's recommended one.
        const resolved: ResolvedIntervention[] = [];
        const { hooks, decoding, decodingSpec } = generationSteeringFromFlags(model, flags, (r) => resolved.push(r));
        if (flags.compare && hooks.length === 0 && !decoding) throw new InvalidInputError('--compare needs --steer, --steer-spec or decoding flags');
        // A side-by-side comparison states its steering on stdout, above the columns.
        const steeringLines = resolved.map(describeResolved);
        if (!(flags.compare && !flags.json)) for (const line of steeringLines) process.stderr.write(`${line}\n`);
        // Best-of-N: every candidate's score and what scored it, on stderr (stdout stays the text).
        const scorer = decoding?.select ? selectionScorer(decodingSpec, decoding) : '';
        const reportSelection = (selection: GenerateResult['selection']): void => {
          if (selection) for (const line of selectionLines(selection, scorer, decoding?.select?.every)) process.stderr.write(`${line}\n`);
        };
        const base: GenerateOptions = {
          maxTokens: parseIntStrict(flags.maxTokens, '--max-tokens'),
          temperature: parseNumber(flags.temperature, '--temperature'),
          topK: flags.topK === undefined ? undefined : parseIntStrict(flags.topK, '--top-k'),
          topP: opt(flags.topP, '--top-p'),
          minP: opt(flags.minP, '--min-p'),
          repetitionPenalty: opt(flags.repetitionPenalty, '--repetition-penalty'),
          // --compare runs both with one seed so only the steering differs.
          seed: flags.seed === undefined ? (flags.compare ? 0 : undefined) : parseIntStrict(flags.seed, '--seed'),
          stop: flags.stop,
        };
        // Checked before anything prints, with the flags' own names.
        validateSamplingOptions(base, SAMPLING_FLAGS);
        // A choose section (or --offer): the model, or a probe policy, picks the vector (../choose-run.ts).
        const chooser = chooserFromFlags(model, flags);
        if (chooser) {
          if (flags.compare) throw new InvalidInputError('--compare does not combine with a choose section or --offer');
          await generateChoosing(model, chooser, { prompt, messages, echo: flags.chat ? undefined : promptText, base, hooks, decoding, resolved, json: flags.json === true });
          await model.dispose();
          return;
        }
        if (flags.compare) {
          const unsteered = await generate(model, prompt, base);
          const steered = await generate(model, prompt, { ...base, hooks, decoding });
          reportSelection(steered.selection);
          if (flags.json) {
            const { selection } = steered;
            process.stdout.write(`${JSON.stringify({ base: unsteered.text, steered: steered.text, seed: base.seed, steering: resolved, ...(selection ? { selection: { ...selection, by: scorer } } : {}) })}\n`);
          } else {
            const what = steeringLines.length > 0 ? steeringLines : ['steering: decode-time flags only (no activation steering)'];
            process.stdout.write(`${what.join('\n')}\n${sideBySide(promptText + unsteered.text, promptText + steered.text, process.stdout.columns ?? 100)}`);
          }
          await model.dispose();
          return;
        }
        // Like llama.cpp, a plain prompt is echoed before its continuation.
        if (!flags.json && !flags.chat) process.stdout.write(promptText);
        const result = await generate(model, prompt, { ...base, hooks, decoding, onText: flags.json ? undefined : (delta) => process.stdout.write(delta) });
        reportSelection(result.selection);
        if (!flags.json) for (const [id, holds] of Object.entries(result.conditions ?? {})) process.stderr.write(`\ncondition of interventions.${id.slice(1)}: ${holds ? 'holds: steered' : 'does not hold: not steered'}\n`);
        if (flags.json) {
          const { text, tokens, finishReason, selection, conditions } = result;
          process.stdout.write(`${JSON.stringify({ text, tokens, promptTokens: result.promptTokens.length, finishReason, steering: resolved, ...(selection ? { selection: { ...selection, by: scorer } } : {}), ...(conditions ? { conditions } : {}) })}\n`);
        } else if (process.stdout.isTTY) {
          process.stdout.write('\n');
        }
        await model.dispose();
      }),
    );
}

/** Two texts in columns (or one after the other on a narrow terminal). */
function sideBySide(left: string, right: string, columns: number): string {
  const width = Math.floor((columns - 3) / 2);
  if (width < 30) return `--- base ---\n${left}\n--- steered ---\n${right}\n`;
  const wrap = (text: string): string[] =>
    text.split('\n').flatMap((line) => {
      const out: string[] = [];
      let rest = line;
      while (rest.length > width) {
        const cut = rest.lastIndexOf(' ', width) > width / 2 ? rest.lastIndexOf(' ', width) : width;
        out.push(rest.slice(0, cut));
        rest = rest.slice(cut).trimStart();
      }
      out.push(rest);
      return out;
    });
  const a = ['base', ...wrap(left)];
  const b = ['steered', ...wrap(right)];
  const rows = Math.max(a.length, b.length);
  return `${Array.from({ length: rows }, (_, i) => `${(a[i] ?? '').padEnd(width)} | ${b[i] ?? ''}`).join('\n')}\n`;
}
