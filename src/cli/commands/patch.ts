import { Command } from 'commander';
import { HOOK_SITES, type HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { activationPatching, DEFAULT_PATCH_SITES, resolveToken, type PatchingResult } from '../../explore/patching.js';
import { showToken } from '../../report/lens-report.js';
import { metricLabel, patchingHtml, patchingSvg } from '../../report/patching-report.js';
import { deviceOption, jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, progressBar, runAction, threadsOption } from '../common.js';
import { nonEmptyText, parsePositionList, textTable, writeTextFile } from '../explore-flags.js';

interface PatchFlags {
  model: string;
  threads?: string;
  device?: string;
  clean: string;
  corrupt: string;
  target?: string;
  foil?: string;
  sites: string;
  layers: string;
  positions: string;
  batchSize: string;
  html?: string;
  svg?: string;
  json?: boolean;
}

function parseSites(value: string): HookSite[] {
  const sites = value.split(',').map((s) => s.trim());
  for (const s of sites) {
    if (!(HOOK_SITES as readonly string[]).includes(s)) throw new InvalidInputError(`--sites: unknown hook site "${s}" (expected a comma list of ${HOOK_SITES.join(', ')})`);
  }
  return sites as HookSite[];
}

function printTable(r: PatchingResult): void {
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  const tokens = (t: readonly string[]): string => t.map(showToken).join('|');
  out(`clean:   ${tokens(r.clean.tokens)}   ${metricLabel(r)} = ${r.clean.metric.toFixed(4)}`);
  out(`corrupt: ${tokens(r.corrupt.tokens)}   ${metricLabel(r)} = ${r.corrupt.metric.toFixed(4)}`);
  out(`positions: ${r.positions.map((p) => `${p} ${showToken(r.clean.tokens[p])}${r.clean.tokens[p] === r.corrupt.tokens[p] ? '' : `→${showToken(r.corrupt.tokens[p])}`}`).join(' · ')}`);
  out('normalised effect (patched − corrupt) / (clean − corrupt); 1 = the clean value restored');
  for (const s of r.sites) {
    const rows = [[s.site, ...r.positions.map(String)], ...r.layers.map((layer, l) => [`  layer ${layer}`, ...s.effect[l].map((v) => (v === null ? '—' : v.toFixed(2).replace(/^-(0\.0+)$/, '$1')))])];
    out(textTable(rows));
  }
}

export function patchCommand(): Command {
  return new Command('patch')
    .description('activation patching: put each clean activation (layer × site × position) into the corrupt run and measure how much of the clean next-token prediction returns')
    .addOption(modelOption)
    .requiredOption('--clean <text>', 'the clean prompt')
    .requiredOption('--corrupt <text>', 'the corrupt prompt (same token count as --clean)')
    .option('--target <token>', "token measured: its text (read as the clean prompt's continuation) or #ID (default: the clean run's most likely next token)")
    .option('--foil <token>', 'with a foil the metric is logit(target) − logit(foil) (text or #ID), else log p(target)')
    .option('--sites <list>', `hook sites patched, joined by commas, from ${HOOK_SITES.join(', ')}`, DEFAULT_PATCH_SITES.join(','))
    .option('-l, --layers <layers>', 'layers: N, N-M, comma list, or "all"', 'all')
    .option('--positions <list>', 'token positions: "all", "last", or N, N-M and "last" joined by commas (BOS is 0)', 'all')
    .option('--batch-size <n>', 'patched runs per forward', '32')
    .option('--html <file>', 'write the heat map and both prompts as an HTML page')
    .option('--svg <file>', 'write the heat map (layer × position, one panel per site) as SVG')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: PatchFlags) => {
        const sites = parseSites(flags.sites);
        const batchSize = parseIntStrict(flags.batchSize, '--batch-size', 1);
        const model = openFromOptions(flags);
        try {
          const clean = model.encode(nonEmptyText(flags.clean, '--clean'));
          const corrupt = model.encode(nonEmptyText(flags.corrupt, '--corrupt'));
          if (clean.length !== corrupt.length) {
            throw new InvalidInputError(
              `--clean has ${clean.length} tokens and --corrupt ${corrupt.length}: patching compares the runs position by position, so both must have the same token count ` +
                '(the standard setting: change a word for another that is also one token)',
            );
          }
          const layers = parseLayers(flags.layers, model.spec.numLayers);
          const positions = parsePositionList(flags.positions, clean.length);
          const total = sites.length * layers.length * (positions?.length ?? clean.length);
          const bar = progressBar('patching', total, flags.json);
          const result = await activationPatching(model, clean, corrupt, {
            sites,
            layers,
            positions,
            target: flags.target === undefined ? undefined : resolveToken(model, flags.clean, flags.target, '--target'),
            foil: flags.foil === undefined ? undefined : resolveToken(model, flags.clean, flags.foil, '--foil'),
            batchSize,
            onProgress: (done) => bar.update(done),
          });
          bar.stop();
          if (flags.svg) writeTextFile(flags.svg, await patchingSvg(result));
          if (flags.html) writeTextFile(flags.html, await patchingHtml(result));
          if (flags.json) process.stdout.write(`${JSON.stringify({ model: model.source.name, ...result })}\n`);
          else {
            printTable(result);
            for (const f of [flags.svg, flags.html]) if (f) process.stdout.write(`wrote ${f}\n`);
          }
        } finally {
          await model.dispose();
        }
      }),
    );
}
