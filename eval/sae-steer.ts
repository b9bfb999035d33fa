/**
 * SAE features on TinyStories, checked by something the model never saw (the AFINN lexicon):
 *  1. find "sad" features by contrasting corpus snippets around the word with snippets around
 *     other words, and show their top contexts;
 *  2. steer with the feature whose decoder direction writes the word (logit lens) and measure
 *     how many stories say it, and the sentiment shift;
 *  3. compare the one-click "sad" vector with its SAE-filtered version at equal concept effect:
 *     sweep both, interpolate perplexity (under the unsteered model) at matched AFINN shifts.
 *
 *   npx tsx eval/sae-steer.ts --sae FILE --index FILE --corpus generated.jsonl --store DIR [--stories 64]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Sentiment from 'sentiment';
import { createConceptVector } from '../src/auto/concept-vector.js';
import { coherence } from '../src/evals/coherence.js';
import { loadModel } from '../src/model/load.js';
import { generateBatch } from '../src/decoding/generate.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { addVector } from '../src/steering/operators.js';
import { lineChartSvg } from '../src/util/plot.js';
import { ActivationStore } from '../src/sae/activation-store.js';
import { loadFeatureIndex } from '../src/sae/feature-index.js';
import { contrastFeatures } from '../src/sae/feature-search.js';
import { saeFilteredVector } from '../src/sae/filter-vector.js';
import { featureAddIntervention } from '../src/steering/sae-feature-add.js';
import { loadSae } from '../src/sae/load-sae.js';
import { featureLogitEffects } from '../src/sae/logit-lens.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { interpolate } from './lib/sad-vector.js';

const { values } = parseArgs({
  options: {
    sae: { type: 'string' },
    index: { type: 'string' },
    corpus: { type: 'string' },
    store: { type: 'string' },
    stories: { type: 'string', default: '64' },
    topk: { type: 'string', default: '64' },
  },
});
if (!values.sae || !values.index || !values.corpus || !values.store) throw new Error('--sae, --index, --corpus and --store are required');
const N = Number(values.stories);
const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
const sae = loadSae(values.sae);
const index = loadFeatureIndex(values.index);
const at = sae.cfg.hook;
const lexicon = new Sentiment();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

// 1. Concept features from the corpus: snippets around "sad" against snippets around other words.
const docs = fs.readFileSync(values.corpus, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text).filter(Boolean);
const word = /\bsad\b/i;
const around = (d: string, i: number): string => d.slice(Math.max(0, i - 60), i + 40);
const positive = docs.filter((d) => word.test(d)).slice(0, 64).map((d) => around(d, d.search(word)));
const neutral = docs.filter((d) => !word.test(d)).slice(0, 64).map((d) => around(d, Math.floor(d.length / 2)));
const matches = await contrastFeatures(model, sae, positive, neutral, { top: 8 });
const context = (f: number): string[] =>
  index.features[f].contexts.slice(0, 3).map((c) => c.tokens.map((t, i) => (i === c.focus ? `«${t}»` : t)).join('').replace(/\n/g, ' ').trim());
const found = matches.map((m) => ({ feature: m.feature, score: m.score, freqPositive: m.freqPositive, freqNeutral: m.freqNeutral, contexts: context(m.feature) }));
for (const f of found) log(`feature ${f.feature} score ${f.score.toFixed(2)}: ${f.contexts.join(' | ')}`);

// Stories under a steering hook: mean AFINN comparative score, perplexity under the unsteered model.
async function stories(hooks: Hook[]): Promise<{ afinn: number; sadRate: number; perplexity: number; distinct2: number; sample: string }> {
  const out = await generateBatch(model, Array(N).fill('One day,'), { hooks, temperature: 0.8, topP: 0.95, seed: 9000, maxTokens: 80 });
  const coh = await coherence(model, out);
  return {
    afinn: out.reduce((a, o) => a + lexicon.analyze(o.text).comparative, 0) / N,
    sadRate: out.filter((o) => word.test(o.text)).length / N,
    perplexity: coh.perplexity,
    distinct2: coh.distinct2,
    sample: `One day,${out[0].text}`.slice(0, 160),
  };
}
const base = await stories([]);
log(`base: stories saying "sad" ${(base.sadRate * 100).toFixed(0)} %, AFINN ${base.afinn.toFixed(3)}, ppl ${base.perplexity.toFixed(2)}`);

// 2. Feature steering. Features that fire ON the word (the contrast winners at the last layer)
// describe the current token; steering wants features that WRITE it: those whose decoder
// direction, read through the unembedding (logit lens), promotes the word most.
const wordId = model.tokenizer.encode('sad').at(-1)!;
const lens = await featureLogitEffects(model, sae, Array.from({ length: sae.cfg.dSae }, (_, i) => i), { top: 5 });
const writers = lens.filter((e) => e.promoted[0]?.id === wordId).map((e) => e.feature);
const chosen = writers[0] ?? found[0].feature;
log(`steering with feature ${chosen} (promotes: ${lens[chosen].promoted.map((t) => t.token).join(' | ')})`);
const featureSweep: Record<string, unknown>[] = [];
for (const coef of [1, 2, 4]) {
  const r = await stories([{ kind: 'intervene', at, intervention: featureAddIntervention(sae, [chosen], coef) }]);
  featureSweep.push({ feature: chosen, coefficient: coef, ...r });
  log(`feature ${chosen} × ${coef}: stories saying "sad" ${(r.sadRate * 100).toFixed(0)} %, AFINN ${r.afinn.toFixed(3)}, ppl ${r.perplexity.toFixed(2)}`);
}

// 3. Raw one-click vector vs its SAE-filtered version at the SAE's layer.
const made = await createConceptVector(model, { concept: 'sad', seed: 0, layer: at.layer, coefficient: 'auto' });
const raw = made.vector.directions.get(at.layer)!;
const store = ActivationStore.open(values.store);
const reference = store.readShard(0).acts.subarray(0, 4096 * store.dim);
const filtered = await saeFilteredVector(sae, raw, reference, 4096, { topK: Number(values.topk) });
log(`filtered: kept ${filtered.features.map((f) => f.feature).join(', ')}; cos(raw, filtered) ${filtered.cosine.toFixed(3)}; kept mass ${filtered.keptMass.toFixed(2)}`);
const rec = made.selection.coefficient;
const multipliers = [0.5, 1, 1.5, 2, 3];
const sweep = async (v: Float32Array): Promise<{ coefficient: number; afinn: number; perplexity: number; distinct2: number }[]> => {
  const out = [];
  for (const m of multipliers) {
    const r = await stories([{ kind: 'intervene', at, intervention: addVector(v, { scale: m * rec }) }]);
    out.push({ coefficient: m * rec, afinn: r.afinn, perplexity: r.perplexity, distinct2: r.distinct2 });
  }
  return out;
};
const rawCurve = await sweep(raw);
const filteredCurve = await sweep(filtered.direction);

/** Perplexity at a given AFINN shift along a strength curve (the unsteered stories at shift 0). */
const pplAtShift = (curve: { afinn: number; perplexity: number }[], shift: number): number | null =>
  interpolate([[0, base.perplexity], ...curve.map((p) => [base.afinn - p.afinn, p.perplexity] as const)], shift);
const maxShift = Math.min(Math.max(...rawCurve.map((p) => base.afinn - p.afinn)), Math.max(...filteredCurve.map((p) => base.afinn - p.afinn)));
const matched = [0.25, 0.5, 0.75, 1].map((q) => q * maxShift).map((shift) => ({ shift, raw: pplAtShift(rawCurve, shift), filtered: pplAtShift(filteredCurve, shift) }));
for (const m of matched) log(`AFINN shift ${m.shift.toFixed(3)}: ppl raw ${m.raw?.toFixed(2)} vs filtered ${m.filtered?.toFixed(2)}`);

const svg = await lineChartSvg({
  title: 'Sad vector on TinyStories: coherence cost at equal sentiment shift',
  xLabel: 'AFINN shift (unsteered − steered)',
  yLabel: 'perplexity under the unsteered model',
  series: [
    { name: 'raw one-click vector', points: [[0, base.perplexity], ...rawCurve.map((p) => [base.afinn - p.afinn, p.perplexity] as [number, number])] },
    { name: `SAE-filtered (top ${values.topk} features)`, points: [[0, base.perplexity], ...filteredCurve.map((p) => [base.afinn - p.afinn, p.perplexity] as [number, number])] },
  ],
});
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'sae-filtered.svg'), svg);
const result = { sae: values.sae, hook: at, stories: N, base, features: found, steeredFeature: chosen, featureSweep, vector: { recommendedCoefficient: rec, filteredFeatures: filtered.features, cosine: filtered.cosine, keptMass: filtered.keptMass }, rawCurve, filteredCurve, matched };
fs.writeFileSync(path.join(dir, 'sae-steer.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ base, featureSweep, matched }, null, 2)}\n`);
await model.dispose();
