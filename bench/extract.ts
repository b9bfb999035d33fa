/**
 * Extraction cost: a steering vector from 256 contrastive pairs at every layer of the
 * SmolLM2-135M-shape model, against one batched forward pass over the same tokens (the floor:
 * extraction must at least run the model once). Target: extraction ≤ 2× the forward.
 *
 * Usage: npm run extract [-- --threads 2 --pairs 256 --method diffmean]
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESULTS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { HookedModel, loadModel, sharedPath } from './lib/steerer.js';
import { personaPairs } from '../src/steering/contrast-pairs.js';
import { extractVector } from '../src/steering/extract.js';
import type { ExtractionMethod } from '../src/steering/vector.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const threads = Number(flag('threads', '2'));
const count = Number(flag('pairs', '256'));
const methods = flag('method', 'diffmean,pca_diff,probe').split(',') as ExtractionMethod[];

const info = ensureSmolRandomModel((m) => console.error(`[extract] ${m}`));
const model = new HookedModel(loadModel(info.dir), { threads });
const suffixes = (JSON.parse(readFileSync(sharedPath('data', 'repeng', 'all_truncated_outputs.json'), 'utf8')) as string[]).filter((s) => s.length > 0);
const dataset = personaPairs(model, { positive: 'happy', negative: 'sad', suffixes: suffixes.slice(0, count) }, { chat: false });
const sequences = dataset.pairs.flatMap((p) => [p.positive.ids, p.negative.ids]);
const tokens = sequences.reduce((n, s) => n + s.length, 0);
console.error(`[extract] ${dataset.pairs.length} pairs, ${sequences.length} sequences, ${tokens} tokens, ${threads} threads`);

// Warm-up (session compilation) outside the timings.
await model.forward({ tokens: sequences.slice(0, 2), logits: 'none', hooks: [{ kind: 'capture', at: `blocks.${model.spec.numLayers - 1}.hook_resid_post` }] });

// One batched forward over the same tokens (same batching as extraction: length-sorted, 16 per batch).
const sorted = [...sequences].sort((a, b) => a.length - b.length);
let t = performance.now();
for (let i = 0; i < sorted.length; i += 16) {
  await model.forward({ tokens: sorted.slice(i, i + 16), logits: 'none', hooks: [{ kind: 'capture', at: `blocks.${model.spec.numLayers - 1}.hook_resid_post` }] });
}
const forwardMs = performance.now() - t;

const results: { method: string; ms: number; ratio: number }[] = [];
for (const method of methods) {
  t = performance.now();
  const v = await extractVector(model, dataset, { method, batchSize: 16 });
  const ms = performance.now() - t;
  if (v.directions.size !== model.spec.numLayers) throw new Error('extraction missed layers');
  results.push({ method, ms, ratio: ms / forwardMs });
}

console.log(`one batched forward over ${tokens} tokens: ${(forwardMs / 1000).toFixed(2)} s (${((tokens * 1000) / forwardMs).toFixed(0)} tokens/s)`);
for (const r of results) {
  console.log(`extract ${r.method.padEnd(10)} all ${model.spec.numLayers} layers: ${(r.ms / 1000).toFixed(2)} s = ${r.ratio.toFixed(2)}× the forward ${r.ratio <= 2 ? '(target ≤ 2×: met)' : '(target ≤ 2×: MISSED)'}`);
}
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(
  join(RESULTS_DIR, 'extract.json'),
  `${JSON.stringify({ date: new Date().toISOString(), threads, pairs: dataset.pairs.length, tokens, forwardMs, results }, null, 2)}\n`,
);
await model.dispose();
