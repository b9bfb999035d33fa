import { readFileSync } from 'node:fs';

function statusKb(field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size of this process in bytes (VmHWM; getrusage maxrss where /proc is missing). */
export function peakRssBytes(): number {
  return (statusKb('VmHWM') ?? process.resourceUsage().maxRSS) * 1024;
}

/** Current resident set size in bytes. */
export function currentRssBytes(): number {
  const kb = statusKb('VmRSS');
  return kb !== undefined ? kb * 1024 : process.memoryUsage().rss;
}

export const MiB = 1024 * 1024;
