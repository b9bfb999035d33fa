/**
 * Wall time of the one-click pipeline (lexicon → data → vectors at every layer → layer and
 * variant trials → strength search → confirmation on fresh seeds → report) on the
 * SmolLM2-135M-shape model with random weights, against the target of 2 minutes with 2
 * threads. As a yardstick measured in the same run: one unsteered probe generation (16 prompts ×
 * 128 tokens, what the pipeline measures each strength on), the unit the later stages are made of.
 *
 * Usage: npm run auto [-- --threads 2] [--concept cat]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESULTS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { HookedModel, loadModel } from './lib/steerer.js';
import { createConceptVector, type PipelineStage } from '../src/auto/concept-vector.js';
import { EVAL_STORY_PROMPTS } from '../src/concept/openings.js';
import { generateBatch } from '../src/decoding/generate.js';
import { renderReportHtml } from '../src/report/eval-report.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const threads = Number(flag('threads', '2'));
const info = ensureSmolRandomModel((m) => console.error(`[auto] ${m}`));
const model = new HookedModel(loadModel(info.dir), { threads });

const concept = flag('concept', 'cat');
// Yardstick: one unsteered generation of the probe (16 prompts × 128 tokens), after a warm-up.
const encoded = (n: number) => EVAL_STORY_PROMPTS.slice(0, n).map((p) => model.encode(p));
await generateBatch(model, encoded(2), { maxTokens: 2, temperature: 0.8, seed: 1 });
let t = performance.now();
await generateBatch(model, encoded(16), { maxTokens: 128, temperature: 0.8, seed: 1 });
const probeMs = performance.now() - t;

const stageMs = new Map<PipelineStage | 'report', number>();
let current: PipelineStage | undefined;
let since = performance.now();
const start = performance.now();
const result = await createConceptVector(model, {
  concept,
  seed: 0,
  onStage: (stage) => {
    if (stage !== current) {
      const now = performance.now();
      if (current) stageMs.set(current, now - since);
      current = stage;
      since = now;
    }
  },
});
const now = performance.now();
if (current) stageMs.set(current, now - since);
t = performance.now();
const s = result.selection;
await renderReportHtml({
  format: 'steerer.eval-report/v1', createdAt: new Date().toISOString(), model: 'smollm2-135m-random', vector: concept, concept, layer: s.layer, site: 'resid_post',
  coefficient: s.coefficient, metric: s.metric, budget: s.budget, curve: s.strength?.curve ?? [], diagnostics: result.vector.meta.diagnostics, selection: s, examples: result.examples,
});
stageMs.set('report', performance.now() - t);
const totalMs = performance.now() - start;

console.log(`SmolLM2-135M shape (random weights), ${threads} threads, concept "${concept}" (${result.dataset.source} data), ${result.dataset.train.length + result.dataset.validation.length} pairs, ${model.spec.numLayers} layers`);
for (const [stage, ms] of stageMs) console.log(`  ${stage.padEnd(12)} ${(ms / 1000).toFixed(1).padStart(6)} s`);
console.log(`  strength search: ${s.strength?.curve.length ?? 0} settings on the curve; ${s.layerRanking.length} variant/layer trials`);
console.log(`whole pipeline: ${(totalMs / 1000).toFixed(1)} s ${totalMs <= 120_000 ? '(target < 2 min: met)' : '(target < 2 min: MISSED)'}`);
console.log(`one unsteered probe generation (16 × 128 tokens): ${(probeMs / 1000).toFixed(2)} s; pipeline = ${(totalMs / probeMs).toFixed(1)}× that`);
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(
  join(RESULTS_DIR, 'auto-pipeline.json'),
  `${JSON.stringify({ threads, concept, totalMs, probeMs, stages: Object.fromEntries(stageMs), evaluations: s.strength?.curve.length, layers: s.layers, coefficient: s.coefficient }, null, 2)}\n`,
);
await model.dispose();
