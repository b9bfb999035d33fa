import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError, SteererError } from '../io/errors.js';

/**
 * A request the server refuses, with the status and OpenAI-style error body it answers with:
 * `{"error": {"message", "type", "code", "param"}}`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly code: string | null; readonly param: string | null };
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  499: 'cancelled',
  503: 'unavailable_error',
};

export function errorBody(status: number, message: string, code: string | null = null, param: string | null = null): ErrorBody {
  return { error: { message, type: TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'), code, param } };
}

/** Library errors that come from the request (bad spec, unknown layer, wrong size) are the client's: 400. */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof InvalidInputError || e instanceof ModelFileError) return new HttpError(400, e.message, 'invalid_input');
  if (e instanceof SteererError) return new HttpError(400, e.message, 'invalid_input');
  return new HttpError(500, 'internal error', 'internal_error');
}

/**
 * Rewrites absolute paths under the data directory as paths relative to it, so no error a
 * client sees tells where the server keeps its files.
 */
export function redactPaths(message: string, dataDir: string): string {
  const root = dataDir.replace(/[\\/]+$/, '');
  if (root.length === 0) return message;
  return message.split(`${root}/`).join('').split(`${root}\\`).join('').split(root).join('DATA_DIR');
}

/** Validates a body with zod; problems become one 400 naming each JSON path. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  if (body === undefined || body === null) throw new HttpError(400, `${what}: the request needs a JSON body`, 'invalid_body');
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0];
    const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`);
    throw new HttpError(400, `${what}: ${problems.join('; ')}`, 'invalid_body', first?.path.length ? first.path.join('.') : null);
  }
  return r.data;
}
