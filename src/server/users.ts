import fs from 'node:fs';
import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';

/**
 * The users of `steerer serve --users FILE`: a JSON list of `{"name", "token"}`. Each user has a
 * vector library of their own (DATA_DIR/users/NAME/vectors) beside the shared one. Messages about
 * the file name entries by position and field, never by a token's value: a token is a secret and
 * is not logged, echoed or repeated in an error.
 */

export interface ServerUser {
  /** Letters, digits, `_` and `-`: it names a folder. */
  readonly name: string;
  readonly token: string;
}

const MAX_USERS = 1000;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const MIN_TOKEN_CHARS = 16;

const UserSchema = z
  .object({
    name: z.string().regex(USER_NAME, 'must be 1-32 letters, digits, "_" or "-", starting with a letter or digit'),
    // Printable ASCII without spaces: what fits in an Authorization header as sent.
    token: z.string().min(MIN_TOKEN_CHARS, `must be at least ${MIN_TOKEN_CHARS} characters`).max(512, 'must be at most 512 characters').regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  })
  .strict();

const UsersSchema = z.array(UserSchema).min(1, 'lists no users').max(MAX_USERS, `lists more than ${MAX_USERS} users`);

/** Checks a parsed users list; `source` names it in errors. */
export function parseUsers(json: unknown, source: string, opts: { operatorToken?: string } = {}): ServerUser[] {
  const parsed = UsersSchema.safeParse(json);
  if (!parsed.success) {
    // Built from the issue's path and message only: zod's messages here never quote the input.
    const issue = parsed.error.issues[0];
    const where = issue.path.length === 0 ? '' : ` entry ${String(issue.path[0])}${issue.path.length > 1 ? ` "${String(issue.path[1])}"` : ''}`;
    throw new InvalidInputError(`${source}:${where} ${issue.code === 'unrecognized_keys' ? 'has keys other than "name" and "token"' : issue.message}`);
  }
  const users = parsed.data;
  const names = new Map<string, number>();
  const tokens = new Map<string, number>();
  users.forEach((u, i) => {
    // Folder names: two spellings of one name would share a folder on a case-insensitive disk.
    const key = u.name.toLowerCase();
    if (names.has(key)) throw new InvalidInputError(`${source}: entries ${names.get(key)} and ${i} have the same name "${u.name}"`);
    if (tokens.has(u.token)) throw new InvalidInputError(`${source}: entries ${tokens.get(u.token)} and ${i} have the same token`);
    if (opts.operatorToken !== undefined && u.token === opts.operatorToken) throw new InvalidInputError(`${source}: entry ${i} has the operator's --token as its token`);
    names.set(key, i);
    tokens.set(u.token, i);
  });
  return users;
}

/** Reads and checks a users file. */
export function readUsersFile(file: string, opts: { operatorToken?: string } = {}): ServerUser[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidInputError(`--users ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text around the error, which may be a token.
    throw new InvalidInputError(`--users ${file}: not valid JSON (expected [{"name": ..., "token": ...}, ...])`);
  }
  return parseUsers(json, `--users ${file}`, opts);
}
