/**
 * Error locations and field schemas for contrastive data, shared by the encoder, the in-memory
 * loaders and the file readers so every problem is reported the same way.
 *
 * Problems are reported, never crashed on: in-memory loaders throw InvalidInputError naming the
 * item (0-based array index), file readers throw ModelFileError naming the file and the line (JSONL,
 * text lists; 1-based) or the item (JSON arrays; 0-based index).
 */
import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import type { Located } from '../io/json-records.js';
import { describeValue, mustBe, parseOr } from '../util/schemas.js';
import type { DatasetOptions } from './contrast-dataset.js';

/** Where the data came from: the label for messages, and the file (when read from one). */
export interface Context {
  readonly file?: string;
  readonly source: string;
}

export function fail(ctx: Context, where: string, problem: string): never {
  if (ctx.file !== undefined) throw new ModelFileError(ctx.file, `${where}: ${problem}`);
  throw new InvalidInputError(`${ctx.source}: ${where}: ${problem}`);
}

export function located<T>(items: readonly T[], label = 'item'): Located<T>[] {
  if (!Array.isArray(items)) throw new InvalidInputError(`expected an array, got ${describe(items)}`);
  return items.map((value, i) => ({ value, where: `${label} ${i}` }));
}

export const describe = describeValue;

const ItemSchema = z.looseObject({}, { error: (issue) => `expected an object, got ${describe(issue.input)}` });
const TextField = z.string({ error: mustBe('a string') });
const NonEmptyTextField = TextField.refine((s) => s.trim() !== '', 'is empty');
const SourceSchema = z.string({ error: mustBe('a string') }).optional();

export function record(ctx: Context, item: Located<unknown>): Record<string, unknown> {
  return parseOr(ItemSchema, item.value, (problem) => fail(ctx, item.where, problem));
}

/** A string field of an item: `"key" is missing`, `"key" must be a string, got …`, `"key" is empty` (unless allowEmpty). */
export function stringField(ctx: Context, where: string, obj: Record<string, unknown>, key: string, opts: { allowEmpty?: boolean } = {}): string {
  return parseOr(opts.allowEmpty ? TextField : NonEmptyTextField, obj[key], (problem) => fail(ctx, where, problem), [key]);
}

/** The error context for a loader: `opts.source`, else the file, else the loader's name. */
export function context(opts: DatasetOptions, fallback: string, file?: string): Context {
  const source = parseOr(SourceSchema, opts.source, (problem) => {
    throw new InvalidInputError(`options: ${problem}`);
  }, ['source']);
  return { source: source ?? file ?? fallback, ...(file !== undefined ? { file } : {}) };
}
