/**
 * Which concept score agrees with a reader? For each concept's one-click vector (made by the
 * concept suite), stories are written at several strengths and scored three ways by what the
 * pipeline can compute — presence (the pipeline's own WordNet lexicon), likelihood, projection —
 * and once by held-out judgement: the hand-written evaluation word lists of eval/concepts/, which
 * the pipeline never sees. Agreement is Spearman's ρ between each score and the judgement over
 * the strengths of a concept (mean over concepts), and over all (concept, strength) points.
 *
 * Run after the suite: npx tsx eval/concept-metrics.ts [--model tinystories-656k] [--concepts a,b]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateBatch, openModel } from '../src/index.js';
import { parseLexicon } from '../src/concept/lexicon.js';
import { likelihoodScorer, presenceScorer, projectionScorer, type ConceptScorer, type ScoredOutput } from '../src/evals/concept-score.js';
import { spearman } from '../src/evals/agreement.js';
import { addVector } from '../src/steering/operators.js';
import { loadVector } from '../src/steering/vector-file.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { allConcepts, conceptRegex, countConceptWords, loadConceptList } from './lib/concept-words.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-656k' },
    concepts: { type: 'string' },
    suite: { type: 'string' },
    stories: { type: 'string', default: '16' },
    threads: { type: 'string', default: '2' },
  },
});
const root = packageRoot();
const modelPath = values.model!.includes('/') ? path.resolve(values.model!) : sharedPath('models', values.model!);
const modelName = path.basename(modelPath);
const suiteDir = path.resolve(values.suite ?? path.join(root, 'eval', 'results', 'concept-suite', modelName));
const concepts = values.concepts ? values.concepts.split(',') : allConcepts();
const N = Number(values.stories);
const model = openModel(modelPath, { threads: Number(values.threads) });
const FACTORS = [0, 0.5, 1, 1.5, 2];
const seeds = Array.from({ length: N }, (_, i) => 5000 + i);
const prompt = model.encode('Once upon a time');

interface Point {
  concept: string;
  factor: number;
  judged: number;
  scores: Record<string, number>;
}
const points: Point[] = [];
for (const concept of concepts) {
  const file = path.join(suiteDir, 'vectors', `${concept}.safetensors`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`skip ${concept}: no vector at ${file} (run the suite first)\n`);
    continue;
  }
  const v = loadVector(file);
  const auto = v.meta.auto;
  const rec = v.meta.recommended;
  if (!auto?.lexicon || !rec?.coefficient || !rec.layers?.length) continue;
  const lexicon = parseLexicon(auto.lexicon, `${concept}'s vector`);
  const layer = rec.layers[0];
  const scorers: ConceptScorer[] = [
    presenceScorer(lexicon),
    likelihoodScorer(model, { concept: lexicon.head[0] ?? concept }),
    projectionScorer(model, v.directions.get(layer)!, { layer, site: 'resid_post' }),
  ];
  const words = conceptRegex(loadConceptList(concept).words);
  for (const f of FACTORS) {
    const hooks = rec.layers.map((l) => ({ kind: 'intervene' as const, at: { layer: l, site: v.meta.site }, intervention: addVector(v.directions.get(l)!, { scale: f * rec.coefficient! }) }));
    const out = await generateBatch(model, seeds.map(() => prompt), { maxTokens: 128, temperature: 0.8, seeds, hooks: f === 0 ? [] : hooks });
    const outputs: ScoredOutput[] = out.map((r) => ({ ...r, output: `Once upon a time${r.text}` }));
    const scores: Record<string, number> = {};
    for (const s of scorers) {
      const xs = await s.score(outputs);
      scores[s.metric] = xs.reduce((a, b) => a + b, 0) / xs.length;
    }
    const judged = outputs.reduce((a, o) => a + countConceptWords(o.text, words).count, 0) / outputs.length;
    points.push({ concept, factor: f, judged, scores });
  }
  process.stderr.write(`${concept}: ${points.filter((p) => p.concept === concept).map((p) => `×${p.factor} judged ${p.judged.toFixed(2)} presence ${p.scores.presence.toFixed(2)}`).join(', ')}\n`);
}

const metrics = ['presence', 'likelihood', 'projection'];
const rows = metrics.map((m) => {
  const per: number[] = [];
  for (const c of new Set(points.map((p) => p.concept))) {
    const ps = points.filter((p) => p.concept === c);
    const rho = spearman(ps.map((p) => p.scores[m]), ps.map((p) => p.judged));
    if (rho !== null && Number.isFinite(rho)) per.push(rho);
  }
  const within = per.reduce((a, b) => a + b, 0) / Math.max(1, per.length);
  const pooled = spearman(points.map((p) => p.scores[m]), points.map((p) => p.judged));
  return { metric: m, within, concepts: per.length, pooled };
});
const table = [
  `| concept score | Spearman ρ with the hand-written word lists, within a concept (mean over ${rows[0].concepts} concepts) | ρ over all ${points.length} (concept, strength) points |`,
  '|---|---:|---:|',
  ...rows.map((r) => `| ${r.metric} | ${r.within.toFixed(2)} | ${r.pooled === null ? '–' : r.pooled.toFixed(2)} |`),
].join('\n');
console.log(table);
fs.writeFileSync(path.join(suiteDir, 'metric-agreement.json'), `${JSON.stringify({ factors: FACTORS, stories: N, rows, points }, null, 2)}\n`);
fs.writeFileSync(path.join(suiteDir, 'metric-agreement.md'), `${table}\n`);
