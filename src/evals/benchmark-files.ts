import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { readRecords, type Located } from '../io/json-records.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { mustBe, parseOr } from '../util/schemas.js';
import { sharedPath } from '../util/shared-path.js';
import type { BenchmarkItem } from './multiple-choice.js';

/** Multiple-choice benchmark files (../shared/data/benchmarks): reading, checking, subsampling. */

const JsonObjectSchema = z.looseObject({}, { error: 'expected a JSON object' });

/** A record of a JSON-lines file as an object; ModelFileError naming the file and the record otherwise. */
export function objectOf(file: string, r: Located): Record<string, unknown> {
  return parseOr(JsonObjectSchema, r.value, failAt(file, r.where));
}

function failAt(file: string, where: string): (problem: string) => never {
  return (problem) => {
    throw new ModelFileError(file, `${where}: ${problem}`);
  };
}

/** Two or more strings (the choices, or Winogrande's contexts). */
function stringList(element: z.ZodType<string>): z.ZodType<string[]> {
  const what = 'an array of at least two strings';
  return z
    .array(element, { error: mustBe(what) })
    .min(2, { error: (issue) => `must be ${what}, got only ${Array.isArray(issue.input) ? issue.input.length : 0}` });
}

const isChoiceIndex = (gold: unknown, count: number): gold is number => typeof gold === 'number' && Number.isInteger(gold) && gold >= 0 && gold < count;

/** Reports a "gold" that is not an index into `count` choices; the item then fails. */
function badGold(ctx: z.RefinementCtx, gold: unknown, count: number): never {
  ctx.issues.push({ code: 'custom', path: ['gold'], input: gold, message: `must be a choice index in 0..${count - 1}, got ${JSON.stringify(gold) ?? 'nothing'}` });
  return z.NEVER;
}

/** {query, choices, gold}: the query may be empty, no choice may. */
const MultipleChoiceSchema = z
  .object({
    query: z.string({ error: mustBe('a string') }),
    choices: stringList(z.string({ error: mustBe('a string') }).min(1, 'is empty')),
    gold: z.unknown(),
  })
  .transform(({ query, choices, gold }, ctx): BenchmarkItem => (isChoiceIndex(gold, choices.length) ? { query, choices, gold } : badGold(ctx, gold, choices.length)));

/** Winogrande's {context_options, continuation, gold}, read as a PartialChoiceItem. */
const PartialChoiceSchema = z
  .object({
    context_options: stringList(z.string({ error: mustBe('a string') })),
    continuation: z.string({ error: mustBe('a non-empty string') }).min(1, { error: mustBe('a non-empty string') }),
    gold: z.unknown(),
  })
  .transform(({ context_options: contexts, continuation, gold }, ctx): BenchmarkItem =>
    isChoiceIndex(gold, contexts.length) ? { contexts, continuation, gold } : badGold(ctx, gold, contexts.length),
  );

function parseBenchmarkItem(file: string, r: Located): BenchmarkItem {
  const obj = objectOf(file, r);
  const schema = 'context_options' in obj ? PartialChoiceSchema : 'query' in obj && 'choices' in obj ? MultipleChoiceSchema : undefined;
  if (schema === undefined) {
    throw new ModelFileError(
      file,
      `${r.where}: not a benchmark item (fields: ${Object.keys(obj).join(', ') || 'none'}); expected {query, choices, gold} or {context_options, continuation, gold}`,
    );
  }
  return parseOr(schema, obj, failAt(file, r.where));
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
