/**
 * Does a sad-minus-happy vector shift TinyStories' stories, and what does it cost in
 * coherence? For each coefficient: N seeded stories, their mean AFINN sentiment (the npm
 * `sentiment` lexicon, independent of the model) and their perplexity under the unsteered
 * model. Run: npx tsx eval/steer-sentiment.ts [--stories N] [--layer L]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Sentiment from 'sentiment';
import { loadSae } from '../src/sae/load-sae.js';
import { loadModel } from '../src/model/load.js';
import { generateBatch } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { scoreTokens } from '../src/runtime/score.js';
import { compileSteeringSpec, parseSteeringSpec } from '../src/steering/spec.js';
import { saveVector } from '../src/steering/vector-file.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { sadMinusHappyVector } from './lib/sad-vector.js';

const { values } = parseArgs({ options: { stories: { type: 'string', default: '24' }, layer: { type: 'string', default: '1' }, tokens: { type: 'string', default: '80' } } });
const N = Number(values.stories);
const LAYER = Number(values.layer);
const TOKENS = Number(values.tokens);

const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
const vector = await sadMinusHappyVector(model);
const outDir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(outDir, { recursive: true });
saveVector(path.join(outDir, 'sad-tinystories.safetensors'), vector);

const lexicon = new Sentiment();
const coefficients = [-4, -2, 0, 1, 2, 4, 8, 16];
const rows: { coefficient: number; sentiment: number; perplexity: number; sample: string }[] = [];
for (const coefficient of coefficients) {
  const spec = parseSteeringSpec({ interventions: [{ vector: { inlineLayers: { [LAYER]: Array.from(vector.directions.get(LAYER)!) } }, layers: LAYER, coefficient }] });
  const hooks = compileSteeringSpec(spec, model.spec, { vector: () => vector, sae: (ref) => loadSae(ref) });
  const prompts = Array.from({ length: N }, () => 'Once upon a time');
  const stories = await generateBatch(model, prompts, { hooks, temperature: 0.8, topP: 0.95, seed: 1000, maxTokens: TOKENS });
  let sentiment = 0;
  let nll = 0;
  let count = 0;
  for (const s of stories) {
    sentiment += lexicon.analyze(s.text).comparative;
    const ids = [...s.promptTokens, ...s.tokens];
    if (s.tokens.length === 0) continue;
    const { logprobs } = await scoreTokens(model, ids); // unsteered
    for (let i = s.promptTokens.length - 1; i < logprobs.length; i++) {
      nll -= logprobs[i];
      count++;
    }
  }
  rows.push({ coefficient, sentiment: sentiment / N, perplexity: Math.exp(nll / count), sample: `Once upon a time${stories[0].text}`.slice(0, 160) });
  process.stderr.write(`coefficient ${coefficient}: done\n`);
}

const table = [
  '| coefficient | mean AFINN sentiment (per word) | perplexity under unsteered model |',
  '|---:|---:|---:|',
  ...rows.map((r) => `| ${r.coefficient} | ${r.sentiment.toFixed(3)} | ${r.perplexity.toFixed(2)} |`),
].join('\n');
process.stdout.write(`${table}\n\nSamples (first story per coefficient):\n${rows.map((r) => `  ${r.coefficient}: ${JSON.stringify(r.sample)}`).join('\n')}\n`);
fs.writeFileSync(path.join(outDir, 'steer-sentiment.json'), `${JSON.stringify({ layer: LAYER, stories: N, tokens: TOKENS, rows }, null, 2)}\n`);
await model.dispose();
