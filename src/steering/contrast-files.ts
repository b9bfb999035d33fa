/**
 * Reads contrastive datasets from files: JSON / JSONL pair files (texts, completions or CAA, by
 * their fields), text or JSON lists of strings for unpaired sets, and persona suffix files.
 * Parsing and locating records is done here; building the pairs is contrast-pairs.ts's job.
 */
import { ModelFileError } from '../io/errors.js';
import { parseJson, readRecords, readText, type Located } from '../io/json-records.js';
import type { ContrastDataset, DatasetModel, DatasetOptions } from './contrast-dataset.js';
import { context, describe } from './contrast-checks.js';
import { buildCaa, buildCompletions, buildSets, buildTexts } from './contrast-pairs.js';

type ContrastFormat = 'texts' | 'completions' | 'caa';

/** The format of one record, by its fields (undefined: none fits). */
function detectFormat(item: unknown): ContrastFormat | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const has = (k: string): boolean => k in item;
  if (has('question') && (has('answer_matching_behavior') || has('answer_not_matching_behavior'))) return 'caa';
  if (has('prompt') && has('positive') && has('negative')) return 'completions';
  if (has('positive') && has('negative')) return 'texts';
  return undefined;
}

/**
 * Reads contrastive pairs from a JSON array or JSONL file, the format detected from the first
 * record's fields: {positive, negative} | {prompt, positive, negative} | CAA {question,
 * answer_matching_behavior, answer_not_matching_behavior}. Every record must have that format.
 */
export function readContrastFile(model: DatasetModel, path: string, opts: DatasetOptions = {}): ContrastDataset {
  const records = readRecords(path);
  const ctx = context(opts, path, path);
  if (records.length === 0) throw new ModelFileError(path, 'holds no items');
  const first = records[0];
  const format = detectFormat(first.value);
  if (format === undefined) {
    const keys = first.value !== null && typeof first.value === 'object' ? Object.keys(first.value).join(', ') || 'none' : describe(first.value);
    throw new ModelFileError(
      path,
      `${first.where}: not a contrast item (fields: ${keys}); expected {positive, negative}, {prompt, positive, negative} or CAA {question, answer_matching_behavior, answer_not_matching_behavior}`,
    );
  }
  if (format === 'caa') return buildCaa(model, records, opts, ctx);
  if (format === 'completions') return buildCompletions(model, records, opts, ctx);
  return buildTexts(model, records, opts, ctx);
}

/**
 * A list of strings from a file: a JSON array of strings, or plain text with one item per line
 * (blank lines skipped; items named by line).
 */
function readStringList(file: string, opts: { allowEmpty: boolean }): Located<unknown>[] {
  const text = readText(file);
  if (text.trim() === '') throw new ModelFileError(file, 'is empty');
  if (text.trimStart().startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (Array.isArray(data)) {
      const items = data.map((value: unknown, i) => ({ value, where: `item ${i}` }));
      for (const it of items) {
        if (typeof it.value !== 'string') throw new ModelFileError(file, `${it.where}: expected a string, got ${describe(it.value)}`);
        if (!opts.allowEmpty && it.value.trim() === '') throw new ModelFileError(file, `${it.where}: empty text`);
      }
      return items;
    }
    if (/\.json$/i.test(file)) parseJson(file, text); // throws with the parser's line
  }
  const out: Located<unknown>[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') out.push({ value: line, where: `line ${i + 1}` });
  });
  return out;
}

/**
 * A positive set and a neutral set from two files (text, one item per line; or JSON arrays of
 * strings), paired by index as in pairsFromSets.
 */
export function readSetFiles(model: DatasetModel, positivePath: string, neutralPath: string, opts: DatasetOptions = {}): ContrastDataset {
  const positives = readStringList(positivePath, { allowEmpty: false });
  const neutrals = readStringList(neutralPath, { allowEmpty: false });
  const source = opts.source ?? `${positivePath} vs ${neutralPath}`;
  return buildSets(model, positives, neutrals, opts, {
    positive: { source, file: positivePath },
    negative: { source, file: neutralPath },
    source,
  });
}

/** Persona suffixes (repeng's all_truncated_outputs.json: a JSON array of strings; "" allowed). */
export function readSuffixes(path: string): string[] {
  const items = readStringList(path, { allowEmpty: true });
  if (items.length === 0) throw new ModelFileError(path, 'holds no suffixes');
  return items.map((i) => i.value as string);
}
