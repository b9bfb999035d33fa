/**
 * Should the activation index centre its rows? The measurement behind the default of
 * `steerer index build` (centred cosine), on the first 200,000 rows of the benchmark store
 * (tinystories-656k, blocks.1.hook_resid_post; bench/lib/index-data.ts), exact search only:
 *
 *  - how much of a row the shared mean is: mean cos(row, mean), |mean| against a typical |row|;
 *  - direction queries: for 64 features of a TopK SAE trained on the store (2,048 latents, k 32,
 *    trained here on first use, ~2 min), the 20 rows nearest the feature's decoder direction by
 *    raw cosine, centred cosine and inner product: on what share does the feature fire?
 *  - point queries: for 200 held-out rows, how many of the 10 nearest rows share the query's token.
 *
 * Usage: npx tsx index-centering.ts   (writes results/index-centering.json)
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './lib/paths.js';
import { ensureStore, INDEX_DATA_DIR } from './lib/index-data.js';
import { createRng } from './lib/steerer.js';
import { exactSearch, type IndexMetric } from '../src/explore/exact-search.js';
import { meanRow } from '../src/explore/row-stats.js';
import { matrixRows, storeRows } from '../src/explore/row-source.js';
import { loadSae } from '../src/sae/load-sae.js';
import { saeRunnerFor } from '../src/sae/runner-cache.js';
import { saveSae } from '../src/sae/sae-file.js';
import { decoderRow } from '../src/sae/sae.js';
import { trainSaeOnStore } from '../src/sae/train-on-store.js';

const N = 200_000;
const D = 128;
const log = (m: string): void => console.error(`[centering] ${m}`);
const store = await ensureStore(log);
const data = new Float32Array(N * D);
for await (const c of storeRows(store, N).chunks(1 << 16)) data.set(c.data, c.start * D);
const src = matrixRows(data, D);
const mean = await meanRow(src, { threads: 2 });

let cosMean = 0;
let normRow = 0;
const normMean = Math.hypot(...mean);
for (let i = 0; i < N; i += 10) {
  const row = data.subarray(i * D, (i + 1) * D);
  const n = Math.hypot(...row);
  cosMean += row.reduce((a, v, j) => a + v * mean[j], 0) / (n * normMean);
  normRow += n;
}
cosMean /= N / 10;
normRow /= N / 10;
log(`mean cos(row, mean) ${cosMean.toFixed(3)}, |mean| ${normMean.toFixed(1)}, mean |row| ${normRow.toFixed(1)}`);

const saeFile = join(INDEX_DATA_DIR, 'l1-sae.safetensors');
if (!existsSync(saeFile)) {
  log('training a 2,048-latent TopK SAE on the store (~2 min)');
  const { sae } = await trainSaeOnStore(store, { dSae: 2048, k: 32, batchSize: 2048, tokens: 2_000_000, seed: 0, threads: 2 });
  saveSae(saeFile, sae);
}
const sae = loadSae(saeFile);
const runner = saeRunnerFor(sae, 2);
const features = Array.from({ length: 64 }, (_, i) => i * 32 + 5);
const dirs = new Float32Array(features.length * D);
features.forEach((f, i) => dirs.set(decoderRow(sae, f), i * D));
const K = 20;
const directions: Record<string, { fires: number; meanActivation: number }> = {};
for (const [name, metric, center] of [['raw cosine', 'cosine', undefined], ['centred cosine', 'cosine', mean], ['inner product', 'ip', undefined]] as [string, IndexMetric, Float32Array | undefined][]) {
  const r = await exactSearch(src, dirs, { metric, k: K, center, threads: 2 });
  const rows = Array.from(r.rows);
  const codes = await runner.encodeSparse(src.readRows(rows), rows.length, 32);
  let fires = 0;
  let act = 0;
  rows.forEach((_, n) => {
    const f = features[Math.floor(n / K)];
    for (let m = 0; m < 32; m++) {
      if (codes.indices[n * 32 + m] === f && codes.values[n * 32 + m] > 0) {
        fires++;
        act += codes.values[n * 32 + m];
      }
    }
  });
  directions[name] = { fires: fires / rows.length, meanActivation: act / rows.length };
  log(`${name}: the feature fires on ${(100 * directions[name].fires).toFixed(1)} % of the ${K} rows nearest its decoder direction`);
}

const rng = createRng(7);
const all = storeRows(store);
const picked = Array.from({ length: 200 }, () => N + Math.floor(rng.nextFloat() * (store.rows - N)));
const queries = all.readRows(picked);
const tokens = new Int32Array(store.rows);
{
  let at = 0;
  for (let i = 0; i < store.shardCount; i++) {
    const s = store.readShard(i);
    tokens.set(s.tokens, at);
    at += s.rows;
  }
}
const points: Record<string, number> = {};
for (const [name, center] of [['raw cosine', undefined], ['centred cosine', mean]] as [string, Float32Array | undefined][]) {
  const q = center ? queries.map((v, i) => v - center[i % D]) : queries;
  const r = await exactSearch(src, q, { metric: 'cosine', k: 10, center, threads: 2 });
  let same = 0;
  picked.forEach((row, i) => {
    for (let j = 0; j < 10; j++) if (tokens[r.rows[i * 10 + j]] === tokens[row]) same++;
  });
  points[name] = same / 2000;
  log(`points, ${name}: ${(100 * points[name]).toFixed(1)} % of the 10 nearest rows share the query's token`);
}

mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(
  join(RESULTS_DIR, 'index-centering.json'),
  `${JSON.stringify({ date: new Date().toISOString(), rows: N, meanCosRowToMean: cosMean, meanNorm: normMean, rowNorm: normRow, features: features.length, k: K, directions, pointsSameToken: points }, null, 2)}\n`,
);
