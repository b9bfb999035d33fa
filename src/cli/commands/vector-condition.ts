import { Command, Option } from 'commander';
import type { HookSite } from '../../graph/hook-points.js';
import { HOOK_SITES } from '../../graph/hook-points.js';
import { readClassFiles } from '../../probes/probe-data.js';
import { fitCondition } from '../../steering/condition-fit.js';
import { saveVector } from '../../steering/vector-file.js';
import { deviceOption, jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, progressBar, runAction, threadsOption, withFileFlags } from '../common.js';

interface FitFlags {
  model: string;
  threads?: string;
  device?: string;
  positive: string[];
  negative: string[];
  layers?: string;
  site: HookSite;
  reduce: 'last' | 'mean';
  measure: 'cosine' | 'projection';
  folds: string;
  seed: string;
  out: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function fitCommand(): Command {
  return new Command('fit')
    .description('fit a condition for conditional steering from two prompt sets: direction, layer and threshold, with cross-validated F1')
    .addOption(modelOption)
    .requiredOption('--positive <file>', 'prompts where the condition should hold (JSON array of strings, or one per line); repeatable', collect, [])
    .requiredOption('--negative <file>', 'prompts where it should not; repeatable', collect, [])
    .option('--layers <list>', 'layers to try (default: all)')
    .addOption(new Option('--site <site>', 'hook site').choices(HOOK_SITES).default('resid_post'))
    .addOption(new Option('--reduce <how>', "read the prompt's last token or its mean").choices(['last', 'mean']).default('mean'))
    .addOption(new Option('--measure <m>', 'score: cosine with the direction, or projection on it').choices(['cosine', 'projection']).default('cosine'))
    .option('--folds <n>', 'cross-validation folds', '5')
    .option('--seed <n>', 'seed of the fold assignment', '0')
    .requiredOption('-o, --out <file>', 'condition vector (.safetensors), for "when": {"vector": FILE}')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: FitFlags) => {
        const files = [...flags.positive.map((f) => ['--positive', f] as const), ...flags.negative.map((f) => ['--negative', f] as const)];
        const read = (which: string[], name: string): string[] => readClassFiles(which.map((file, i) => ({ name: `${name}${i}`, file }))).map((e) => e.text);
        const [positives, negatives] = withFileFlags(files, () => [read(flags.positive, 'positive'), read(flags.negative, 'negative')]);
        const folds = parseIntStrict(flags.folds, '--folds', 2);
        const seed = parseIntStrict(flags.seed, '--seed');
        const model = openFromOptions(flags);
        try {
          const layers = flags.layers === undefined ? undefined : parseLayers(flags.layers, model.spec.numLayers);
          const bar = progressBar('activations', positives.length + negatives.length, flags.json);
          const fit = await fitCondition(model, positives, negatives, {
            layers,
            site: flags.site,
            reduce: flags.reduce,
            measure: flags.measure,
            folds,
            seed,
            source: `${flags.positive.join('+')} vs ${flags.negative.join('+')}`,
            onProgress: (done) => bar.update(done),
          });
          bar.stop();
          saveVector(flags.out, fit.vector);
          const c = fit.vector.meta.condition!;
          if (flags.json) {
            process.stdout.write(`${JSON.stringify({ out: flags.out, positives: positives.length, negatives: negatives.length, folds: c.fit!.folds, layers: fit.layers, chosen: fit.chosen, threshold: c.threshold, measure: c.measure, reduce: c.reduce })}\n`);
            return;
          }
          process.stdout.write(`${positives.length} positive, ${negatives.length} negative prompts; ${c.fit!.folds}-fold cross-validation (held-out F1 of direction and threshold fitted without the fold)\n`);
          process.stdout.write('layer  held-out F1  precision  recall  accuracy\n');
          for (const l of fit.layers) {
            process.stdout.write(`${String(l.layer).padStart(5)}  ${l.f1.toFixed(3).padStart(11)}  ${l.precision.toFixed(3).padStart(9)}  ${l.recall.toFixed(3).padStart(6)}  ${l.accuracy.toFixed(3).padStart(8)}${l.layer === c.layer ? '   <- chosen' : ''}\n`);
          }
          process.stdout.write(`wrote ${flags.out}: holds when the ${c.measure} of the prompt's ${c.reduce === 'last' ? 'last token' : 'mean'} at layer ${c.layer} is above ${c.threshold.toPrecision(4)} (fitted on all prompts)\n`);
        } finally {
          await model.dispose();
        }
      }),
    );
}

export function conditionCommand(): Command {
  return new Command('condition').description('conditions for conditional steering ("when" in a steering spec)').addCommand(fitCommand());
}
