import { Command, Option } from 'commander';
import { HOOK_SITES, hookName, type HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { writeSafetensors } from '../../io/safetensors-write.js';
import { collectActivations, type ReadPositions } from '../../runtime/activations.js';
import { oldSpelling } from '../flag-aliases.js';
import { addSteerOptions, steeringFromFlags, type SteerFlags } from '../steer-flags.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, progressBar, readTextFile, runAction, deviceOption, threadsOption } from '../common.js';

interface ActivationFlags extends SteerFlags {
  model: string;
  threads?: string;
  device?: string;
  layers: string;
  site: HookSite;
  prompts: string;
  out: string;
  positions: ReadPositions;
  batchSize: string;
  json?: boolean;
}

/**
 * Prompts file: JSON array of strings, JSONL ({"prompt": ...} or strings), or one prompt per
 * line. `flag` is the option that named the file, so errors point at what the user typed.
 */
export function readPrompts(file: string, flag: string): string[] {
  const text = readTextFile(file, flag);
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch (e) {
      throw new InvalidInputError(`${flag} ${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string')) throw new InvalidInputError(`${flag} ${file}: expected a JSON array of strings`);
    return arr;
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length > 0 && lines.every((l) => l.trim().startsWith('{') || l.trim().startsWith('"'))) {
    return lines.map((l, i) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        throw new InvalidInputError(`${flag} ${file}: line ${i + 1} is not valid JSON`);
      }
      if (typeof v === 'string') return v;
      if (v && typeof v === 'object' && typeof (v as { prompt?: unknown }).prompt === 'string') return (v as { prompt: string }).prompt;
      throw new InvalidInputError(`${flag} ${file}: line ${i + 1} has no "prompt" string`);
    });
  }
  return lines;
}

const layersOption = new Option('-l, --layers <layers>', 'layer(s): N, N-M, comma list, or "all"').makeOptionMandatory();

export function activationsCommand(): Command {
  return addSteerOptions(new Command('activations'))
    .description('capture activations at hook points for a set of prompts into a safetensors file')
    .addOption(modelOption)
    .addOption(layersOption)
    .addOption(oldSpelling('--layer', layersOption))
    .addOption(new Option('--site <site>', 'hook site').choices([...HOOK_SITES]).default('resid_post'))
    .requiredOption('--prompts <file>', 'prompts: one per line, JSONL, or a JSON array')
    .requiredOption('-o, --out <file>', 'output .safetensors file')
    .addOption(new Option('--positions <mode>', 'rows kept per prompt').choices(['all', 'last', 'mean']).default('all'))
    .option('--batch-size <n>', 'prompts per forward', '8')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: ActivationFlags) => {
        const model = openFromOptions(flags);
        const layers = parseLayers(flags.layers, model.spec.numLayers);
        const prompts = readPrompts(flags.prompts, '--prompts');
        if (prompts.length === 0) throw new InvalidInputError(`--prompts ${flags.prompts}: no prompts`);
        const bar = progressBar('activations', prompts.length, flags.json);
        const points = layers.map((layer) => ({ layer, site: flags.site }));
        const acts = await collectActivations(model, prompts, {
          points,
          hooks: steeringFromFlags(model, flags),
          positions: flags.positions,
          batchSize: parseIntStrict(flags.batchSize, '--batch-size', 1),
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        const D = model.spec.hiddenSize;
        const tensors = new Map(points.map((p) => [hookName(p), { shape: [acts.rows, D], data: acts.tensors.get(hookName(p))! }]));
        writeSafetensors(flags.out, tensors, {
          'steerer.kind': 'activations',
          model: model.source.name,
          site: flags.site,
          layers: JSON.stringify(layers),
          positions: flags.positions,
          prompts: JSON.stringify(prompts),
          token_ids: JSON.stringify(acts.tokenIds),
          tokens: JSON.stringify(acts.tokenIds.map((ids) => ids.map((id) => model.tokenizer.idToToken(id) ?? ''))),
          rows: JSON.stringify(acts.rowIndex),
        });
        const summary = { out: flags.out, rows: acts.rows, hidden: D, tensors: [...tensors.keys()] };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`wrote ${summary.tensors.length} tensor(s) of [${acts.rows}, ${D}] to ${flags.out}\n`);
        await model.dispose();
      }),
    );
}
