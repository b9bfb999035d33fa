import { ModelFileError, InvalidInputError } from '../io/errors.js';
import { parse } from 'csv-parse/sync';
import { parseJson, readRecords, readText, type Located } from '../io/json-records.js';
import type { ProbeExample } from './train-probes.js';

/**
 * Labelled texts for probes:
 *   - a data file: JSONL / JSON array of {text|statement|prompt, label|value}, or CSV with a
 *     header naming a text|statement|prompt column and a label|value column;
 *   - class files (NAME=FILE): each a JSON array of strings or plain text, one example per line.
 * Labels may be strings, numbers or booleans (kept as strings); values must be numbers.
 */

const TEXT_KEYS = ['text', 'statement', 'prompt'] as const;

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

/** RFC 4180 CSV (csv-parse): quoted fields may hold commas, newlines and doubled quotes; blank lines are skipped. */
export function parseCsv(text: string, file = 'CSV'): string[][] {
  try {
    return parse(text, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (e) {
    throw new ModelFileError(file, `not valid CSV: ${(e as Error).message}`);
  }
}

function labelText(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

function fromRecord(file: string, item: Located): ProbeExample {
  const v = item.value;
  const fail = (problem: string): never => {
    throw new ModelFileError(file, `${item.where}: ${problem}`);
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail(`expected an object, got ${describe(v)}`);
  const rec = v as Record<string, unknown>;
  const keys = TEXT_KEYS.filter((k) => rec[k] !== undefined);
  if (keys.length !== 1) fail(keys.length === 0 ? `no text: expected one of ${TEXT_KEYS.join(', ')}` : `several texts (${keys.join(', ')}): give one`);
  const text = rec[keys[0]];
  if (typeof text !== 'string' || text.trim() === '') fail(`"${keys[0]}" must be a non-empty string, got ${describe(text)}`);
  const hasLabel = rec.label !== undefined && rec.label !== null;
  const hasValue = rec.value !== undefined && rec.value !== null;
  if (hasLabel === hasValue) fail(hasLabel ? 'has both "label" and "value": give one' : 'no "label" (a class) or "value" (a number)');
  if (hasLabel) {
    const label = labelText(rec.label);
    if (label === undefined) fail(`"label" must be a non-empty string, a number or a boolean, got ${describe(rec.label)}`);
    return { text: text as string, label };
  }
  if (typeof rec.value !== 'number' || !Number.isFinite(rec.value)) fail(`"value" must be a finite number, got ${describe(rec.value)}`);
  return { text: text as string, value: rec.value as number };
}

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
  return rows.slice(1).map((row, r) => {
    const where = `record ${r + 1}`;
    if (row.length !== header.length) throw new ModelFileError(file, `${where}: ${row.length} fields, but the header has ${header.length}`);
    const t = row[ti];
    if (t.trim() === '') throw new ModelFileError(file, `${where}: empty text`);
    const cell = row[yi].trim();
    if (hasLabel) {
      if (cell === '') throw new ModelFileError(file, `${where}: empty label`);
      return { text: t, label: cell };
    }
    const value = Number(cell);
    if (cell === '' || !Number.isFinite(value)) throw new ModelFileError(file, `${where}: value "${cell}" is not a finite number`);
    return { text: t, value };
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

/** A JSON array of strings, or plain text with one example per line (blank lines skipped). */
function readTextList(file: string): string[] {
  const text = readText(file);
  if (text.trim() === '') throw new ModelFileError(file, 'is empty');
  if (text.trimStart().startsWith('[')) {
    const data = parseJson(file, text);
    if (!Array.isArray(data)) throw new ModelFileError(file, 'expected a JSON array of strings');
    return data.map((v: unknown, i) => {
      if (typeof v !== 'string' || v.trim() === '') throw new ModelFileError(file, `item ${i}: expected a non-empty string, got ${describe(v)}`);
      return v;
    });
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
