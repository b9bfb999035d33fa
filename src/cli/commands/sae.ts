import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { oldSpelling } from '../flag-aliases.js';
import { hookName, parseHookName } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { writeFileAtomic } from '../../io/files.js';
import { renderSaeReportHtml } from '../../report/sae-report.js';
import { ActivationStore } from '../../sae/activation-store.js';
import { collectActivationStore } from '../../sae/activation-store-writer.js';
import { generateCorpus, readCorpus } from '../../sae/corpus.js';
import { saveSae } from '../../sae/sae-file.js';
import { trainSaeOnStore } from '../../sae/train-on-store.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseNumber, progressBar, runAction, deviceOption, threadsOption } from '../common.js';
import { saeFeatureCommands } from './sae-features.js';

/** Ctrl-C stops long work at the next safe point (a shard, a step) instead of killing it. */
function interruptSignal(): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const onInt = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nsteerer: stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onInt);
  return { signal: controller.signal, done: () => process.off('SIGINT', onInt) };
}

interface CollectFlags {
  model: string;
  threads?: string;
  device?: string;
  hook: string;
  out: string;
  corpus?: string;
  field: string;
  generate?: string;
  genTokens: string;
  temperature: string;
  seed: string;
  context: string;
  maxRows?: string;
  shardRows: string;
  batchSize: string;
  keepBos?: boolean;
  json?: boolean;
}

const maxRowsOption = new Option('--max-rows <n>', 'stop after this many stored rows (tokens)');
const contextOption = new Option('-c, --context <n>', 'tokens per context (BOS included)').default('128');

function collectCommand(): Command {
  return new Command('collect')
    .description('stream a hook point\'s activations over a corpus (or the model\'s own generations) to disk in shards; resumable')
    .addOption(modelOption)
    .requiredOption('--hook <name>', 'hook point, e.g. blocks.0.hook_resid_post')
    .requiredOption('-o, --out <dir>', 'store folder (re-run the same command to resume)')
    .option('--corpus <path>', 'text file (paragraphs), JSONL, or a folder of them')
    .option('--field <name>', 'JSONL field holding the text', 'text')
    .option('--generate <n>', "instead of a corpus: the model's own N generations (written to OUT/generated.jsonl first)")
    .option('--gen-tokens <n>', 'with --generate: tokens per generation at most', '256')
    .option('--temperature <t>', 'with --generate: sampling temperature', '1')
    .option('--seed <n>', 'with --generate: seed (generation i uses seed + i)', '0')
    .addOption(contextOption)
    .addOption(maxRowsOption)
    // Renamed: --max-tokens means new tokens per generation everywhere else.
    .addOption(oldSpelling('--max-tokens', maxRowsOption))
    .option('--shard-rows <n>', 'rows per shard', '65536')
    .option('--batch-size <n>', 'contexts per forward', '16')
    .option('--keep-bos', 'also store BOS rows (left out by default: their activations are outliers)')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: CollectFlags) => {
        const model = openFromOptions(flags);
        const point = parseHookName(flags.hook, model.spec.numLayers);
        if ((flags.corpus === undefined) === (flags.generate === undefined)) throw new InvalidInputError('give exactly one of --corpus or --generate');
        fs.mkdirSync(flags.out, { recursive: true });
        let corpus = flags.corpus;
        if (flags.generate !== undefined) {
          const count = parseIntStrict(flags.generate, '--generate', 1);
          corpus = path.join(flags.out, 'generated.jsonl');
          const bar = progressBar('generating', count, flags.json);
          const r = await generateCorpus(model, corpus, {
            count,
            maxTokens: parseIntStrict(flags.genTokens, '--gen-tokens', 1),
            temperature: parseNumber(flags.temperature, '--temperature'),
            seed: parseIntStrict(flags.seed, '--seed'),
            batchSize: 64,
            onProgress: (d) => bar.update(d),
          });
          bar.stop();
          if (!flags.json) process.stderr.write(`${r.generated} new generations (${r.total} in ${corpus})\n`);
        }
        const maxTokens = flags.maxRows === undefined ? undefined : parseIntStrict(flags.maxRows, '--max-rows', 1);
        const bar = progressBar('collecting', maxTokens ?? 0, flags.json || maxTokens === undefined);
        const stop = interruptSignal();
        let lastLog = 0;
        const manifest = await collectActivationStore(model, readCorpus(corpus!, { field: flags.field }), {
          dir: flags.out,
          point,
          contextSize: parseIntStrict(flags.context, '--context', 2),
          batchSize: parseIntStrict(flags.batchSize, '--batch-size', 1),
          shardRows: parseIntStrict(flags.shardRows, '--shard-rows', 1),
          maxTokens,
          excludeBos: !flags.keepBos,
          signal: stop.signal,
          onProgress: (rows) => {
            bar.update(rows);
            if (maxTokens === undefined && !flags.json && process.stderr.isTTY && rows - lastLog >= 50_000) {
              lastLog = rows;
              process.stderr.write(`\r${rows.toLocaleString('en')} rows`);
            }
          },
        }).finally(() => stop.done());
        bar.stop();
        const summary = { store: flags.out, hook: manifest.hook, rows: manifest.rows, shards: manifest.shards.length, documents: manifest.documentsDone, complete: manifest.complete };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`${manifest.complete ? 'stored' : 'paused at'} ${manifest.rows.toLocaleString('en')} rows of ${manifest.hook} in ${manifest.shards.length} shards (${manifest.documentsDone} documents) → ${flags.out}\n`);
      }),
    );
}

interface TrainFlags {
  store: string;
  out: string;
  model?: string;
  threads?: string;
  device?: string;
  width?: string;
  expansion: string;
  k: string;
  tokens?: string;
  batchSize: string;
  lr?: string;
  seed: string;
  holdout?: string;
  checkpointEvery: string;
  resume?: boolean;
  evalContexts: string;
  report: boolean;
  json?: boolean;
}

function trainCommand(): Command {
  return new Command('train')
    .description('train a TopK SAE on a stored activation set; reports FVU, L0, dead latents and (with --model) CE loss recovered')
    .requiredOption('--store <dir>', 'activation store from `steerer sae collect`')
    .requiredOption('-o, --out <file>', 'output SAE (.safetensors); also writes OUT.report.{json,html} and OUT.ckpt.safetensors while training')
    .option('-m, --model <path>', 'the model the store came from: measure CE loss recovered on held-out documents')
    .option('--width <n>', 'number of latents (default: expansion × d_in)')
    .option('--expansion <n>', 'latents per input dimension', '16')
    .option('--k <n>', 'active latents per token', '32')
    .option('--tokens <n>', 'training tokens (default: 4 passes over the training shards)')
    .option('--batch-size <n>', 'rows per step', '4096')
    .option('--lr <rate>', 'peak learning rate (default 2e-4 / sqrt(width / 16384))')
    .option('--seed <n>', 'seed of the initialisation and the data order', '0')
    .option('--holdout <n>', 'shards kept out for evaluation (default 1 when there are several)')
    .option('--checkpoint-every <n>', 'steps between checkpoints', '200')
    .option('--resume', 'continue from OUT.ckpt.safetensors')
    .option('--eval-contexts <n>', 'held-out contexts for CE loss recovered', '64')
    .option('--no-report', 'skip the HTML/JSON report')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: TrainFlags) => {
        const store = ActivationStore.open(flags.store);
        const model = flags.model ? openFromOptions({ model: flags.model, threads: flags.threads, device: flags.device }) : undefined;
        const dSae = flags.width ? parseIntStrict(flags.width, '--width', 1) : parseIntStrict(flags.expansion, '--expansion', 1) * store.dim;
        const batchSize = parseIntStrict(flags.batchSize, '--batch-size', 1);
        const ckpt = `${flags.out.replace(/\.safetensors$/, '')}.ckpt.safetensors`;
        if (flags.resume && !fs.existsSync(ckpt)) throw new InvalidInputError(`--resume: no checkpoint at ${ckpt}`);
        const tokens = flags.tokens === undefined ? undefined : parseIntStrict(flags.tokens, '--tokens', 1);
        const totalSteps = tokens === undefined ? undefined : Math.floor(tokens / batchSize);
        const bar = progressBar('training', totalSteps ?? 0, flags.json || totalSteps === undefined);
        const stop = interruptSignal();
        const { sae, report, interrupted } = await trainSaeOnStore(store, {
          dSae,
          k: parseIntStrict(flags.k, '--k', 1),
          tokens,
          batchSize,
          lr: flags.lr === undefined ? undefined : parseNumber(flags.lr, '--lr'),
          seed: parseIntStrict(flags.seed, '--seed'),
          holdoutShards: flags.holdout === undefined ? undefined : parseIntStrict(flags.holdout, '--holdout'),
          threads: flags.threads === undefined ? undefined : parseIntStrict(flags.threads, '--threads', 1),
          checkpoint: { path: ckpt, everySteps: parseIntStrict(flags.checkpointEvery, '--checkpoint-every', 1) },
          resumeFrom: flags.resume ? ckpt : undefined,
          model,
          evalContexts: parseIntStrict(flags.evalContexts, '--eval-contexts', 1),
          signal: stop.signal,
          onStep: (m) => {
            bar.update(m.step);
            if (!flags.json && process.stderr.isTTY && m.step % 20 === 0) {
              process.stderr.write(`  step ${m.step}: FVU ${m.fvu.toFixed(4)}  L0 ${m.l0.toFixed(1)}  dead ${(m.deadFraction * 100).toFixed(1)}%\n`);
            }
          },
        }).finally(() => stop.done());
        bar.stop();
        if (interrupted) {
          process.stdout.write(`stopped at step ${report.steps}; resume with --resume (checkpoint ${ckpt})\n`);
          return;
        }
        fs.mkdirSync(path.dirname(path.resolve(flags.out)), { recursive: true });
        saveSae(flags.out, sae);
        fs.rmSync(ckpt, { force: true });
        if (flags.report) {
          const base = flags.out.replace(/\.safetensors$/, '');
          const enc = new TextEncoder();
          const json = enc.encode(`${JSON.stringify(report, null, 2)}\n`);
          writeFileAtomic(`${base}.report.json`, (w) => w(json));
          const html = enc.encode(await renderSaeReportHtml(report));
          writeFileAtomic(`${base}.report.html`, (w) => w(html));
        }
        const t = sae.cfg.training!;
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ sae: flags.out, hook: hookName(sae.cfg.hook), dSae, k: report.k, steps: report.steps, tokens: report.tokens, heldOut: report.heldOut, deadFraction: report.deadFraction, modelEval: report.modelEval })}\n`);
          return;
        }
        const lines = [
          `SAE ${flags.out}: ${dSae} latents on ${hookName(sae.cfg.hook)}, k=${report.k}, ${report.tokens.toLocaleString('en')} tokens in ${report.seconds.toFixed(0)} s`,
          report.heldOut ? `held-out FVU ${report.heldOut.fvu.toFixed(4)}, L0 ${report.heldOut.l0.toFixed(1)}` : `training FVU ${t.fvu.toFixed(4)}, L0 ${t.l0.toFixed(1)}`,
          `dead latents ${(report.deadFraction * 100).toFixed(1)} %`,
        ];
        const e = report.modelEval;
        if (e) lines.push(`CE loss recovered ${(e.ceLossRecovered * 100).toFixed(1)} % (loss clean ${e.cleanLoss.toFixed(4)}, with SAE ${e.saeLoss.toFixed(4)}, zero-ablated ${e.zeroLoss.toFixed(4)})`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}

export function saeCommand(): Command {
  const cmd = new Command('sae').description('sparse autoencoders: collect activations, train, explore and search features');
  cmd.addCommand(collectCommand());
  cmd.addCommand(trainCommand());
  for (const sub of saeFeatureCommands()) cmd.addCommand(sub);
  return cmd;
}

