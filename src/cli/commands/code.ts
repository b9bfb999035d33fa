import { Command, Option } from 'commander';
import { InvalidInputError } from '../../io/errors.js';
import { codePairs, METRIC_LABELS, metricValue, probeRecords, summary, writeJsonLines, type Dropped, type MetricLabel } from '../../code/code-data.js';
import { CODE_DATASETS, readCodeTasks, type CodeDataset, type CodeTask } from '../../code/datasets.js';
import { measureCode, type CodeMetrics } from '../../code/metrics.js';
import { CODE_LANGUAGES, CodeParser, languageForFile, type CodeLanguage } from '../../code/parser.js';
import { jsonOption, parseIntStrict, readTextFile, runAction } from '../common.js';

const datasetOption = (what: string): Option => new Option('--dataset <name>', what).choices([...CODE_DATASETS]);
const limitOption = new Option('--limit <n>', 'use the first N tasks of the dataset');
const maxCharsOption = new Option('--max-chars <n>', "leave out tasks whose text is longer than n characters (to fit a model's context)");

function tasksOf(dataset: CodeDataset, limit: string | undefined): CodeTask[] {
  const tasks = readCodeTasks(dataset);
  return limit === undefined ? tasks : tasks.slice(0, parseIntStrict(limit, '--limit', 1));
}

const optionalInt = (value: string | undefined, flag: string): number | undefined => (value === undefined ? undefined : parseIntStrict(value, flag, 1));

function stats(values: readonly number[]): string {
  if (values.length === 0) return 'none';
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  return `mean ${mean.toFixed(2)}, min ${Math.min(...values)}, max ${Math.max(...values)}`;
}

function droppedLine(dropped: readonly Dropped[]): string {
  if (dropped.length === 0) return '';
  const reasons = new Map<string, number>();
  for (const d of dropped) {
    const reason = d.reason.replace(/^\d+ characters/, 'too long');
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return `left out ${dropped.length}: ${[...reasons].map(([r, n]) => `${n} ${r}`).join('; ')}\n`;
}

const HEADER = `${'file'.padEnd(32)} ${'language'.padEnd(10)} complexity  nesting  functions  nodes  lines  code lines\n`;

function row(name: string, m: CodeMetrics): string {
  const errors = m.hasErrors ? `  SYNTAX ERRORS (first at line ${m.problems[0]?.line ?? '?'})` : '';
  return `${name.padEnd(32)} ${m.language.padEnd(10)} ${String(m.complexity).padStart(10)}  ${String(m.nesting).padStart(7)}  ${String(m.functions).padStart(9)}  ${String(m.nodes).padStart(5)}  ${String(m.lines).padStart(5)}  ${String(m.codeLines).padStart(10)}${errors}\n`;
}

function functionRows(m: CodeMetrics): string {
  return m.perFunction.map((f) => `  ${`${f.name} (line ${f.line})`.padEnd(40)} complexity ${String(f.complexity).padStart(3)}, nesting ${f.nesting}, ${f.nodes} nodes, ${f.lines} line${f.lines === 1 ? "" : "s"}\n`).join('');
}

interface MetricsFlags {
  dataset?: CodeDataset;
  language?: CodeLanguage;
  label: MetricLabel;
  out?: string;
  limit?: string;
  maxChars?: string;
  functions?: boolean;
  json?: boolean;
}

async function metricsOfFiles(files: readonly string[], flags: MetricsFlags): Promise<void> {
  const parser = await CodeParser.load();
  const measured = files.map((file) => {
    const language = flags.language ?? languageForFile(file);
    if (language === undefined) throw new InvalidInputError(`${file}: cannot tell the language from the extension; give --language (${CODE_LANGUAGES.join(' or ')})`);
    const source = readTextFile(file, 'file');
    return { file, source, metrics: measureCode(parser, source, language) };
  });
  if (flags.out !== undefined) {
    writeJsonLines(flags.out, measured.map((m) => ({ text: m.source, value: metricValue(m.metrics, flags.label), id: m.file, metrics: summary(m.metrics) })));
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ files: measured.map((m) => ({ file: m.file, ...m.metrics })), ...(flags.out ? { out: flags.out } : {}) })}\n`);
    return;
  }
  process.stdout.write(HEADER);
  for (const m of measured) process.stdout.write(row(m.file, m.metrics) + (flags.functions ? functionRows(m.metrics) : ''));
  if (flags.out) process.stdout.write(`wrote ${flags.out}: ${measured.length} records, value = ${flags.label}\n`);
}

async function metricsOfDataset(dataset: CodeDataset, flags: MetricsFlags): Promise<void> {
  const tasks = tasksOf(dataset, flags.limit);
  const parser = await CodeParser.load();
  const { records, dropped } = probeRecords(parser, tasks, flags.label, { maxChars: optionalInt(flags.maxChars, '--max-chars') });
  if (flags.out !== undefined) writeJsonLines(flags.out, records);
  const values = records.map((r) => r.value);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ dataset, tasks: tasks.length, records: records.length, label: flags.label, dropped, ...(flags.out ? { out: flags.out } : {}), items: records.map((r) => ({ id: r.id, ...r.metrics })) })}\n`);
    return;
  }
  process.stdout.write(`${dataset}: ${records.length} of ${tasks.length} reference solutions; ${flags.label}: ${stats(values)}\n`);
  process.stdout.write(droppedLine(dropped));
  if (flags.out) process.stdout.write(`wrote ${flags.out} (probe data: {text, value = ${flags.label}}; train with \`steerer probe train --data ${flags.out}\`)\n`);
}

function metricsCommand(): Command {
  return new Command('metrics')
    .description('cyclomatic complexity, nesting depth, function and node counts, lines: of code files, or of a dataset\'s reference solutions (optionally written as probe data)')
    .argument('[files...]', 'Python or JavaScript files (language by extension, or --language)')
    .addOption(datasetOption("a shared code dataset's reference solutions instead of files"))
    .addOption(new Option('--language <name>', 'language of the files').choices([...CODE_LANGUAGES]))
    .addOption(new Option('--label <metric>', 'the metric written as `value` with --out').choices([...METRIC_LABELS]).default('complexity'))
    .option('-o, --out <file>', 'write JSONL probe data {text, value, id, metrics} for `steerer probe train --data`')
    .addOption(limitOption)
    .addOption(maxCharsOption)
    .option('--functions', 'list every function with its own numbers')
    .addOption(jsonOption)
    .action(
      runAction(async (files: string[], flags: MetricsFlags) => {
        if ((flags.dataset === undefined) === (files.length === 0)) throw new InvalidInputError('give code files or --dataset NAME (not both)');
        if (flags.dataset !== undefined) await metricsOfDataset(flags.dataset, flags);
        else {
          if (flags.limit !== undefined || flags.maxChars !== undefined) throw new InvalidInputError('--limit and --max-chars apply to --dataset');
          await metricsOfFiles(files, flags);
        }
      }),
    );
}

interface PairsFlags {
  dataset: CodeDataset;
  out: string;
  limit?: string;
  maxChars?: string;
  json?: boolean;
}

function pairsCommand(): Command {
  return new Command('pairs')
    .description('contrastive pairs for a "simpler code" vector: each reference solution (positive) vs the same solution made more complex by behaviour-preserving rewrites (negative)')
    .addOption(datasetOption('the shared code dataset').makeOptionMandatory())
    .requiredOption('-o, --out <file>', 'output JSONL {prompt, positive, negative, ...} for `steerer vector create --pairs`')
    .addOption(limitOption)
    .addOption(maxCharsOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: PairsFlags) => {
        const tasks = tasksOf(flags.dataset, flags.limit);
        const parser = await CodeParser.load();
        const { pairs, dropped } = codePairs(parser, tasks, { maxChars: optionalInt(flags.maxChars, '--max-chars') });
        if (pairs.length === 0) throw new InvalidInputError(`no pairs: ${droppedLine(dropped).trim() || 'no tasks'}`);
        writeJsonLines(flags.out, pairs);
        const mean = (f: (p: (typeof pairs)[number]) => number): number => pairs.reduce((a, p) => a + f(p), 0) / pairs.length;
        const summaryJson = {
          dataset: flags.dataset,
          tasks: tasks.length,
          pairs: pairs.length,
          dropped,
          out: flags.out,
          complexity: { positive: mean((p) => p.complexity.positive), negative: mean((p) => p.complexity.negative) },
          nesting: { positive: mean((p) => p.nesting.positive), negative: mean((p) => p.nesting.negative) },
          guardedReturns: pairs.reduce((a, p) => a + p.guardedReturns, 0),
          splitConditions: pairs.reduce((a, p) => a + p.splitConditions, 0),
        };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(summaryJson)}\n`);
          return;
        }
        const c = summaryJson.complexity;
        const n = summaryJson.nesting;
        process.stdout.write(`wrote ${flags.out}: ${pairs.length} pairs from ${tasks.length} ${flags.dataset} tasks\n`);
        process.stdout.write(`mean complexity ${c.positive.toFixed(2)} (simple, positive) vs ${c.negative.toFixed(2)} (complex, negative); nesting ${n.positive.toFixed(2)} vs ${n.negative.toFixed(2)}\n`);
        process.stdout.write(`rewrites: ${summaryJson.guardedReturns} guarded returns, ${summaryJson.splitConditions} split conditions\n`);
        process.stdout.write(droppedLine(dropped));
      }),
    );
}

export function codeCommand(): Command {
  return new Command('code')
    .description('code metrics for code models: tree-sitter metrics as probe labels, simple-vs-complex pairs for a "simpler code" vector')
    .addCommand(metricsCommand())
    .addCommand(pairsCommand());
}
