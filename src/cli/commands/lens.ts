import { Command } from 'commander';
import { logitLens } from '../../explore/logit-lens.js';
import { lensHtml, showToken } from '../../report/lens-report.js';
import { deviceOption, jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, runAction, threadsOption } from '../common.js';
import { nonEmptyText, parsePositionList, textTable, writeTextFile } from '../explore-flags.js';

interface LensFlags {
  model: string;
  threads?: string;
  device?: string;
  prompt: string;
  positions: string;
  layers: string;
  top: string;
  html?: string;
  json?: boolean;
}

export function lensCommand(): Command {
  return new Command('lens')
    .description("logit lens: each layer's residual stream at each position, decoded through the model's final norm and unembedding")
    .addOption(modelOption)
    .requiredOption('-p, --prompt <text>', 'the text to read')
    .option('--positions <list>', 'token positions: "all", "last", or N, N-M and "last" joined by commas (BOS is 0)', 'all')
    .option('-l, --layers <layers>', 'layers: N, N-M, comma list, or "all"', 'all')
    .option('--top <n>', 'tokens listed per layer and position', '5')
    .option('--html <file>', 'write a heat-map table: layer × position, the top token and its probability')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: LensFlags) => {
        const top = parseIntStrict(flags.top, '--top', 1);
        const model = openFromOptions(flags);
        try {
          const ids = model.encode(nonEmptyText(flags.prompt, '--prompt'));
          const lens = await logitLens(model, ids, {
            positions: parsePositionList(flags.positions, ids.length),
            layers: parseLayers(flags.layers, model.spec.numLayers),
            top,
          });
          if (flags.html) writeTextFile(flags.html, lensHtml(lens, `Logit lens · ${model.source.name}`));
          if (flags.json) {
            process.stdout.write(`${JSON.stringify({ model: model.source.name, ...lens, ...(flags.html ? { html: flags.html } : {}) })}\n`);
            return;
          }
          for (const [j, p] of lens.positions.entries()) {
            const next = lens.tokens[p + 1];
            process.stdout.write(`position ${p} ${JSON.stringify(lens.tokens[p].token)}${next ? ` (next: ${JSON.stringify(next.token)})` : ''}\n`);
            const rows = lens.rows.map((r) => [`  ${r.label}`, ...r.cells[j].map((t) => `${showToken(t.token)} ${(t.prob * 100).toFixed(1)}%`)]);
            process.stdout.write(`${textTable(rows, 'left')}\n`);
          }
          if (flags.html) process.stdout.write(`wrote ${flags.html}\n`);
        } finally {
          await model.dispose();
        }
      }),
    );
}
