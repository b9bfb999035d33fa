import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The temp files writeFileAtomic leaves when its process is killed between creating and
 * renaming one: `.<name>.<pid>.<12 hex>.tmp`. Ones whose writer is still alive are kept.
 */
const ATOMIC_TEMP = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes stale atomic-write temp files directly in `dir`; returns their names. */
export function clearStaleTempFiles(dir: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const m = ATOMIC_TEMP.exec(entry);
    if (!m || alive(Number(m[1]))) continue;
    rmSync(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}
