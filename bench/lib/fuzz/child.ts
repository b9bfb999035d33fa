/**
 * A fuzz worker: reads the seeds once, then for each case index the parent sends, makes the
 * case's files (deterministically, from the run seed and the index), loads them and reports
 * the outcome with its peak RSS. The parent kills it on a hang or a memory blow-up and starts
 * another; a crash is its exit without a report.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCase, type LoadedSeed } from './mutate.js';
import { runCase } from './run-case.js';
import type { FileKind, SeedInfo } from './seeds.js';
import { writeCase } from './run-case.js';

export interface ChildInit {
  readonly seedsManifest: string;
  readonly workDir: string;
  readonly runSeed: number;
  readonly kinds?: readonly FileKind[];
  /** Harness self-test: misbehave this way instead of loading (see --self-test). */
  readonly sabotage?: Sabotage;
}

export type Sabotage = 'crash' | 'hang' | 'rss' | 'heap';

function misbehave(how: Sabotage): void {
  if (how === 'crash') process.abort();
  if (how === 'hang') for (;;) { /* spin */ }
  if (how === 'rss') {
    // Touch 4 GB of ArrayBuffer memory (outside the V8 heap limit).
    const blocks: Float64Array[] = [];
    for (let i = 0; i < 64; i++) blocks.push(new Float64Array(8 << 20).fill(i));
  }
  // Exhaust the V8 heap (--max-old-space-size) with JS objects, 800 kB at a time.
  const keep: unknown[] = [];
  for (;;) keep.push(new Array(100_000).fill(keep.length + 0.5));
}

export function loadSeeds(manifest: string): LoadedSeed[] {
  const infos = JSON.parse(readFileSync(manifest, 'utf8')) as SeedInfo[];
  return infos.map((info) => ({ info, files: new Map(Object.entries(info.files).map(([rel, p]) => [rel, readFileSync(p)])) }));
}

const init = JSON.parse(process.argv[2]) as ChildInit;
const seeds = loadSeeds(init.seedsManifest);
const send = (msg: unknown): void => {
  process.send!(msg);
};

process.on('message', (msg: { index: number }) => {
  void (async () => {
    if (init.sabotage) misbehave(init.sabotage);
    const c = makeCase(seeds, init.runSeed, msg.index, init.kinds);
    const dir = join(init.workDir, 'case');
    writeCase(dir, c.files);
    const result = await runCase(c.kind, join(dir, c.target), dir);
    send({ index: msg.index, kind: c.kind, seed: c.seed, op: c.op, desc: c.desc, result, maxRssKb: process.resourceUsage().maxRSS });
  })().catch((err: unknown) => {
    // Only the harness itself can fail here (runCase catches everything the loaders throw).
    process.stderr.write(`harness error on case ${msg.index}: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(70);
  });
});
send({ ready: true, maxRssKb: process.resourceUsage().maxRSS });
