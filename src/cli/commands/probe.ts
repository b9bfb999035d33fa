import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { HOOK_SITES, type HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { writeFileAtomic } from '../../io/files.js';
import { limitExamples, parseClassSpec, readClassFiles, readProbeData } from '../../probes/probe-data.js';
import { loadProbe, saveProbe } from '../../probes/probe-file.js';
import { probeTable, renderProbeReportHtml, type ProbeReport } from '../../probes/probe-report.js';
import { bestProbeLayer, evaluateProbe, trainProbes, type ProbeExample } from '../../probes/train-probes.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, parseNumber, progressBar, runAction, deviceOption, threadsOption, withFileFlags } from '../common.js';

interface DataFlags {
  data?: string;
  class: string[];
  limit?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function dataOptions(cmd: Command): Command {
  return cmd
    .option('--data <file>', 'JSONL / JSON array of {text|statement|prompt, label|value}, or CSV with a header (text|statement, label|value)')
    .option('--class <NAME=FILE>', 'a class and its examples (JSON array of strings, or one per line); repeat per class; for two classes the second is the positive one', collect, [])
    .option('--limit <n>', 'use the first N examples of each class (regression: N in all)');
}

/** Examples and a description of where they came from. */
function readExamples(flags: DataFlags): { examples: ProbeExample[]; source: string; classes?: string[] } {
  if ((flags.data === undefined) === (flags.class.length === 0)) throw new InvalidInputError('give either --data FILE or --class NAME=FILE (at least two)');
  let examples: ProbeExample[];
  let source: string;
  let classes: string[] | undefined;
  if (flags.data !== undefined) {
    examples = withFileFlags([['--data', flags.data]], () => readProbeData(flags.data!));
    source = flags.data;
  } else {
    const specs = flags.class.map(parseClassSpec);
    examples = withFileFlags(specs.map((s) => [`--class ${s.name}=`, s.file] as const), () => readClassFiles(specs));
    classes = specs.map((s) => s.name);
    source = flags.class.join(' ');
  }
  if (flags.limit !== undefined) examples = limitExamples(examples, parseIntStrict(flags.limit, '--limit', 1));
  return { examples, source, classes };
}

/** NAME.safetensors → NAME.report.json / NAME.report.html beside it. */
function besideProbe(out: string, suffix: string): string {
  return out.replace(/\.safetensors$/i, '') + suffix;
}

interface TrainFlags extends DataFlags {
  model: string;
  threads?: string;
  device?: string;
  out: string;
  layers: string;
  site: HookSite;
  positions: 'last' | 'mean';
  folds: string;
  l2: string;
  seed: string;
  batchSize: string;
  report: boolean;
  json?: boolean;
}

function trainCommand(): Command {
  return dataOptions(
    new Command('train')
      .description('fit a linear probe per layer (logistic regression for labels, ridge for values) with cross-validated metrics')
      .addOption(modelOption)
      .requiredOption('-o, --out <file>', 'output probe (.safetensors); also writes OUT.report.{json,html}'),
  )
    .option('--layers <layers>', 'layers: N, N-M, comma list or "all"', 'all')
    .addOption(new Option('--site <site>', 'hook site').choices([...HOOK_SITES]).default('resid_post'))
    .addOption(new Option('--positions <mode>', 'one row per text: the last token, or the mean over tokens').choices(['last', 'mean']).default('last'))
    .option('--folds <k>', 'cross-validation folds (lowered to the smallest class count)', '5')
    .option('--l2 <lambda>', 'L2 penalty on standardised weights', '1')
    .option('--seed <n>', 'seed of the fold assignment', '0')
    .option('--batch-size <n>', 'texts per forward', '16')
    .option('--no-report', 'skip the HTML/JSON report')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: TrainFlags) => {
        const { examples, source, classes } = readExamples(flags);
        const model = openFromOptions(flags);
        const seed = parseIntStrict(flags.seed, '--seed');
        const l2 = parseNumber(flags.l2, '--l2');
        if (l2 < 0) throw new InvalidInputError(`--l2 must be >= 0, got "${flags.l2}"`);
        let bar: ReturnType<typeof progressBar> | undefined;
        let phase = '';
        const result = await trainProbes(model, examples, {
          layers: parseLayers(flags.layers, model.spec.numLayers),
          site: flags.site,
          positions: flags.positions,
          folds: parseIntStrict(flags.folds, '--folds', 2),
          l2,
          seed,
          batchSize: parseIntStrict(flags.batchSize, '--batch-size', 1),
          classes,
          onProgress: (done, total, p) => {
            if (p !== phase) {
              bar?.stop();
              bar = progressBar(p.padEnd(11), total, flags.json);
              phase = p;
            }
            bar!.update(done);
          },
        });
        bar?.stop();
        fs.mkdirSync(path.dirname(path.resolve(flags.out)), { recursive: true });
        saveProbe(flags.out, result.probe);
        const bestLayer = bestProbeLayer(result.perLayer);
        const p = result.probe;
        let report: { json: string; html: string } | undefined;
        if (flags.report) {
          const r: ProbeReport = {
            format: 'steerer.probe-report/v1',
            createdAt: new Date().toISOString(),
            model: model.source.name,
            probe: flags.out,
            data: source,
            task: p.task,
            classes: p.classes,
            site: p.site,
            positions: p.positions,
            examples: examples.length,
            folds: result.folds,
            l2,
            seed,
            ...(bestLayer !== undefined ? { bestLayer } : {}),
            perLayer: result.perLayer,
          };
          report = { json: besideProbe(flags.out, '.report.json'), html: besideProbe(flags.out, '.report.html') };
          const enc = new TextEncoder();
          const json = enc.encode(`${JSON.stringify(r, null, 2)}\n`);
          writeFileAtomic(report.json, (w) => w(json));
          const html = enc.encode(await renderProbeReportHtml(r));
          writeFileAtomic(report.html, (w) => w(html));
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ out: flags.out, task: p.task, classes: p.classes, site: p.site, positions: p.positions, examples: examples.length, folds: result.folds, bestLayer, perLayer: result.perLayer, report })}\n`);
        } else {
          const what = p.task === 'classification' ? `${p.classes.join(' vs ')}` : 'regression';
          process.stdout.write(`probe ${flags.out}: ${what}, ${examples.length} examples, ${p.site} (${p.positions}), ${result.folds}-fold cross-validation\n`);
          process.stdout.write(probeTable(result.perLayer, p.task));
          if (report) process.stdout.write(`report: ${report.html}\n`);
        }
        await model.dispose();
      }),
    );
}

interface EvalFlags extends DataFlags {
  model: string;
  threads?: string;
  device?: string;
  probe: string;
  batchSize: string;
  json?: boolean;
}

function evalCommand(): Command {
  return dataOptions(
    new Command('eval')
      .description("a trained probe's per-layer metrics on new labelled data")
      .addOption(modelOption)
      .requiredOption('--probe <file>', 'probe file from `steerer probe train`'),
  )
    .option('--batch-size <n>', 'texts per forward', '16')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: EvalFlags) => {
        const probe = loadProbe(flags.probe);
        const { examples, source } = readExamples(flags);
        const model = openFromOptions(flags);
        if (!flags.json && probe.model?.name !== undefined && probe.model.name !== model.source.name) {
          process.stderr.write(`steerer: warning: the probe was trained on ${probe.model.name}, not ${model.source.name}\n`);
        }
        const bar = progressBar('activations', examples.length, flags.json);
        const perLayer = await evaluateProbe(model, probe, examples, {
          batchSize: parseIntStrict(flags.batchSize, '--batch-size', 1),
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ probe: flags.probe, data: source, task: probe.task, examples: examples.length, bestLayer: bestProbeLayer(perLayer), perLayer })}\n`);
        } else {
          process.stdout.write(`probe ${flags.probe} on ${source}: ${examples.length} examples\n`);
          process.stdout.write(probeTable(perLayer, probe.task));
        }
        await model.dispose();
      }),
    );
}

export function probeCommand(): Command {
  return new Command('probe')
    .description('linear probes: is a concept linearly readable at each layer? (train with cross-validation, evaluate on new data)')
    .addCommand(trainCommand())
    .addCommand(evalCommand());
}
