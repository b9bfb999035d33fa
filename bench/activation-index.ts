/**
 * Activation index: build time, query latency, recall@10 and memory of Steerer's index (USearch
 * HNSW), hnswlib-node's HNSW, FAISS (IndexHNSWFlat and IndexFlatIP through Python, when
 * python3 + faiss-cpu are installed) and Steerer's exact ORT brute force, over 1,000,000 rows of
 * tinystories-656k's blocks.1.hook_resid_post (d = 128; bench/lib/index-data.ts).
 *
 * Metric: cosine over centred rows (the index's default). Queries: 200 held-out rows (drawn
 * from the store rows after the indexed ones), as points. Ground truth: exact ORT search.
 * Recall@10 counts a returned row as a hit when its exact cosine is at least the exact 10th
 * best minus 1e-5 (ann-benchmarks' rule): stories share openings, so many rows are exact
 * duplicates and the "true" ids of a tie are arbitrary.
 *
 * Every HNSW uses M = 16, efConstruction = 128, single-query searches on one thread, builds on
 * 2 threads where the library can (hnswlib-node adds one point at a time). Each engine builds
 * in one process and searches in a fresh one; memory is that process's resident set.
 *
 * Latency: single queries, timed on a second pass over the queries (warm); the first pass, straight
 * after opening the index in a fresh process, is reported too (USearch maps its file and reads
 * pages as searches touch them; hnswlib and FAISS read the whole file at open).
 *
 * Usage: npx tsx activation-index.ts [--rows 1000000] [--queries 200] [--skip hnswlib,faiss] [--reuse-builds]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, RESULTS_DIR } from './lib/paths.js';
import { ensureStore, HOOK, INDEX_DATA_DIR } from './lib/index-data.js';
import { MiB } from './lib/mem.js';
import { fmt, formatTable } from './lib/table.js';
import { createRng } from './lib/steerer.js';
import { exactSearch } from '../src/explore/exact-search.js';
import { meanRow, subtractRow } from '../src/explore/row-stats.js';
import { matrixRows, storeRows } from '../src/explore/row-source.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const ROWS = Number(flag('rows', '1000000'));
const NQ = Number(flag('queries', '200'));
const skip = new Set(flag('skip', '').split(',').filter(Boolean));
const D = 128;
const K = 10;
const EFS = [64, 128, 256];
const log = (m: string): void => console.error(`[index] ${m}`);

const store = await ensureStore(log);
if (store.rows <= ROWS) throw new Error(`the store has ${store.rows} rows: no held-out rows after the first ${ROWS}`);
const work = join(INDEX_DATA_DIR, `work-${ROWS}`);
mkdirSync(work, { recursive: true });

// Centred rows and queries, as every engine indexes them.
log(`reading ${ROWS} rows`);
const all = storeRows(store);
const source = storeRows(store, ROWS);
const mean = await meanRow(source, { threads: 2 });
const rows = new Float32Array(ROWS * D);
for await (const c of source.chunks(1 << 16)) rows.set(await subtractRow(c.data, mean, 2), c.start * D);
const rng = createRng(20261203);
const picked = Array.from({ length: NQ }, () => ROWS + Math.floor(rng.nextFloat() * (store.rows - ROWS)));
const queries = await subtractRow(all.readRows(picked), mean, 2);
writeFileSync(join(work, 'rows.f32'), rows);
writeFileSync(join(work, 'queries.f32'), queries);

log('exact ground truth (ORT, all queries at once)');
const truth = await exactSearch(matrixRows(rows, D), queries, { metric: 'cosine', k: K, threads: 2 });

function cosine(q: number, r: number): number {
  let d = 0;
  let nq = 0;
  let nr = 0;
  for (let j = 0; j < D; j++) {
    const a = queries[q * D + j];
    const b = rows[r * D + j];
    d += a * b;
    nq += a * a;
    nr += b * b;
  }
  return d / Math.sqrt(nq * nr);
}

/** ann-benchmarks recall: hits are returned rows at least as near as the exact 10th, within 1e-5. */
function recall(found: readonly number[]): number {
  let hits = 0;
  for (let q = 0; q < NQ; q++) {
    const threshold = truth.scores[q * K + K - 1] - 1e-5;
    const seen = new Set<number>();
    for (const r of found.slice(q * K, (q + 1) * K)) {
      if (r >= 0 && r < ROWS && !seen.has(r) && cosine(q, r) >= threshold) hits++;
      seen.add(r);
    }
  }
  return hits / (NQ * K);
}

interface Build { seconds: number; cpuSeconds?: number; load?: number[]; peakRss: number; before: number; indexRss?: number; fileBytes: number }
interface Search { ef: number; openSeconds: number; firstPass: number[]; latencies: number[]; rows: number[]; rss: number; before: number; peakRss: number; contextMs?: number[] }

function run(cmd: string, args: string[]): unknown {
  const r = spawnSync(cmd, args, { cwd: BENCH_DIR, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
const node = (...args: string[]): unknown => run(process.execPath, ['--import', 'tsx', 'activation-index-worker.ts', ...args]);
const python = (...args: string[]): unknown => run('python3', ['activation-index-faiss.py', ...args]);
const hasFaiss = !skip.has('faiss') && spawnSync('python3', ['-c', 'import faiss, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasFaiss) log('FAISS skipped: python3 with faiss-cpu and numpy not found (pip install faiss-cpu)');

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

interface Row { engine: string; ef?: number; buildS?: number; buildCpuS?: number; buildPeakMiB?: number; fileMiB?: number; openS: number; firstP50: number; p50: number; p95: number; recall: number; searchRssMiB: number; contextP50?: number }
const results: Row[] = [];
const builds: Record<string, Build> = {};
// --reuse-builds: search the indexes the last run built (its build figures are kept).
const reuse = process.argv.includes('--reuse-builds');
const previous = reuse ? (JSON.parse(readFileSync(join(RESULTS_DIR, 'activation-index.json'), 'utf8')) as { rows: number; builds: Record<string, Build> }) : undefined;
if (previous && previous.rows !== ROWS) throw new Error(`--reuse-builds: the last run indexed ${previous.rows} rows, not ${ROWS}`);
function build(engine: string, label: string, make: () => unknown): Build {
  const kept = previous?.builds[engine];
  if (kept) {
    log(`${label}: reusing the last build`);
    return kept;
  }
  log(`${label}: build`);
  return make() as Build;
}

function addSearches(engine: string, label: string, search: (ef: number) => Search, efs: readonly number[], b?: Build): void {
  for (const ef of efs) {
    log(`${label}: search ef=${ef}`);
    const s = search(ef);
    results.push({
      engine: label,
      ef: ef > 0 ? ef : undefined,
      buildS: b?.seconds,
      buildCpuS: b?.cpuSeconds,
      buildPeakMiB: b ? b.peakRss / MiB : undefined,
      fileMiB: b ? b.fileBytes / MiB : undefined,
      openS: s.openSeconds,
      firstP50: pct(s.firstPass, 50),
      p50: pct(s.latencies, 50),
      p95: pct(s.latencies, 95),
      recall: recall(s.rows),
      searchRssMiB: s.rss / MiB,
      contextP50: s.contextMs ? pct(s.contextMs, 50) : undefined,
    });
    console.error(`  p50 ${fmt(results.at(-1)!.p50)} ms, recall ${fmt(results.at(-1)!.recall)}`);
  }
  void engine;
}

builds.steerer = build('steerer', 'Steerer index (USearch)', () => node('build', 'steerer', work, String(ROWS)));
addSearches('steerer', 'steerer index (usearch)', (ef) => node('search', 'steerer', work, String(ROWS), String(ef)) as Search, EFS, builds.steerer);
if (!skip.has('hnswlib')) {
  builds.hnswlib = build('hnswlib', 'hnswlib-node (one point at a time, single thread)', () => node('build', 'hnswlib', work, String(ROWS)));
  addSearches('hnswlib', 'hnswlib-node', (ef) => node('search', 'hnswlib', work, String(ROWS), String(ef)) as Search, EFS, builds.hnswlib);
}
if (hasFaiss) {
  builds.faiss = build('faiss', 'FAISS IndexHNSWFlat', () => python('build', 'hnsw', work, String(ROWS)));
  addSearches('faiss', 'faiss IndexHNSWFlat (python)', (ef) => python('search', 'hnsw', work, String(ROWS), String(ef)) as Search, EFS, builds.faiss);
  addSearches('faiss-flat', 'faiss IndexFlatIP (python)', () => python('search', 'flat', work, String(ROWS), '0') as Search, [0]);
}
addSearches('brute', 'brute force (ORT MatMul+TopK)', () => node('search', 'brute', work, String(ROWS), '0') as Search, [0]);

const table = formatTable(
  ['engine', 'ef', 'build s', 'build CPU s', 'build peak MiB', 'files MiB', 'open s', 'first-pass p50 ms', 'p50 ms', 'p95 ms', 'recall@10', 'search RSS MiB'],
  results.map((r) => [
    r.engine,
    r.ef === undefined ? '—' : String(r.ef),
    r.buildS === undefined ? '—' : r.buildS.toFixed(1),
    r.buildCpuS === undefined ? '—' : r.buildCpuS.toFixed(0),
    r.buildPeakMiB === undefined ? '—' : r.buildPeakMiB.toFixed(0),
    r.fileMiB === undefined ? '—' : r.fileMiB.toFixed(0),
    r.openS.toFixed(2),
    fmt(r.firstP50),
    fmt(r.p50),
    fmt(r.p95),
    r.recall.toFixed(3),
    r.searchRssMiB.toFixed(0),
  ]),
);
const load = Object.fromEntries(Object.entries(builds).map(([k, b]) => [k, b.load?.map((x) => x.toFixed(1)).join('/')]));
console.log(`${ROWS.toLocaleString('en')} rows of tinystories-656k ${HOOK} (d=${D}), cosine over centred rows, ${NQ} held-out queries, k=${K}\n`);
console.log(table);
console.log(`\nload average (1/5/15 min) at the end of each build, on ${os.availableParallelism()} cores: ${Object.entries(load).map(([k, v]) => `${k} ${v}`).join(', ')}`);
const ctx = results.find((r) => r.contextP50 !== undefined && r.ef === 256);
if (ctx) console.log(`\nsearchIndex with contexts (steerer, ef=256): p50 ${fmt(ctx.contextP50!)} ms`);
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(
  join(RESULTS_DIR, 'activation-index.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cores: os.availableParallelism(), rows: ROWS, dim: D, hook: HOOK, queries: NQ, k: K, metric: 'cosine (centred)', threads: 2, builds, results }, null, 2)}\n`,
);
