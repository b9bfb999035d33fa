/**
 * Error locations and hand-written field checks for contrastive data, shared by the encoder, the
 * in-memory loaders and the file readers so every problem is reported the same way.
 *
 * Problems are reported, never crashed on: in-memory loaders throw InvalidInputError naming the
 * item (0-based array index), file readers throw ModelFileError naming the file and the line (JSONL,
 * text lists; 1-based) or the item (JSON arrays; 0-based index).
 */
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import type { Located } from '../io/json-records.js';
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

export function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40) ?? String(v)}`;
}

export function record(ctx: Context, item: Located<unknown>): Record<string, unknown> {
  const v = item.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(ctx, item.where, `expected an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

export function stringField(ctx: Context, where: string, obj: Record<string, unknown>, key: string, opts: { allowEmpty?: boolean } = {}): string {
  if (!(key in obj)) fail(ctx, where, `missing field "${key}"`);
  const v = obj[key];
  if (typeof v !== 'string') fail(ctx, where, `field "${key}" must be a string, got ${describe(v)}`);
  if (!opts.allowEmpty && v.trim() === '') fail(ctx, where, `field "${key}" is empty`);
  return v;
}

/** The error context for a loader: `opts.source`, else the file, else the loader's name. */
export function context(opts: DatasetOptions, fallback: string, file?: string): Context {
  if (opts.source !== undefined && typeof opts.source !== 'string') throw new InvalidInputError('source must be a string');
  return { source: opts.source ?? file ?? fallback, ...(file !== undefined ? { file } : {}) };
}
