/**
 * The one-click pipeline on TinyStories, checked by something it never saw: for each concept,
 * `createConceptVector` picks data, layer and strength by itself; then N fresh seeded stories
 * (other seeds and prompt than the pipeline's probe) are written with and without the chosen
 * steering, and scored with the AFINN lexicon (npm `sentiment`, independent of the model) and
 * by perplexity under the unsteered model. Run: npx tsx eval/auto-concept.ts [--stories N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Sentiment from 'sentiment';
import { createConceptVector } from '../src/auto/concept-vector.js';
import { SteeringProbe } from '../src/auto/steering-probe.js';
import { coherence } from '../src/evals/coherence.js';
import { loadModel } from '../src/model/load.js';
import { generateBatch } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';

const { values } = parseArgs({ options: { stories: { type: 'string', default: '64' } } });
const N = Number(values.stories);
const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
const lexicon = new Sentiment();
// Concepts with a sentiment sign, so the lexicon can say whether the shift went the right way.
const concepts: { concept: string; neutral?: string; sign: -1 | 1 }[] = [
  { concept: 'sad', sign: -1 },
  { concept: 'scared', sign: -1 },
  { concept: 'happy', sign: 1 },
];
const rows: Record<string, unknown>[] = [];
for (const c of concepts) {
  const t0 = performance.now();
  const r = await createConceptVector(model, { concept: c.concept, neutral: c.neutral, seed: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const s = r.selection;
  const direction = r.vector.directions.get(s.layer)!;
  const stories = async (coef: number) => {
    const out = await generateBatch(model, Array(N).fill('One day,'), { hooks: SteeringProbe.hooks(direction, s.layer, 'resid_post', coef), temperature: 0.8, topP: 0.95, seed: 9000, maxTokens: 80 });
    const afinn = out.reduce((a, o) => a + lexicon.analyze(o.text).comparative, 0) / N;
    const coh = await coherence(model, out);
    return { afinn, perplexity: coh.perplexity, distinct2: coh.distinct2, sample: `One day,${out[0].text}`.slice(0, 140) };
  };
  const base = await stories(0);
  const steered = await stories(s.coefficient);
  rows.push({ concept: c.concept, layer: s.layer, coefficient: s.coefficient, stop: s.strength?.stop, seconds, base, steered, rightWay: Math.sign(steered.afinn - base.afinn) === c.sign });
  process.stderr.write(`${c.concept}: done in ${seconds.toFixed(1)} s\n`);
}
const f = (x: number, d = 3) => x.toFixed(d);
const table = [
  '| concept | layer | coefficient (auto) | AFINN unsteered → steered | perplexity unsteered → steered | distinct-2 | pipeline time |',
  '|---|---:|---:|---|---|---|---:|',
  ...rows.map((r) => {
    const b = r.base as { afinn: number; perplexity: number; distinct2: number };
    const st = r.steered as typeof b;
    return `| ${r.concept} | ${r.layer} | ${f(r.coefficient as number, 2)} | ${f(b.afinn)} → ${f(st.afinn)} | ${f(b.perplexity, 2)} → ${f(st.perplexity, 2)} | ${f(b.distinct2, 2)} → ${f(st.distinct2, 2)} | ${f(r.seconds as number, 1)} s |`;
  }),
].join('\n');
process.stdout.write(`${table}\n\n${rows.map((r) => `${r.concept}: ${JSON.stringify((r.steered as { sample: string }).sample)}`).join('\n')}\n`);
const outDir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'auto-concept.json'), `${JSON.stringify({ stories: N, rows }, null, 2)}\n`);
await model.dispose();
