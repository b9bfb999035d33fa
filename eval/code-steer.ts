/**
 * Does a "simpler code" vector make generated code simpler? A vector is extracted (diffmean, mean
 * over the completion) from `steerer code pairs` data: each reference solution vs the same
 * solution made more complex by behaviour-preserving rewrites, on the tasks of the dataset that are
 * NOT evaluated. Then, for the first N tasks whose prompt fits the model, code is generated from
 * the task's prompt (greedy by default) without steering and with the vector added at each
 * coefficient, and every program (prompt + completion) is measured by src/code: the share that
 * parses without errors, the share that defines a function, and the mean cyclomatic complexity
 * ± 95% CI of the programs that parse.
 *
 * The model is given by path (--model); the default, TinyStories-656K, writes children's stories
 * and cannot write code: on it this eval proves the plumbing only, and most outputs do not parse.
 *
 * Run: npx tsx eval/code-steer.ts [--model DIR] [--dataset mbpp|humaneval] [--tasks 40]
 *        [--tokens 96] [--coefficients=-8,0,8] [--layer L] [--temperature 0] [--vector FILE]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { codePairs } from '../src/code/code-data.js';
import { CODE_DATASETS, readCodeTasks, type CodeDataset } from '../src/code/datasets.js';
import { measureCode } from '../src/code/metrics.js';
import { CodeParser } from '../src/code/parser.js';
import { generateBatch } from '../src/decoding/generate.js';
import type { Hook } from '../src/runtime/hooks.js';
import { openModel } from '../src/runtime/open-model.js';
import { pairsFromCompletions } from '../src/steering/contrast-pairs.js';
import { bestLayer, extractVector } from '../src/steering/extract.js';
import { addVector } from '../src/steering/operators.js';
import { loadVector } from '../src/steering/vector-file.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { meanSe } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: sharedPath('models', 'tinystories-656k') },
    dataset: { type: 'string', default: 'mbpp' },
    tasks: { type: 'string', default: '40' },
    tokens: { type: 'string', default: '96' },
    coefficients: { type: 'string', default: '-8,0,8' },
    layer: { type: 'string' },
    temperature: { type: 'string', default: '0' },
    vector: { type: 'string' },
    threads: { type: 'string', default: '2' },
  },
});
if (!(CODE_DATASETS as readonly string[]).includes(values.dataset)) throw new Error(`--dataset must be one of ${CODE_DATASETS.join(', ')}`);
const dataset = values.dataset as CodeDataset;
const N = Number(values.tasks);
const TOKENS = Number(values.tokens);
const coefficients = values.coefficients.split(',').map(Number);
if (!coefficients.includes(0)) coefficients.unshift(0);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const model = openModel(values.model, { threads: Number(values.threads) });
const parser = await CodeParser.load();
const tasks = readCodeTasks(dataset);
// Evaluated: the first N tasks whose prompt leaves room for the completion; the vector never sees them.
const fits = tasks.filter((t) => model.encode(t.prompt).length + TOKENS <= model.spec.maxPositions);
const evalTasks = fits.slice(0, N);
const evalIds = new Set(evalTasks.map((t) => t.id));
log(`${dataset}: ${evalTasks.length} tasks evaluated (${fits.length} of ${tasks.length} prompts fit ${model.spec.maxPositions} positions with ${TOKENS} new tokens)`);

async function codeVector() {
  if (values.vector !== undefined) return loadVector(values.vector);
  const { pairs } = codePairs(parser, tasks.filter((t) => !evalIds.has(t.id)));
  const data = pairsFromCompletions(model, pairs, { tooLong: 'skip', source: `${dataset} code pairs (held-out tasks)` });
  log(`vector: diffmean over ${data.pairs.length} pairs (${data.skipped?.length ?? 0} too long for the model, skipped)`);
  return extractVector(model, data, { method: 'diffmean', read: 'mean', description: 'simpler code: reference solution − complexified solution' });
}
const vector = await codeVector();
const layer = values.layer !== undefined ? Number(values.layer) : bestLayer(vector.meta.diagnostics ?? []);
const direction = vector.directions.get(layer);
if (direction === undefined) throw new Error(`the vector has no layer ${layer}`);
const held = vector.meta.diagnostics?.find((d) => d.layer === layer);
log(`steering at layer ${layer} (held-out pair AUROC ${held?.auroc?.toFixed(3) ?? '?'}), |v| = ${Math.hypot(...direction).toFixed(3)}`);

// Where a completion ends: the next top-level statement that is not part of the solution.
const STOPS: Record<CodeDataset, string[]> = { mbpp: ['\nassert', '\nprint(', '\nif __name__', '\n# '], humaneval: ['\ndef ', '\nclass ', '\nif ', '\nprint(', '\n#'] };
const prompts = evalTasks.map((t) => t.prompt);
const promptFunctions = prompts.map((p) => measureCode(parser, p, 'python').functions);

interface Condition {
  coefficient: number;
  parseRate: number;
  definesFunction: number;
  complexity: { mean: number; ci95: number; n: number };
  complexityAll: { mean: number; ci95: number; n: number };
  changed: number;
  sample: string;
}

let unsteered: string[] = [];
const rows: Condition[] = [];
for (const coefficient of coefficients.sort((a, b) => (a === 0 ? -1 : b === 0 ? 1 : a - b))) {
  const hooks: Hook[] = coefficient === 0 ? [] : [{ kind: 'intervene', at: { layer, site: 'resid_post' }, intervention: addVector(direction, { scale: coefficient }) }];
  const out = await generateBatch(model, prompts, { hooks, temperature: Number(values.temperature), seed: 1000, maxTokens: TOKENS, stop: STOPS[dataset] });
  const texts = out.map((o) => o.text);
  if (coefficient === 0) unsteered = texts;
  const metrics = texts.map((t, i) => measureCode(parser, prompts[i] + t, 'python'));
  const parsed = metrics.filter((m) => !m.hasErrors);
  const ci = (xs: number[]) => {
    const s = meanSe(xs);
    return { mean: s.mean, ci95: 1.96 * s.se, n: s.n };
  };
  const row: Condition = {
    coefficient,
    parseRate: parsed.length / metrics.length,
    definesFunction: metrics.filter((m, i) => !m.hasErrors && m.functions > promptFunctions[i]).length / metrics.length,
    complexity: ci(parsed.map((m) => m.complexity)),
    complexityAll: ci(metrics.map((m) => m.complexity)),
    changed: texts.filter((t, i) => t !== unsteered[i]).length / texts.length,
    sample: texts[0].slice(0, 200),
  };
  rows.push(row);
  log(`coefficient ${coefficient}: ${(row.parseRate * 100).toFixed(0)} % parse, complexity ${row.complexity.mean.toFixed(2)} ± ${row.complexity.ci95.toFixed(2)} (n ${row.complexity.n})`);
}

const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
const pm = (c: { mean: number; ci95: number; n: number }): string => (c.n === 0 ? '–' : `${c.mean.toFixed(2)} ± ${c.ci95.toFixed(2)} (n ${c.n})`);
const table = [
  '| coefficient | parses | defines a function | complexity of what parses (± 95% CI) | complexity of all (error-recovered) | outputs changed |',
  '|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.coefficient} | ${pct(r.parseRate)} | ${pct(r.definesFunction)} | ${pm(r.complexity)} | ${pm(r.complexityAll)} | ${pct(r.changed)} |`),
].join('\n');
process.stdout.write(`${table}\n\nThe completion of ${evalTasks[0]?.id} per coefficient:\n${rows.map((r) => `  ${r.coefficient}: ${JSON.stringify(r.sample)}`).join('\n')}\n`);
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
const name = `code-steer-${dataset}.json`;
fs.writeFileSync(
  path.join(dir, name),
  `${JSON.stringify({ date: new Date().toISOString(), model: model.source.name, dataset, tasks: evalTasks.length, tokens: TOKENS, temperature: Number(values.temperature), layer, heldOutAuroc: held?.auroc, rows }, null, 2)}\n`,
);
await model.dispose();
