import { z } from 'zod/v4';

/** Integer schemas every file format and request body shares. */
export const nonNegativeInt = z.number().int().nonnegative();
export const positiveInt = z.number().int().positive();

/** A value as error messages show it: `null`, `an array`, `an object`, `number 3`, `string "abc"` (cut at 40 characters). */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${(typeof v === 'string' ? JSON.stringify(v) : String(v)).slice(0, 40)}`;
}

/**
 * The `error` option of a field schema: "is missing" when the field is absent, else
 * "must be WHAT, got VALUE". Messages are phrased to follow the field's name (see issueText).
 */
export function mustBe(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? 'is missing' : `must be ${what}, got ${describeValue(issue.input)}`);
}

/** A field as messages name it: `"gold"`, `"choices"[1]`, `"positive"."prompt"`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}"${String(p)}"`)).join('');
}

/**
 * The first problem of a failed parse as one line: the field's name, then the message
 * (`"gold" must be a choice index in 0..1, got 2`); a problem with the whole value is its
 * message alone. `path` is where the parsed value sits in a larger record, if anywhere.
 */
function issueText(error: z.ZodError, path: readonly PropertyKey[] = []): string {
  const issue = error.issues[0];
  const at = [...path, ...issue.path];
  return at.length > 0 ? `${fieldName(at)} ${issue.message}` : issue.message;
}

/**
 * Parses `value`; on failure hands issueText to `fail`, which throws the caller's error class
 * with the file and the record (util/ sits below io/errors.ts, so it cannot throw them itself).
 */
export function parseOr<S extends z.ZodType>(schema: S, value: unknown, fail: (problem: string) => never, path: readonly PropertyKey[] = []): z.output<S> {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : fail(issueText(parsed.error, path));
}
