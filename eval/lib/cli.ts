/**
 * Runs the built `steerer` CLI (dist/cli/main.js) as a child process, the way a user would,
 * and a small pool to keep a few of those processes busy at once.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/shared-path.js';

export const CLI = path.join(packageRoot(), 'dist', 'cli', 'main.js');

export interface CliResult {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** `node dist/cli/main.js ...args` from the package root; never throws on a non-zero exit. */
export function runCli(args: readonly string[]): Promise<CliResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ args, code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), seconds: (performance.now() - t0) / 1000 }),
    );
  });
}

/** Shell-quoted command line, for the record. */
export function commandLine(args: readonly string[]): string {
  const q = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['steerer', ...args].map(q).join(' ');
}

/** Maps `items` through `fn` with at most `jobs` calls in flight; results keep the input order. */
export async function pool<T, R>(items: readonly T[], jobs: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  return results;
}

/** Source files under src/ newer than the built CLI (the suite would measure stale code). */
export function staleSources(): string[] {
  if (!fs.existsSync(CLI)) return ['dist/cli/main.js is missing'];
  const built = fs.statSync(CLI).mtimeMs;
  const root = path.join(packageRoot(), 'src');
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built) stale.push(path.relative(packageRoot(), p));
    }
  };
  walk(root);
  return stale;
}
