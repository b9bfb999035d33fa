import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { readRecords, type Located } from '../io/json-records.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { sharedPath } from '../util/shared-path.js';
import type { BenchmarkItem } from './multiple-choice.js';

/** Multiple-choice benchmark files (../shared/data/benchmarks): reading, checking, subsampling. */

export function objectOf(file: string, r: Located): Record<string, unknown> {
  const v = r.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ModelFileError(file, `${r.where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function stringsOf(file: string, where: string, obj: Record<string, unknown>, key: string): string[] {
  const v = obj[key];
  if (!Array.isArray(v) || v.length < 2) throw new ModelFileError(file, `${where}: "${key}" must be an array of at least two strings`);
  v.forEach((s: unknown, k) => {
    if (typeof s !== 'string') throw new ModelFileError(file, `${where}: "${key}"[${k}] must be a string`);
  });
  return v as string[];
}

function parseBenchmarkItem(file: string, r: Located): BenchmarkItem {
  const obj = objectOf(file, r);
  let item: BenchmarkItem;
  let count: number;
  if ('context_options' in obj) {
    const contexts = stringsOf(file, r.where, obj, 'context_options');
    const continuation = obj.continuation;
    if (typeof continuation !== 'string' || continuation === '') throw new ModelFileError(file, `${r.where}: "continuation" must be a non-empty string`);
    item = { contexts, continuation, gold: -1 };
    count = contexts.length;
  } else if ('query' in obj && 'choices' in obj) {
    const query = obj.query;
    if (typeof query !== 'string') throw new ModelFileError(file, `${r.where}: "query" must be a string`);
    const choices = stringsOf(file, r.where, obj, 'choices');
    choices.forEach((c, k) => {
      if (c === '') throw new ModelFileError(file, `${r.where}: choice ${k} is empty`);
    });
    item = { query, choices, gold: -1 };
    count = choices.length;
  } else {
    throw new ModelFileError(
      file,
      `${r.where}: not a benchmark item (fields: ${Object.keys(obj).join(', ') || 'none'}); expected {query, choices, gold} or {context_options, continuation, gold}`,
    );
  }
  const gold = obj.gold;
  if (typeof gold !== 'number' || !Number.isInteger(gold) || gold < 0 || gold >= count) {
    throw new ModelFileError(file, `${r.where}: "gold" must be a choice index in 0..${count - 1}, got ${JSON.stringify(gold) ?? 'nothing'}`);
  }
  return { ...item, gold };
}

/** Indices of a subsample: the first `limit`, or a seeded random `limit` of them in file order. */
function subsample(n: number, limit: number | undefined, seed: number | undefined): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (limit === undefined) {
    if (seed !== undefined) throw new InvalidInputError('a seed needs a limit (the size of the subsample)');
    return all;
  }
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`limit must be a positive integer, got ${String(limit)}`);
  if (limit >= n) return all;
  if (seed === undefined) return all.slice(0, limit);
  validateSeed(seed);
  const rng = createRng(seed);
  // Partial Fisher–Yates: the first `limit` slots end up a uniform sample.
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(rng.nextFloat() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, limit).sort((a, b) => a - b);
}

export interface ReadBenchmarkOptions {
  /** Keep this many items: the first ones, or a seeded random sample (in file order) with `seed`. */
  readonly limit?: number;
  readonly seed?: number;
}

/**
 * Benchmark items from JSON lines (or a JSON array): {query, choices, gold} per line, or
 * Winogrande's {context_options, continuation, gold} (read as a PartialChoiceItem). Every line
 * is checked, also those a `limit` leaves out.
 */
export function readMultipleChoice(path: string, opts: ReadBenchmarkOptions = {}): BenchmarkItem[] {
  const items = readRecords(path).map((r) => parseBenchmarkItem(path, r));
  if (items.length === 0) throw new ModelFileError(path, 'holds no items');
  return subsample(items.length, opts.limit, opts.seed).map((i) => items[i]);
}

/** The benchmarks in the shared data directory (data/benchmarks/<name>.jsonl). */
export const BENCHMARKS = ['arc_easy', 'arc_challenge', 'piqa', 'copa', 'boolq', 'openbook_qa', 'siqa', 'winogrande'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export function benchmarkPath(name: string): string {
  if (!(BENCHMARKS as readonly string[]).includes(name)) {
    throw new InvalidInputError(`unknown benchmark "${name}": known benchmarks are ${BENCHMARKS.join(', ')}`);
  }
  return sharedPath('data', 'benchmarks', `${name}.jsonl`);
}
