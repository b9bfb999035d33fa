/**
 * Loader fuzzing: mutates small valid model, steering-vector and SAE files and loads each one
 * in a worker process with a per-file timeout and a memory cap. Every file must end in a typed
 * one-line error (a SteererError) or load cleanly (a model then runs one forward pass whose
 * logits must all be finite; vectors and SAEs must hold finite values). Not part of the test run.
 *
 *   npx tsx bench/fuzz-loaders.ts [--count 10000] [--seed 1] [--timeout 10000] [--mem-mb 1024]
 *                                 [--workers N] [--kinds hf,gguf,llama2c,vector,sae] [--replay I] [--self-test]
 *
 * Outcomes: typed error, success, untyped error (any other error, or a multi-line message),
 * crash (the worker died without reporting), hang (no result within the timeout), memory blow-up
 * (worker RSS above the cap, or V8 out of memory), NaN success (loaded, but non-finite logits or
 * values). Case i of seed S is always the same file: `--replay i --seed S` writes it out and loads
 * it in this process with the full stack of any error.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildInit, Sabotage } from './lib/fuzz/child.js';
import { parseGguf, writeGgufBytes } from './lib/fuzz/formats.js';
import { makeCase, type LoadedSeed } from './lib/fuzz/mutate.js';
import { BAD, OUTCOMES, runCase, writeCase, type CaseResult, type Outcome } from './lib/fuzz/run-case.js';
import { buildSeeds, FILE_KINDS, type FileKind } from './lib/fuzz/seeds.js';
import { RESULTS_DIR } from './lib/paths.js';
import { formatTable } from './lib/table.js';

interface Args {
  count: number;
  seed: number;
  timeoutMs: number;
  memMb: number;
  workers: number;
  kinds?: FileKind[];
  replay?: number;
  selfTest: boolean;
  out: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { count: 10_000, seed: 1, timeoutMs: 10_000, memMb: 512, workers: cpus().length, selfTest: false, out: join(RESULTS_DIR, 'fuzz-loaders.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = Number(next());
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--count') args.count = int();
    else if (a === '--seed') args.seed = int();
    else if (a === '--timeout') args.timeoutMs = int();
    else if (a === '--mem-mb') args.memMb = int();
    else if (a === '--workers') args.workers = Math.max(1, int());
    else if (a === '--replay') args.replay = int();
    else if (a === '--self-test') args.selfTest = true;
    else if (a === '--out') args.out = next();
    else if (a === '--kinds') {
      const kinds = next().split(',') as FileKind[];
      for (const k of kinds) if (!FILE_KINDS.includes(k)) throw new Error(`unknown kind ${k} (kinds: ${FILE_KINDS.join(', ')})`);
      args.kinds = kinds;
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

interface Record_ {
  index: number;
  kind: FileKind;
  seed: string;
  op: string;
  desc: string;
  result: CaseResult;
}

const CHILD = fileURLToPath(new URL('./lib/fuzz/child.ts', import.meta.url));
/** tsx as the worker's loader, resolved from here (bench/ has no node_modules of its own). */
const TSX = import.meta.resolve('tsx');

/** A worker's stderr ends with this when V8 ran out of heap. */
const OOM_RE = /heap out of memory|Reached heap limit|Allocation failed|std::bad_alloc|Cannot allocate memory|out of memory/i;

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function replay(args: Args, seedsDir: string): Promise<void> {
  const seeds = loadSeedsFrom(seedsDir);
  const c = makeCase(seeds, args.seed, args.replay!, args.kinds);
  // Kept after the run (outside the run's temp folder), for a closer look.
  const dir = join(tmpdir(), 'steerer-fuzz-replay', `seed-${args.seed}-case-${args.replay}`);
  writeCase(dir, c.files);
  console.log(`case ${c.index}: ${c.kind} seed ${c.seed}, ${c.op}: ${c.desc}\nfiles in ${dir}`);
  const r = await runCase(c.kind, join(dir, c.target), dir);
  console.log(JSON.stringify(r, null, 2));
}

function loadSeedsFrom(seedsDir: string): LoadedSeed[] {
  const infos = JSON.parse(readFileSync(join(seedsDir, 'manifest.json'), 'utf8')) as ReturnType<typeof buildSeeds>;
  return infos.map((info) => ({ info, files: new Map(Object.entries(info.files).map(([rel, p]) => [rel, readFileSync(p)])) }));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), 'steerer-fuzz-'));
  // Quantized GGUF cases pack their weights: into this run's own cache (children inherit it), removed with it.
  process.env.STEERER_CACHE_DIR = join(tmp, 'cache');
  const seedsDir = join(tmp, 'seeds');
  const seedInfos = buildSeeds(seedsDir);
  writeFileSync(join(seedsDir, 'manifest.json'), JSON.stringify(seedInfos, null, 2));
  try {
    if (args.replay !== undefined) return await replay(args, seedsDir);
    if (args.selfTest) return await selfTest(args, tmp, seedsDir);
    const r = await run(args, tmp, seedsDir);
    report(args, r.records, r.counts, r.seconds, r.restarts, r.peakRssMb);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function checkSeeds(seeds: readonly LoadedSeed[], tmp: string): Promise<void> {
  for (const s of seeds) {
    const dir = join(tmp, 'seedcheck', s.info.name);
    writeCase(dir, s.files);
    const r = await runCase(s.info.kind, join(dir, s.info.target), dir);
    if (r.outcome !== 'success') throw new Error(`seed ${s.info.name} does not load cleanly: ${JSON.stringify(r)}`);
    if (s.info.kind === 'gguf' || s.info.target.endsWith('.gguf')) {
      const bytes = [...s.files.values()][0];
      if (!writeGgufBytes(parseGguf(bytes)).bytes.equals(bytes)) throw new Error(`seed ${s.info.name}: the fuzzer's GGUF writer does not reproduce it`);
    }
  }
}

/**
 * Checks the harness itself: workers that abort, spin, touch 4 GB of buffers or exhaust the V8
 * heap must be reported as crash, hang, blow-up and blow-up, each attributed to its case.
 */
async function selfTest(args: Args, tmp: string, seedsDir: string): Promise<void> {
  const expected: [Sabotage, Outcome][] = [['crash', 'crash'], ['hang', 'hang'], ['rss', 'blowup'], ['heap', 'blowup']];
  let ok = true;
  for (const [how, want] of expected) {
    const r = await run({ ...args, count: 2, timeoutMs: how === 'hang' ? 3000 : args.timeoutMs }, tmp, seedsDir, how);
    const got = r.records.map((x) => x.result.outcome);
    const pass = got.length === 2 && got.every((o) => o === want) && new Set(r.records.map((x) => x.index)).size === 2;
    ok &&= pass;
    console.log(`self-test ${how.padEnd(5)} -> ${got.join(', ')} (expected ${want}): ${pass ? 'ok' : 'WRONG'}`);
  }
  console.log(ok ? 'self-test PASS' : 'self-test FAIL');
  process.exitCode = ok ? 0 : 1;
}

interface RunResult {
  records: Record_[];
  counts: Map<string, Map<Outcome, number>>;
  seconds: number;
  restarts: number;
  peakRssMb: number;
}

async function run(args: Args, tmp: string, seedsDir: string, sabotage?: Sabotage): Promise<RunResult> {
  const seeds = loadSeedsFrom(seedsDir);
  if (!sabotage) await checkSeeds(seeds, tmp);
  const manifest = join(seedsDir, 'manifest.json');
  const started = Date.now();
  const records: Record_[] = [];
  let next = 0;
  let done = 0;
  let restarts = 0;
  let peakRssMb = 0;
  const counts = new Map<string, Map<Outcome, number>>();
  const bump = (key: string, o: Outcome): void => {
    const m = counts.get(key) ?? new Map<Outcome, number>();
    m.set(o, (m.get(o) ?? 0) + 1);
    counts.set(key, m);
  };
  const total = (o: Outcome): number => counts.get('total')?.get(o) ?? 0;
  const record = (r: Record_): void => {
    records.push(r);
    bump(r.kind, r.result.outcome);
    bump('total', r.result.outcome);
    bump(`op:${r.op}`, r.result.outcome);
    done++;
    if (BAD.has(r.result.outcome)) {
      console.log(`  BAD ${r.result.outcome} case ${r.index} (${r.kind}/${r.seed}, ${r.op}: ${r.desc}): ${r.result.error ?? ''} ${r.result.message ?? ''}`);
    }
  };
  /** What the parent learns about a case only from the worker's fate (crash, hang, blow-up). */
  const lost = (index: number, outcome: Outcome, message: string): void => {
    const c = makeCase(seeds, args.seed, index, args.kinds);
    record({ index, kind: c.kind, seed: c.seed, op: c.op, desc: c.desc, result: { outcome, message } });
  };

  const progressEvery = Math.max(1, Math.round(args.count / 40));
  let lastPrint = Date.now();
  const progress = (force = false): void => {
    if (!force && done % progressEvery !== 0 && Date.now() - lastPrint < 15_000) return;
    lastPrint = Date.now();
    const s = (Date.now() - started) / 1000;
    const line = OUTCOMES.map((o) => `${o} ${total(o)}`).join(', ');
    console.log(`[${String(done).padStart(String(args.count).length)}/${args.count}] ${s.toFixed(0)}s ${(done / s).toFixed(1)} files/s | ${line}`);
  };

  await new Promise<void>((resolveAll) => {
    let active = 0;
    const startWorker = (slot: number): void => {
      const workDir = join(tmp, `w${slot}-${restarts}`);
      mkdirSync(workDir, { recursive: true });
      const init: ChildInit = { seedsManifest: manifest, workDir, runSeed: args.seed, kinds: args.kinds, sabotage };
      const child: ChildProcess = fork(CHILD, [JSON.stringify(init)], {
        execArgv: ['--import', TSX, `--max-old-space-size=${args.memMb}`],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      active++;
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString('utf8')).slice(-4000);
      });
      let current: number | undefined;
      let fate: { outcome: Outcome; message: string } | undefined;
      let timer: NodeJS.Timeout | undefined;
      let handled = 0;
      const poll = setInterval(() => {
        if (current === undefined || !child.pid) return;
        const mb = rssMb(child.pid);
        if (mb > args.memMb) {
          fate = { outcome: 'blowup', message: `worker RSS ${mb.toFixed(0)} MB > ${args.memMb} MB cap` };
          child.kill('SIGKILL');
        }
      }, 50);
      const give = (): void => {
        if (next >= args.count) {
          current = undefined;
          child.disconnect();
          return;
        }
        current = next++;
        handled++;
        timer = setTimeout(() => {
          fate = { outcome: 'hang', message: `no result within ${args.timeoutMs} ms` };
          child.kill('SIGKILL');
        }, args.timeoutMs);
        child.send({ index: current });
      };
      child.on('message', (msg: { ready?: boolean; maxRssKb: number; index?: number } & Partial<Record_>) => {
        peakRssMb = Math.max(peakRssMb, msg.maxRssKb / 1024);
        if (msg.ready) return give();
        clearTimeout(timer);
        const r = msg as Record_ & { maxRssKb: number };
        current = undefined;
        if (msg.maxRssKb / 1024 > args.memMb) {
          // The high-water mark crossed the cap during this case: a blow-up, and a fresh worker.
          record({ ...r, result: { outcome: 'blowup', message: `peak RSS ${(msg.maxRssKb / 1024).toFixed(0)} MB > ${args.memMb} MB cap (${r.result.outcome}: ${r.result.message ?? ''})` } });
          progress();
          child.kill('SIGKILL');
          return;
        }
        record(r);
        progress();
        // Recycle workers now and then: ORT sessions and V8 leave some memory behind.
        if (handled >= 1500) {
          child.kill('SIGKILL');
          return;
        }
        give();
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        clearInterval(poll);
        active--;
        if (current !== undefined) {
          const oom = OOM_RE.test(stderr);
          const outcome: Outcome = fate?.outcome ?? (oom ? 'blowup' : 'crash');
          const tail = stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
          lost(current, outcome, fate?.message ?? `worker exited with ${signal ?? `code ${code}`}: ${tail}`);
          progress();
        }
        rmSync(workDir, { recursive: true, force: true });
        if (next < args.count) {
          restarts++;
          startWorker(slot);
        } else if (active === 0) resolveAll();
      });
    };
    for (let w = 0; w < Math.min(args.workers, args.count); w++) startWorker(w);
    if (args.count === 0) resolveAll();
  });
  progress(true);
  return { records, counts, seconds: (Date.now() - started) / 1000, restarts, peakRssMb };
}

function report(args: Args, records: readonly Record_[], counts: Map<string, Map<Outcome, number>>, seconds: number, restarts: number, peakRssMb: number): void {
  const labels: Record<Outcome, string> = {
    typed: 'typed error', success: 'success', untyped: 'untyped error', crash: 'crash', hang: 'hang', blowup: 'memory blow-up', nan: 'NaN success',
  };
  const row = (name: string): string[] => {
    const m = counts.get(name) ?? new Map<Outcome, number>();
    const n = [...m.values()].reduce((a, b) => a + b, 0);
    return [name, String(n), ...OUTCOMES.map((o) => String(m.get(o) ?? 0))];
  };
  const header = ['file kind', 'files', ...OUTCOMES.map((o) => labels[o])];
  const kinds = FILE_KINDS.filter((k) => counts.has(k));
  const table = formatTable(header, [...kinds.map(row), row('total')]);
  const bad = records.filter((r) => BAD.has(r.result.outcome));
  const unnamed = records.filter((r) => r.result.unnamed);
  console.log(`\nLoader fuzzing: ${records.length} files, seed ${args.seed}, ${args.workers} workers, timeout ${args.timeoutMs} ms, memory cap ${args.memMb} MB, ${seconds.toFixed(0)} s`);
  console.log(table);
  console.log(`\n${bad.length === 0 ? 'PASS' : 'FAIL'}: ${bad.length} bad outcomes (untyped, crash, hang, blow-up, NaN success)`);
  if (unnamed.length > 0) console.log(`note: ${unnamed.length} typed errors do not mention the file (e.g. ${unnamed[0].result.message})`);

  const byOp = [...counts.keys()].filter((k) => k.startsWith('op:')).sort().map((k) => {
    const m = counts.get(k)!;
    return { op: k.slice(3), ...Object.fromEntries(OUTCOMES.map((o) => [o, m.get(o) ?? 0])) };
  });
  const byKind = Object.fromEntries([...kinds, 'total'].map((k) => [k, Object.fromEntries(OUTCOMES.map((o) => [o, counts.get(k)?.get(o) ?? 0]))]));
  const errorSamples = new Map<string, string>();
  for (const r of records) {
    if (r.result.outcome !== 'typed' || !r.result.message) continue;
    const text = r.result.message.replace(/\S*\/case\//g, '');
    const shape = text.replace(/\d+/g, 'N').slice(0, 90);
    if (!errorSamples.has(shape)) errorSamples.set(shape, text);
  }
  const summary = {
    date: new Date().toISOString(),
    args: { count: args.count, seed: args.seed, timeoutMs: args.timeoutMs, memMb: args.memMb, workers: args.workers, kinds: args.kinds ?? FILE_KINDS },
    seconds: Math.round(seconds),
    workerRestarts: restarts,
    peakWorkerRssMb: Math.round(peakRssMb),
    counts: byKind,
    byOperator: byOp,
    bad: bad.map((r) => ({ index: r.index, kind: r.kind, seed: r.seed, op: r.op, desc: r.desc, ...r.result })),
    typedWithoutFile: unnamed.length,
    distinctTypedErrors: errorSamples.size,
    typedErrorSamples: [...errorSamples.values()].slice(0, 60),
    table,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`summary written to ${args.out}`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
