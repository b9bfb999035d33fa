/**
 * Is the cyclomatic complexity of a solution linearly readable from the model's activations on
 * its code? A ridge probe per layer (steerer's trainProbes: 5-fold cross-validated R², mean of the
 * folds) on the reference solutions of MBPP and HumanEval, labelled by src/code's metrics; against
 * two baselines on the same folds that read no activations: a line fitted to the number of tokens,
 * and one fitted to the number of code lines. A probe that only beats nothing, or only ties the
 * length baselines, has learnt length.
 *
 * Run: npx tsx eval/code-probe.ts [--model DIR] [--max-chars 700]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { probeRecords } from '../src/code/code-data.js';
import { CODE_DATASETS, readCodeTasks } from '../src/code/datasets.js';
import { CodeParser } from '../src/code/parser.js';
import { kFold } from '../src/probes/cross-validation.js';
import { r2 } from '../src/probes/metrics.js';
import { trainProbes } from '../src/probes/train-probes.js';
import { openModel } from '../src/runtime/open-model.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: sharedPath('models', 'tinystories-656k') },
    'max-chars': { type: 'string', default: '700' },
    threads: { type: 'string', default: '2' },
  },
});
const model = openModel(values.model, { threads: Number(values.threads) });
const parser = await CodeParser.load();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** Mean over folds of the held-out R² of a least-squares line y ≈ a + b·x (the probes' folds: kFold(n, 5, seed 0)). */
function lineBaseline(x: readonly number[], y: readonly number[]): number {
  const scores = kFold(x.length, 5, 0).map(({ train, test }) => {
    const mx = train.reduce((a, i) => a + x[i], 0) / train.length;
    const my = train.reduce((a, i) => a + y[i], 0) / train.length;
    const sxy = train.reduce((a, i) => a + (x[i] - mx) * (y[i] - my), 0);
    const sxx = train.reduce((a, i) => a + (x[i] - mx) ** 2, 0);
    const b = sxx > 0 ? sxy / sxx : 0;
    return r2(test.map((i) => my + b * (x[i] - mx)), test.map((i) => y[i])) ?? NaN;
  });
  return scores.reduce((a, s) => a + s, 0) / scores.length;
}

interface Row {
  dataset: string;
  examples: number;
  method: string;
  perLayer: { layer: number; r2: number | undefined }[];
}

const rows: Row[] = [];
for (const dataset of CODE_DATASETS) {
  const tasks = readCodeTasks(dataset);
  const { records, dropped } = probeRecords(parser, tasks, 'complexity', { maxChars: Number(values['max-chars']) });
  log(`${dataset}: ${records.length} solutions (${dropped.length} left out: longer than ${values['max-chars']} characters)`);
  const y = records.map((r) => r.value);
  const tokens = records.map((r) => model.encode(r.text).length);
  const codeLines = records.map((r) => Number(r.metrics['code-lines']));
  rows.push({ dataset, examples: records.length, method: 'baseline: line on token count', perLayer: [{ layer: -1, r2: lineBaseline(tokens, y) }] });
  rows.push({ dataset, examples: records.length, method: 'baseline: line on code lines', perLayer: [{ layer: -1, r2: lineBaseline(codeLines, y) }] });
  for (const positions of ['mean', 'last'] as const) {
    for (const l2 of [1, 10, 100]) {
      const trained = await trainProbes(model, records, { positions, l2, folds: 5, seed: 0 });
      const perLayer = trained.perLayer.map((l) => ({ layer: l.layer, r2: l.metrics.r2 }));
      rows.push({ dataset, examples: records.length, method: `ridge probe, ${positions} position${positions === 'mean' ? 's' : ''}, l2 ${l2}`, perLayer });
      log(`${dataset} ${positions} l2=${l2}: ${perLayer.map((l) => `layer ${l.layer} R² ${l.r2?.toFixed(3)}`).join(', ')}`);
    }
  }
}

const layers = [...new Set(rows.flatMap((r) => r.perLayer.map((l) => l.layer)).filter((l) => l >= 0))].sort((a, b) => a - b);
const fmt = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(3));
const table = [
  `| dataset | n | method | ${layers.map((l) => `R² layer ${l}`).join(' | ')} |`,
  `|---|---:|---|${layers.map(() => '---:').join('|')}|`,
  ...rows.map((r) => {
    const cells = r.perLayer[0].layer < 0 ? layers.map((_, i) => (i === 0 ? fmt(r.perLayer[0].r2) : '')) : layers.map((l) => fmt(r.perLayer.find((p) => p.layer === l)?.r2));
    return `| ${r.dataset} | ${r.examples} | ${r.method} | ${cells.join(' | ')} |`;
  }),
].join('\n');
process.stdout.write(`${table}\n`);
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'code-probe.json'), `${JSON.stringify({ date: new Date().toISOString(), model: model.source.name, maxChars: Number(values['max-chars']), rows }, null, 2)}\n`);
await model.dispose();
