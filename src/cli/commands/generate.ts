
import { Command, Option } from 'commander';
import { encodeChat } from '../../runtime/chat.js';
import { generate } from '../../runtime/generate.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseNumber, readTextFile, runAction, threadsOption } from '../common.js';

interface GenerateFlags {
  model: string;
  threads?: string;
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
  json?: boolean;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('generate text from a prompt (streams to stdout)')
    .addOption(modelOption)
    .option('-p, --prompt <text>', 'prompt text (default: empty, i.e. start from BOS)')
    .option('--prompt-file <file>', 'read the prompt from a file')
    .option('--chat', "wrap the prompt as a user message with the model's chat template")
    .option('--system <text>', 'system message (with --chat)')
    .option('-n, --max-tokens <n>', 'new tokens at most', '128')
    .option('-t, --temperature <t>', 'sampling temperature; 0 = greedy', '0.8')
    .option('--top-k <k>', 'keep the k most likely tokens')
    .option('--top-p <p>', 'nucleus sampling mass')
    .option('--min-p <p>', 'drop tokens below p × the top probability')
    .option('--repetition-penalty <r>', 'penalize tokens already seen (1 = off)')
    .option('--seed <s>', 'random seed (same seed, same text)')
    .addOption(new Option('--stop <strings...>', 'stop strings'))
    .addOption(threadsOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: GenerateFlags) => {
        const model = openFromOptions(flags);
        const promptText = flags.promptFile ? readTextFile(flags.promptFile, '--prompt-file') : (flags.prompt ?? '');
        const prompt = flags.chat
          ? encodeChat(model, [...(flags.system ? [{ role: 'system' as const, content: flags.system }] : []), { role: 'user' as const, content: promptText }])
          : model.encode(promptText);
        // Like llama.cpp, a plain prompt is echoed before its continuation.
        if (!flags.json && !flags.chat) process.stdout.write(promptText);
        const opt = (v: string | undefined, name: string): number | undefined => (v === undefined ? undefined : parseNumber(v, name));
        const result = await generate(model, prompt, {
          maxTokens: parseIntStrict(flags.maxTokens, '--max-tokens'),
          temperature: parseNumber(flags.temperature, '--temperature'),
          topK: flags.topK === undefined ? undefined : parseIntStrict(flags.topK, '--top-k'),
          topP: opt(flags.topP, '--top-p'),
          minP: opt(flags.minP, '--min-p'),
          repetitionPenalty: opt(flags.repetitionPenalty, '--repetition-penalty'),
          seed: flags.seed === undefined ? undefined : parseIntStrict(flags.seed, '--seed'),
          stop: flags.stop,
          onText: flags.json ? undefined : (delta) => process.stdout.write(delta),
        });
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ text: result.text, tokens: result.tokens, promptTokens: result.promptTokens.length, finishReason: result.finishReason })}\n`,
          );
        } else if (process.stdout.isTTY) {
          process.stdout.write('\n');
        }
        await model.dispose();
      }),
    );
}
