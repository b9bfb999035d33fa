import { z } from 'zod/v4';
import { ModelFileError, InvalidInputError } from '../io/errors.js';
import { parse } from 'csv-parse/sync';
import { parseJson, readRecords, readText, type Located } from '../io/json-records.js';
import { describeValue, mustBe, parseOr } from '../util/schemas.js';
import type { ProbeExample } from './train-probes.js';

/**
 * Labelled texts for probes:
 *   - a data file: JSONL / JSON array of {text|statement|prompt, label|value}, or CSV with a
 *     header naming a text|statement|prompt column and a label|value column;
 *   - class files (NAME=FILE): each a JSON array of strings or plain text, one example per line.
 * Labels may be strings, numbers or booleans (kept as strings); values must be numbers.
 */

const TEXT_KEYS = ['text', 'statement', 'prompt'] as const;

function failAt(file: string, where: string): (problem: string) => never {
  return (problem) => {
    throw new ModelFileError(file, `${where}: ${problem}`);
  };
}

/** RFC 4180 CSV (csv-parse): quoted fields may hold commas, newlines and doubled quotes; blank lines are skipped. */
export function parseCsv(text: string, file = 'CSV'): string[][] {
  try {
    return parse(text, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (e) {
    throw new ModelFileError(file, `not valid CSV: ${(e as Error).message}`);
  }
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** What a record lacks or has twice: one text key, and a label or a value (null counts as absent for those). */
function shapeProblem(rec: Record<string, unknown>): string | undefined {
  const keys = TEXT_KEYS.filter((k) => rec[k] !== undefined);
  if (keys.length !== 1) return keys.length === 0 ? `no text: expected one of ${TEXT_KEYS.join(', ')}` : `several texts (${keys.join(', ')}): give one`;
  const hasLabel = present(rec.label);
  if (hasLabel === present(rec.value)) return hasLabel ? 'has both "label" and "value": give one' : 'no "label" (a class) or "value" (a number)';
  return undefined;
}

const nonEmptyText = { error: mustBe('a non-empty string') };
const TextField = z.string(nonEmptyText).refine((s) => s.trim() !== '', nonEmptyText);

/** One record of a JSONL / JSON array data file: its shape first, then its fields. */
const ProbeRecordSchema = z
  .looseObject({}, { error: (issue) => `expected an object, got ${describeValue(issue.input)}` })
  .superRefine((rec, ctx) => {
    const problem = shapeProblem(rec);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, continue: false });
  })
  .pipe(
    z.object({
      text: TextField.optional(),
      statement: TextField.optional(),
      prompt: TextField.optional(),
      // Labels are kept as strings: trimmed text, or the number or boolean written out.
      label: z.union([z.string().trim().min(1), z.number(), z.boolean()], { error: mustBe('a non-empty string, a number or a boolean') }).transform(String).nullish(),
      value: z.number({ error: mustBe('a finite number') }).nullish(),
    }),
  )
  .transform((r): ProbeExample => {
    // shapeProblem saw to exactly one text and exactly one of label and value.
    const text = r.text ?? r.statement ?? r.prompt ?? '';
    return typeof r.label === 'string' ? { text, label: r.label } : { text, value: r.value ?? Number.NaN };
  });

function fromRecord(file: string, item: Located): ProbeExample {
  return parseOr(ProbeRecordSchema, item.value, failAt(file, item.where));
}

/** CSV cells: the text, a label or a value (labels and values trimmed). */
const CsvText = z.string().refine((t) => t.trim() !== '', 'empty text');
const CsvLabel = z.string().trim().min(1, 'empty label');
const CsvValue = z
  .string()
  .trim()
  .refine((c) => c !== '' && Number.isFinite(Number(c)), { error: (issue) => `value "${String(issue.input)}" is not a finite number` })
  .transform(Number);

function fromCsv(file: string, text: string): ProbeExample[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) throw new ModelFileError(file, 'is empty');
  const header = rows[0].map((h) => h.trim().toLowerCase());
  const textCols = TEXT_KEYS.filter((k) => header.includes(k));
  if (textCols.length !== 1) {
    throw new ModelFileError(file, textCols.length === 0 ? `the header has no ${TEXT_KEYS.join('/')} column (it has ${rows[0].join(', ')})` : `the header has several text columns (${textCols.join(', ')})`);
  }
  const hasLabel = header.includes('label');
  const hasValue = header.includes('value');
  if (hasLabel === hasValue) throw new ModelFileError(file, hasLabel ? 'the header has both "label" and "value" columns: keep one' : 'the header has no "label" or "value" column');
  const ti = header.indexOf(textCols[0]);
  const yi = header.indexOf(hasLabel ? 'label' : 'value');
  const RowSchema = z.array(z.string()).length(header.length, {
    error: (issue) => `${Array.isArray(issue.input) ? issue.input.length : 0} fields, but the header has ${header.length}`,
  });
  return rows.slice(1).map((cells, r) => {
    const fail = failAt(file, `record ${r + 1}`);
    const row = parseOr(RowSchema, cells, fail);
    const text = parseOr(CsvText, row[ti], fail);
    return hasLabel ? { text, label: parseOr(CsvLabel, row[yi], fail) } : { text, value: parseOr(CsvValue, row[yi], fail) };
  });
}

/** Examples from a JSONL / JSON array / CSV file (CSV by the .csv extension, or when it does not look like JSON). */
export function readProbeData(file: string): ProbeExample[] {
  const text = readText(file);
  if (text.trim() === '') throw new ModelFileError(file, 'is empty');
  const start = text.trimStart()[0];
  const examples = /\.csv$/i.test(file) || (start !== '[' && start !== '{') ? fromCsv(file, text) : readRecords(file).map((item) => fromRecord(file, item));
  if (examples.length === 0) throw new ModelFileError(file, 'holds no examples');
  return examples;
}

const TextListSchema = z.array(z.unknown());
const notText = { error: (issue: { readonly input?: unknown }): string => `expected a non-empty string, got ${describeValue(issue.input)}` };
const TextListItem = z.string(notText).refine((t) => t.trim() !== '', notText);

/** A JSON array of strings, or plain text with one example per line (blank lines skipped). */
function readTextList(file: string): string[] {
  const text = readText(file);
  if (text.trim() === '') throw new ModelFileError(file, 'is empty');
  if (text.trimStart().startsWith('[')) {
    const data = parseOr(TextListSchema, parseJson(file, text), () => {
      throw new ModelFileError(file, 'expected a JSON array of strings');
    });
    return data.map((v, i) => parseOr(TextListItem, v, failAt(file, `item ${i}`)));
  }
  return text.split(/\r?\n/).filter((l) => l.trim() !== '');
}

/** Parses NAME=FILE. */
export function parseClassSpec(spec: string): { name: string; file: string } {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? '' : spec.slice(0, eq).trim();
  const file = eq < 0 ? '' : spec.slice(eq + 1);
  if (name === '' || file === '') throw new InvalidInputError(`--class expects NAME=FILE, got "${spec}"`);
  return { name, file };
}

/** Examples from class files, in the given class order. */
export function readClassFiles(specs: readonly { name: string; file: string }[]): ProbeExample[] {
  const seen = new Set<string>();
  const out: ProbeExample[] = [];
  for (const { name, file } of specs) {
    if (seen.has(name)) throw new InvalidInputError(`class "${name}" is given twice`);
    seen.add(name);
    for (const text of readTextList(file)) out.push({ text, label: name });
  }
  return out;
}

/** The first `limit` examples of each class (classification) or in all (regression), in file order. */
export function limitExamples(examples: readonly ProbeExample[], limit: number): ProbeExample[] {
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`limit must be a positive integer, got ${limit}`);
  const counts = new Map<string, number>();
  return examples.filter((e) => {
    const key = e.label ?? '';
    const c = counts.get(key) ?? 0;
    counts.set(key, c + 1);
    return c < limit;
  });
}
