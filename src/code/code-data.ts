/**
 * Data for the model from code tasks, in the formats the rest of Steerer already reads:
 *   - probe data: JSONL {text, value} (a regression label per solution; `steerer probe train --data`),
 *     with the task id and every metric alongside (probe-data.ts ignores other fields);
 *   - contrastive pairs: JSONL {prompt, positive, negative} (`steerer vector create --pairs`):
 *     positive = the reference solution, negative = the same solution made more complex by
 *     complexify.ts, so positive − negative points toward simpler code of the same task.
 */
import { InvalidInputError } from '../io/errors.js';
import { writeFileAtomic } from '../io/files.js';
import { complexifyPython } from './complexify.js';
import type { CodeTask } from './datasets.js';
import { measureCode, type CodeMetrics } from './metrics.js';
import type { CodeParser } from './parser.js';

export const METRIC_LABELS = ['complexity', 'nesting', 'functions', 'nodes', 'lines', 'code-lines'] as const;
export type MetricLabel = (typeof METRIC_LABELS)[number];

export function metricValue(m: CodeMetrics, label: MetricLabel): number {
  switch (label) {
    case 'complexity':
      return m.complexity;
    case 'nesting':
      return m.nesting;
    case 'functions':
      return m.functions;
    case 'nodes':
      return m.nodes;
    case 'lines':
      return m.lines;
    case 'code-lines':
      return m.codeLines;
    default:
      throw new InvalidInputError(`unknown metric "${String(label)}": expected ${METRIC_LABELS.join(', ')}`);
  }
}

/** The file-level numbers of a metrics record (no per-function list, no problems). */
export function summary(m: CodeMetrics): Record<MetricLabel | 'hasErrors', number | boolean> {
  return { complexity: m.complexity, nesting: m.nesting, functions: m.functions, nodes: m.nodes, lines: m.lines, 'code-lines': m.codeLines, hasErrors: m.hasErrors };
}

export interface Dropped {
  readonly id: string;
  readonly reason: string;
}

export interface ProbeRecord {
  readonly text: string;
  readonly value: number;
  readonly id: string;
  readonly metrics: Record<string, number | boolean>;
}

function checkMaxChars(maxChars: number | undefined): void {
  if (maxChars !== undefined && (!Number.isInteger(maxChars) || maxChars < 1)) throw new InvalidInputError(`maxChars must be a positive integer, got ${maxChars}`);
}

/** Each task's reference solution (the whole program) labelled with one of its metrics. */
export function probeRecords(parser: CodeParser, tasks: readonly CodeTask[], label: MetricLabel, opts: { maxChars?: number } = {}): { records: ProbeRecord[]; dropped: Dropped[] } {
  checkMaxChars(opts.maxChars);
  const records: ProbeRecord[] = [];
  const dropped: Dropped[] = [];
  for (const t of tasks) {
    if (opts.maxChars !== undefined && t.code.length > opts.maxChars) {
      dropped.push({ id: t.id, reason: `${t.code.length} characters (over ${opts.maxChars})` });
      continue;
    }
    const m = measureCode(parser, t.code, 'python');
    if (m.hasErrors) dropped.push({ id: t.id, reason: 'the reference solution does not parse' });
    else records.push({ text: t.code, value: metricValue(m, label), id: t.id, metrics: summary(m) });
  }
  return { records, dropped };
}

export interface CodePair {
  readonly prompt: string;
  /** The reference solution (simple) and its complexified twin (complex). */
  readonly positive: string;
  readonly negative: string;
  readonly id: string;
  readonly complexity: { readonly positive: number; readonly negative: number };
  readonly nesting: { readonly positive: number; readonly negative: number };
  readonly guardedReturns: number;
  readonly splitConditions: number;
}

/** A (simple, complex) pair per task where a rewrite applies; tasks whose text exceeds maxChars are left out. */
export function codePairs(parser: CodeParser, tasks: readonly CodeTask[], opts: { maxChars?: number } = {}): { pairs: CodePair[]; dropped: Dropped[] } {
  checkMaxChars(opts.maxChars);
  const pairs: CodePair[] = [];
  const dropped: Dropped[] = [];
  for (const t of tasks) {
    const simple = measureCode(parser, t.code, 'python');
    if (simple.hasErrors) {
      dropped.push({ id: t.id, reason: 'the reference solution does not parse' });
      continue;
    }
    const c = complexifyPython(parser, t.code, t.solutionStart);
    const negative = c.source.slice(t.solutionStart);
    if (c.guardedReturns + c.splitConditions === 0) {
      dropped.push({ id: t.id, reason: 'no rewrite applies (no return value, no `if A and B`)' });
      continue;
    }
    const longest = t.prompt.length + negative.length;
    if (opts.maxChars !== undefined && longest > opts.maxChars) {
      dropped.push({ id: t.id, reason: `${longest} characters (over ${opts.maxChars})` });
      continue;
    }
    const complex = measureCode(parser, c.source, 'python');
    // complexify.ts edits only after solutionStart and keeps the syntax; checked, not assumed.
    if (complex.hasErrors || c.source.slice(0, t.solutionStart) !== t.code.slice(0, t.solutionStart)) {
      dropped.push({ id: t.id, reason: 'the rewrite did not give valid code after the prompt' });
      continue;
    }
    pairs.push({
      prompt: t.prompt,
      positive: t.solution,
      negative,
      id: t.id,
      complexity: { positive: simple.complexity, negative: complex.complexity },
      nesting: { positive: simple.nesting, negative: complex.nesting },
      guardedReturns: c.guardedReturns,
      splitConditions: c.splitConditions,
    });
  }
  return { pairs, dropped };
}

/** Records as JSON lines, written atomically. */
export function writeJsonLines(file: string, records: readonly object[]): void {
  const bytes = new TextEncoder().encode(records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : ''));
  writeFileAtomic(file, (w) => w(bytes));
}
