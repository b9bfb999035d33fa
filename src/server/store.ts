import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';

/**
 * The server's durable state in one SQLite file (WAL, synchronous=FULL): vector registry
 * metadata, background jobs, chats and ratings. Tensors live in files beside it; rows only
 * point at them. better-sqlite3 is synchronous, so a statement has committed when the call
 * returns: a rating acknowledged to a client is on disk, whatever happens to the process next.
 */

export interface JobRow {
  readonly id: string;
  readonly kind: string;
  readonly status: JobStatus;
  readonly progress: JobProgress;
  readonly request: unknown;
  readonly result?: unknown;
  readonly error?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
  /** 0..1 over the whole job. */
  readonly fraction: number;
}

interface ChatRow {
  readonly id: string;
  readonly title: string;
  readonly messages: unknown;
  readonly settings: unknown;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface RatingRow {
  readonly id: string;
  readonly createdAt: string;
  readonly body: Record<string, unknown>;
  readonly judge?: unknown;
}

interface VectorRow {
  /** '' for the shared library, else the user (`steerer serve --users`) whose vector it is. */
  readonly owner: string;
  readonly name: string;
  readonly file: string;
  readonly info: Record<string, unknown>;
  readonly createdAt: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vectors (owner TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, file TEXT NOT NULL, info TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (owner, name));
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, progress TEXT NOT NULL,
  request TEXT NOT NULL, result TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS chats (id TEXT PRIMARY KEY, title TEXT NOT NULL, messages TEXT NOT NULL, settings TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, created_at TEXT NOT NULL,
  body TEXT NOT NULL, judge TEXT);
`;

type Row = Record<string, string | null>;
const now = (): string => new Date().toISOString();
const parse = (s: string | null): unknown => (s === null ? undefined : JSON.parse(s));

export class Store {
  private readonly db: Database.Database;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    addOwnerColumns(this.db);
    // A job that was queued or running when the process died will never finish.
    this.db
      .prepare(`UPDATE jobs SET status = 'failed', error = 'interrupted: the server stopped before the job finished', updated_at = ? WHERE status IN ('queued', 'running')`)
      .run(now());
  }

  close(): void {
    this.db.close();
  }

  // --- vectors -------------------------------------------------------------------------------

  // `owner` '' is the shared library; a user's vectors have the user's name.

  listVectors(owner = ''): VectorRow[] {
    return (this.db.prepare('SELECT * FROM vectors WHERE owner = ? ORDER BY name').all(owner) as Row[]).map(vectorRow);
  }

  getVector(name: string, owner = ''): VectorRow | undefined {
    const r = this.db.prepare('SELECT * FROM vectors WHERE owner = ? AND name = ?').get(owner, name) as Row | undefined;
    return r && vectorRow(r);
  }

  putVector(name: string, file: string, info: Record<string, unknown>, owner = ''): void {
    this.db
      .prepare('INSERT INTO vectors (owner, name, file, info, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(owner, name) DO UPDATE SET file = excluded.file, info = excluded.info, created_at = excluded.created_at')
      .run(owner, name, file, JSON.stringify(info), now());
  }

  deleteVector(name: string, owner = ''): boolean {
    return this.db.prepare('DELETE FROM vectors WHERE owner = ? AND name = ?').run(owner, name).changes > 0;
  }

  // --- jobs ----------------------------------------------------------------------------------

  /** `owner`: the user whose job it is ('' for everyone's, e.g. judging). */
  createJob(kind: string, request: unknown, owner = ''): JobRow {
    const id = `job_${randomUUID()}`;
    const t = now();
    const progress: JobProgress = { stage: 'queued', done: 0, total: 0, fraction: 0 };
    this.db
      .prepare('INSERT INTO jobs (id, kind, status, progress, request, created_at, updated_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, kind, 'queued', JSON.stringify(progress), JSON.stringify(request), t, t, owner);
    return this.getJob(id)!;
  }

  updateJob(id: string, patch: { status?: JobStatus; progress?: JobProgress; result?: unknown; error?: string }): void {
    const sets: string[] = ['updated_at = @updated'];
    const params: Record<string, string> = { id, updated: now() };
    if (patch.status) (sets.push('status = @status'), (params.status = patch.status));
    if (patch.progress) (sets.push('progress = @progress'), (params.progress = JSON.stringify(patch.progress)));
    if (patch.result !== undefined) (sets.push('result = @result'), (params.result = JSON.stringify(patch.result)));
    if (patch.error !== undefined) (sets.push('error = @error'), (params.error = patch.error));
    this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = @id`).run(params);
  }

  /** With `visibleTo` (a user), only that user's jobs and everyone's. */
  getJob(id: string, visibleTo?: string): JobRow | undefined {
    const r = (visibleTo === undefined
      ? this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id)
      : this.db.prepare("SELECT * FROM jobs WHERE id = ? AND owner IN ('', ?)").get(id, visibleTo)) as Row | undefined;
    return r && jobRow(r);
  }

  listJobs(limit = 100, visibleTo?: string): JobRow[] {
    const rows = visibleTo === undefined
      ? this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?').all(limit)
      : this.db.prepare("SELECT * FROM jobs WHERE owner IN ('', ?) ORDER BY created_at DESC LIMIT ?").all(visibleTo, limit);
    return (rows as Row[]).map(jobRow);
  }

  // --- chats ---------------------------------------------------------------------------------

  createChat(title: string, messages: unknown, settings: unknown): ChatRow {
    const id = `chat_${randomUUID()}`;
    const t = now();
    this.db.prepare('INSERT INTO chats (id, title, messages, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, title, JSON.stringify(messages), JSON.stringify(settings), t, t);
    return this.getChat(id)!;
  }

  updateChat(id: string, title: string, messages: unknown, settings: unknown): ChatRow | undefined {
    const changed = this.db.prepare('UPDATE chats SET title = ?, messages = ?, settings = ?, updated_at = ? WHERE id = ?').run(title, JSON.stringify(messages), JSON.stringify(settings), now(), id).changes;
    return changed ? this.getChat(id) : undefined;
  }

  getChat(id: string): ChatRow | undefined {
    const r = this.db.prepare('SELECT * FROM chats WHERE id = ?').get(id) as Row | undefined;
    return r && chatRow(r);
  }

  listChats(limit = 200): ChatRow[] {
    return (this.db.prepare('SELECT * FROM chats ORDER BY updated_at DESC LIMIT ?').all(limit) as Row[]).map(chatRow);
  }

  // --- ratings -------------------------------------------------------------------------------

  /** Inserts a rating; when this returns, the row has been committed to disk. */
  addRating(body: Record<string, unknown>): RatingRow {
    const id = `rating_${randomUUID()}`;
    const createdAt = now();
    this.db.prepare('INSERT INTO ratings (id, created_at, body) VALUES (?, ?, ?)').run(id, createdAt, JSON.stringify(body));
    return { id, createdAt, body };
  }

  listRatings(): RatingRow[] {
    return (this.db.prepare('SELECT * FROM ratings ORDER BY seq').all() as Row[]).map(ratingRow);
  }

  setJudgement(id: string, judge: unknown): void {
    this.db.prepare('UPDATE ratings SET judge = ? WHERE id = ?').run(JSON.stringify(judge), id);
  }
}

/** Databases from before `--users`: vectors keyed by (owner, name), jobs with an owner; every old row is shared. */
function addOwnerColumns(db: Database.Database): void {
  const columns = (table: string): string[] => (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  if (!columns('jobs').includes('owner')) db.exec("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
  if (columns('vectors').includes('owner')) return;
  db.transaction(() => {
    db.exec(`CREATE TABLE vectors_owned (owner TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, file TEXT NOT NULL, info TEXT NOT NULL,
      created_at TEXT NOT NULL, PRIMARY KEY (owner, name));
      INSERT INTO vectors_owned (owner, name, file, info, created_at) SELECT '', name, file, info, created_at FROM vectors;
      DROP TABLE vectors;
      ALTER TABLE vectors_owned RENAME TO vectors;`);
  })();
}

function vectorRow(r: Row): VectorRow {
  return { owner: r.owner ?? '', name: r.name!, file: r.file!, info: parse(r.info) as Record<string, unknown>, createdAt: r.created_at! };
}

function jobRow(r: Row): JobRow {
  return {
    id: r.id!,
    kind: r.kind!,
    status: r.status as JobStatus,
    progress: parse(r.progress) as JobProgress,
    request: parse(r.request),
    ...(r.result !== null ? { result: parse(r.result) } : {}),
    ...(r.error !== null ? { error: r.error! } : {}),
    createdAt: r.created_at!,
    updatedAt: r.updated_at!,
  };
}

function chatRow(r: Row): ChatRow {
  return { id: r.id!, title: r.title!, messages: parse(r.messages), settings: parse(r.settings), createdAt: r.created_at!, updatedAt: r.updated_at! };
}

function ratingRow(r: Row): RatingRow {
  return { id: r.id!, createdAt: r.created_at!, body: parse(r.body) as Record<string, unknown>, ...(r.judge !== null ? { judge: parse(r.judge) } : {}) };
}
