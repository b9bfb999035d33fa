import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, type ServerOptions, type SteererServer } from '../../src/server/app.js';
import { sharedPath } from '../../src/util/shared-path.js';

export const TINY = sharedPath('models', 'tinystories-656k');

export interface RunningServer {
  readonly url: string;
  readonly server: SteererServer;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** A Steerer server on a free loopback port with a fresh data directory (removed on close). */
export async function startServer(opts: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-server-'));
  const server = await createServer({ modelPath: TINY, threads: 1, ...opts, dataDir });
  const url = await server.listen(0, '127.0.0.1');
  return {
    url,
    server,
    dataDir,
    async close() {
      await server.close();
      if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON; returns status and parsed body (text when not JSON). */
/** The caller names the shape it expects (T); nothing checks it, so tests assert on fields. */
export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json: json as T };
}

export async function getJson<T = Record<string, unknown>>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await fetch(url, { headers });
  return { status: res.status, json: (await res.json()) as T };
}

/** Polls a job until it ends (bounded). */
export interface JobJson {
  readonly id: string;
  readonly status: string;
  readonly progress: { stage: string; done: number; total: number; fraction: number };
  readonly result?: Record<string, unknown>;
  readonly error?: string;
}

export async function waitForJob(base: string, id: string, timeoutMs = 120_000): Promise<JobJson> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await getJson<JobJson>(`${base}/v1/jobs/${id}`);
    if (json.status === 'succeeded' || json.status === 'failed') return json;
    if (Date.now() > end) throw new Error(`job ${id} still ${json.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
