/**
 * One engine of bench/activation-index.ts in its own process, so each one's memory is its own:
 *
 *   tsx activation-index-worker.ts build  steerer|hnswlib  WORKDIR ROWS
 *   tsx activation-index-worker.ts search steerer|hnswlib|brute WORKDIR ROWS EF
 *
 * WORKDIR holds rows.f32 (the centred rows, [ROWS, 128]) and queries.f32 (the centred queries)
 * written by the orchestrator; the Steerer index builds from the store itself. Prints one JSON
 * line: build seconds and peak RSS, or open time, per-query latencies (first pass and warm),
 * result rows and RSS.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import hnswlib from 'hnswlib-node';
import { currentRssBytes, peakRssBytes } from './lib/mem.js';
import { INDEX_DATA_DIR, STORE_DIR } from './lib/index-data.js';
import { modelPath } from './lib/index-data.js';
import { ActivationIndex, buildActivationIndex } from '../src/explore/activation-index.js';
import { exactSearch } from '../src/explore/exact-search.js';
import { searchIndex } from '../src/explore/index-search.js';
import { matrixRows } from '../src/explore/row-source.js';
import { ActivationStore } from '../src/sae/activation-store.js';
import { tokenStrings } from '../src/sae/feature-activations.js';
import { openModel } from '../src/runtime/open-model.js';

const [phase, engine, work, rowsArg, efArg] = process.argv.slice(2);
const ROWS = Number(rowsArg);
const D = 128;
const K = 10;
const THREADS = 2;

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

const steererDir = join(INDEX_DATA_DIR, `steerer-index-${ROWS}`);
const hnswFile = join(work, 'hnswlib.bin');

/** CPU seconds (user + system, all threads) since `from`: what a build costs whatever else the machine runs. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

async function build(): Promise<object> {
  const before = currentRssBytes();
  const cpu = process.cpuUsage();
  if (engine === 'steerer') {
    const model = openModel(modelPath());
    const t = performance.now();
    const index = await buildActivationIndex(ActivationStore.open(STORE_DIR), steererDir, { decode: (ids) => tokenStrings(model, ids), maxRows: ROWS, threads: THREADS });
    const seconds = (performance.now() - t) / 1000;
    const bytes = statSync(join(steererDir, 'index.usearch')).size + statSync(join(steererDir, 'rows.safetensors')).size;
    return { seconds, cpuSeconds: cpuSince(cpu), load: os.loadavg(), rows: index.size, peakRss: peakRssBytes(), before, fileBytes: bytes };
  }
  const data = readF32(join(work, 'rows.f32'));
  const loaded = currentRssBytes();
  const t = performance.now();
  const cpuBuild = process.cpuUsage();
  const h = new hnswlib.HierarchicalNSW('cosine', D);
  h.initIndex({ maxElements: ROWS, m: 16, efConstruction: 128, randomSeed: 100 });
  for (let i = 0; i < ROWS; i++) h.addPoint(Array.from(data.subarray(i * D, (i + 1) * D)), i);
  const seconds = (performance.now() - t) / 1000;
  const after = currentRssBytes();
  h.writeIndexSync(hnswFile);
  return { seconds, cpuSeconds: cpuSince(cpuBuild), load: os.loadavg(), rows: h.getCurrentCount(), peakRss: peakRssBytes(), before, indexRss: after - loaded, fileBytes: statSync(hnswFile).size };
}

async function search(): Promise<object> {
  const ef = Number(efArg);
  const queries = readF32(join(work, 'queries.f32'));
  const nq = queries.length / D;
  const latencies: number[] = [];
  const rows: number[] = [];
  const before = currentRssBytes();
  let openSeconds = 0;
  let t = performance.now();
  let one: (q: Float32Array) => Promise<number[]>;
  let contexts: ((i: number) => Promise<void>) | undefined;
  if (engine === 'steerer') {
    // Point queries arrive centred (as the other engines get them); searchVectors takes them as they are.
    const index = ActivationIndex.open(steererDir, { expansion: ef });
    openSeconds = (performance.now() - t) / 1000;
    one = async (q) => Array.from((await index.searchVectors(q, K, { threads: 1 })).rows);
    // End to end with contexts: the query as an uncentred point, as `steerer index search --text` sends it.
    contexts = async (i) => {
      await searchIndex(index, queries.slice(i * D, (i + 1) * D).map((v, j) => v + index.rows.mean[j]), K, { kind: 'point', threads: 1 });
    };
  } else if (engine === 'hnswlib') {
    const h = new hnswlib.HierarchicalNSW('cosine', D);
    h.readIndexSync(hnswFile);
    h.setEf(ef);
    openSeconds = (performance.now() - t) / 1000;
    one = async (q) => h.searchKnn(Array.from(q), K).neighbors;
  } else {
    const data = readF32(join(work, 'rows.f32')).subarray(0, ROWS * D);
    const source = matrixRows(data, D);
    openSeconds = (performance.now() - t) / 1000;
    one = async (q) => Array.from((await exactSearch(source, q, { metric: 'cosine', k: K, threads: THREADS })).rows);
  }
  // First pass: each query once, straight after opening (a memory-mapped index reads its pages
  // now); second pass, timed as the latency: the same queries again, warm.
  const firstPass: number[] = [];
  for (let i = 0; i < nq; i++) {
    t = performance.now();
    await one(queries.subarray(i * D, (i + 1) * D));
    firstPass.push(performance.now() - t);
  }
  for (let i = 0; i < nq; i++) {
    t = performance.now();
    rows.push(...(await one(queries.subarray(i * D, (i + 1) * D))));
    latencies.push(performance.now() - t);
  }
  const contextMs: number[] = [];
  for (let i = 0; contexts && i < nq; i++) {
    t = performance.now();
    await contexts(i);
    contextMs.push(performance.now() - t);
  }
  return { ef, openSeconds, firstPass, latencies, rows, rss: currentRssBytes(), before, peakRss: peakRssBytes(), contextMs: contexts ? contextMs : undefined, load: os.loadavg() };
}

process.stdout.write(`${JSON.stringify(phase === 'build' ? await build() : await search())}\n`);
