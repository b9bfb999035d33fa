import { Command, Option } from 'commander';
import { oldSpelling } from '../flag-aliases.js';
import { perplexity } from '../../runtime/score.js';
import { addSteerOptions, steeringFromFlags, type SteerFlags } from '../steer-flags.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, progressBar, readTextFile, runAction, deviceOption, threadsOption } from '../common.js';

interface PerplexityFlags extends SteerFlags {
  model: string;
  threads?: string;
  device?: string;
  file: string;
  context?: string;
  stride?: string;
  maxChars?: string;
  json?: boolean;
}

const contextOption = new Option('-c, --context <n>', 'tokens per window (default: min(model context, 512))');

export function perplexityCommand(): Command {
  return addSteerOptions(new Command('perplexity'))
    .description('perplexity of a text file under the model (sliding window), optionally steered')
    .addOption(modelOption)
    .requiredOption('-f, --file <file>', 'text file')
    .addOption(contextOption)
    .addOption(oldSpelling('--window', contextOption))
    .option('--stride <n>', 'tokens between window starts (default: half the --context)')
    .option('--max-chars <n>', 'score only the first n characters')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: PerplexityFlags) => {
        const model = openFromOptions(flags);
        let text = readTextFile(flags.file, '--file');
        if (flags.maxChars !== undefined) text = text.slice(0, parseIntStrict(flags.maxChars, '--max-chars', 1));
        let bar: ReturnType<typeof progressBar> | undefined;
        const started = performance.now();
        const r = await perplexity(model, text, {
          hooks: steeringFromFlags(model, flags),
          window: flags.context === undefined ? undefined : parseIntStrict(flags.context, '--context', 2),
          stride: flags.stride === undefined ? undefined : parseIntStrict(flags.stride, '--stride', 1),
          onProgress: (done, total) => {
            bar ??= progressBar('scoring', total, flags.json);
            bar.update(done);
          },
        });
        bar?.stop();
        const seconds = (performance.now() - started) / 1000;
        if (flags.json) process.stdout.write(`${JSON.stringify({ ...r, seconds })}\n`);
        else process.stdout.write(`perplexity ${r.perplexity.toFixed(4)} (mean NLL ${r.nll.toFixed(4)} nats over ${r.tokens} tokens, ${seconds.toFixed(1)} s)\n`);
        await model.dispose();
      }),
    );
}
