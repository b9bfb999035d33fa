/**
 * Probe-guided decoding on TinyStories-656K: a sad-vs-happy probe (trained on the evals'
 * 80 sentences) as a process reward, reranking the top-k next tokens at every step or
 * selecting among candidates every 16 tokens, against unsteered decoding and plain
 * activation steering. Concept effect: AFINN sentiment shift and the share of stories that
 * say "sad"; coherence: perplexity under the unsteered model and distinct-2.
 *
 * Run: npx tsx eval/probe-decoding.ts [--stories 48]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Sentiment from 'sentiment';
import { generateBatch } from '../src/decoding/generate.js';
import type { DecodingPlan } from '../src/decoding/plan.js';
import { probeScorer } from '../src/decoding/probe-scorer.js';
import { coherence } from '../src/evals/coherence.js';
import { loadModel } from '../src/model/load.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { addVector } from '../src/steering/operators.js';
import { trainProbes } from '../src/probes/train-probes.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { sadHappyPairs, sadMinusHappyVector } from './lib/sad-vector.js';

const { values } = parseArgs({ options: { stories: { type: 'string', default: '48' }, tokens: { type: 'string', default: '80' } } });
const N = Number(values.stories);
const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
const lexicon = new Sentiment();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const examples = sadHappyPairs().flatMap((p) => [
  { text: p.positive, label: 'sad' },
  { text: p.negative, label: 'happy' },
]);
const trained = await trainProbes(model, examples, { positions: 'mean', classes: ['happy', 'sad'] });
for (const { layer, metrics } of trained.perLayer) log(`probe layer ${layer}: CV accuracy ${metrics.accuracy?.toFixed(3)}, AUROC ${metrics.auroc?.toFixed(3)}`);
const scorer = probeScorer(trained.probe, model, undefined, 'sad');
const empty: DecodingPlan = { processors: [], runs: [], terms: [], cuts: [] };
const direction = (await sadMinusHappyVector(model)).directions.get(1)!;

async function run(label: string, decoding?: DecodingPlan, hooks: Hook[] = []) {
  const t = Date.now();
  const out = await generateBatch(model, Array(N).fill('Once upon a time'), { decoding, hooks, temperature: 0.8, topP: 0.95, seed: 1000, maxTokens: Number(values.tokens) });
  const coh = await coherence(model, out);
  const r = {
    label,
    afinn: out.reduce((a, o) => a + lexicon.analyze(o.text).comparative, 0) / N,
    sadRate: out.filter((o) => /\bsad\b/i.test(o.text)).length / N,
    perplexity: coh.perplexity,
    distinct2: coh.distinct2,
    seconds: (Date.now() - t) / 1000,
    sample: `Once upon a time${out[0].text}`.slice(0, 160),
  };
  log(`${label}: AFINN ${r.afinn.toFixed(3)}, "sad" ${(r.sadRate * 100).toFixed(0)} %, ppl ${r.perplexity.toFixed(2)}, distinct-2 ${r.distinct2.toFixed(2)}, ${r.seconds.toFixed(1)} s`);
  return r;
}

const rows = [
  await run('unsteered'),
  await run('probe rerank top-8, weight 1', { ...empty, rerank: { scorer, topK: 8, weight: 1 } }),
  await run('probe rerank top-8, weight 3', { ...empty, rerank: { scorer, topK: 8, weight: 3 } }),
  await run('probe rerank top-8, weight 10', { ...empty, rerank: { scorer, topK: 8, weight: 10 } }),
  await run('best-of-4 by probe, every 16 tokens', { ...empty, select: { candidates: 4, every: 16, by: scorer } }),
  await run('best-of-4 by probe (end only)', { ...empty, select: { candidates: 4, by: scorer } }),
  await run('best-of-4 by perplexity', { ...empty, select: { candidates: 4, by: 'perplexity' } }),
  await run('activation steering c=2', undefined, [{ kind: 'intervene', at: { layer: 1, site: 'resid_post' }, intervention: addVector(direction, { scale: 2 }) }]),
  await run('activation steering c=3', undefined, [{ kind: 'intervene', at: { layer: 1, site: 'resid_post' }, intervention: addVector(direction, { scale: 3 }) }]),
];
const base = rows[0];
const table = [
  '| method | AFINN shift | "sad" stories | perplexity (unsteered model) | distinct-2 | time |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.label} | ${(base.afinn - r.afinn).toFixed(3)} | ${(r.sadRate * 100).toFixed(0)} % | ${r.perplexity.toFixed(2)} | ${r.distinct2.toFixed(2)} | ${r.seconds.toFixed(1)} s |`),
].join('\n');
process.stdout.write(`${table}\n`);
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'probe-decoding.json'), `${JSON.stringify({ date: new Date().toISOString(), stories: N, probe: trained.perLayer, rows }, null, 2)}\n`);
await model.dispose();
