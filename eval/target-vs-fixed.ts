/**
 * Target-level steering against fixed strength, on the concept suite's vectors. For each concept
 * vector (made by eval/concept-suite.ts, recommended layers and coefficient c from its metadata):
 *
 *   fixed   add k·c·v at the recommended layers             (a spec with "coefficient")
 *   target  hold the centred projection at least at k·c·|v|  (a spec with "target"; k = 1 is
 *           exactly "target": "recommended")
 *
 * for k in --levels (default 0.5, 0.75, 1, 1.25, 1.5, 2, 3), each also with position 0 (BOS) left
 * alone. The levels are fixed before any story is written: the same list for every concept and
 * both methods, scaled by the pipeline's own recommendation; nothing is tuned on any concept or on
 * the outcome. Every setting writes the suite's stories (prompt "Once upon a time", seeds
 * seed+1..seed+N, 128 tokens, temperature 0.8; N = 32 by default, twice the suite's 16, whose
 * seeds 1..16 are the first half), scored as the suite scores them: concept presence with the
 * hand-written word lists of eval/concepts/ (words per story), fluency as pooled perplexity under
 * the unsteered model, reported as a ratio to the unsteered stories of the same seeds.
 *
 * Run after the suite: npx tsx eval/target-vs-fixed.ts [--concepts a,b] [--levels 0.5,1,1.5]
 *   [--stories 32] [--seed 0] [--threads 2] [--resume]   (12.5 minutes on 2 busy cores; --resume
 *   keeps the concepts results.json has and rewrites the tables)
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateBatch } from '../src/decoding/generate.js';
import { openModel } from '../src/runtime/open-model.js';
import { scoreTokens } from '../src/runtime/score.js';
import { steeringHooks } from '../src/steering/resolve.js';
import { parseSteeringSpec, type SteeringSpecInput } from '../src/steering/spec.js';
import { loadVector } from '../src/steering/vector-file.js';
import { repetitionStats } from '../src/evals/repetition.js';
import { writeFileAtomic } from '../src/io/files.js';
import { lineChartSvg } from '../src/util/plot.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { allConcepts, conceptRegex, countConceptWords, loadConceptList } from './lib/concept-words.js';
import { duration, meanSe } from './lib/stats.js';

const writeText = (file: string, text: string): void => writeFileAtomic(file, (w) => w(new TextEncoder().encode(text)));

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-656k' },
    concepts: { type: 'string' },
    levels: { type: 'string', default: '0.5,0.75,1,1.25,1.5,2,3' },
    stories: { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
    resume: { type: 'boolean', default: false },
  },
});
const root = packageRoot();
const modelPath = sharedPath('models', values.model!);
const modelName = path.basename(modelPath);
const suiteDir = path.join(root, 'eval', 'results', 'concept-suite', modelName);
const outDir = path.join(root, 'eval', 'results', 'target-vs-fixed');
const concepts = values.concepts ? values.concepts.split(',').map((s) => s.trim()) : allConcepts();
const levels = values.levels!.split(',').map(Number);
const N = Number(values.stories);
const seeds = Array.from({ length: N }, (_, i) => Number(values.seed) + 1 + i);
const PROMPT = 'Once upon a time';
/** The suite's pass rule: ≥ 3× max(unsteered rate, 1/N) concept words per story, pooled perplexity ≤ 1.25× unsteered. */
const RATE_FACTOR = 3;
const PPL_LIMIT = 1.25;
/**
 * The arms. "not BOS" leaves position 0 alone: the BOS token is the attention sink, its activation
 * far from every other token's (2-6 token sd below the rest on most of these vectors, measured on
 * the prompt before any story was written), so lifting it to a content level moves it far more than
 * the fixed add does. Both methods are run with and without it, so the difference is not the method's.
 */
const ARMS = [
  { name: 'fixed', kind: 'fixed' },
  { name: 'target', kind: 'target' },
  { name: 'fixed (not BOS)', kind: 'fixed', positions: { from: 1 } },
  { name: 'target (not BOS)', kind: 'target', positions: { from: 1 } },
] as const;
type Arm = (typeof ARMS)[number]['name'];

const model = openModel(modelPath, { threads: Number(values.threads) });
const promptIds = model.encode(PROMPT);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Condition {
  readonly method: Arm | 'unsteered';
  readonly level: number;
  readonly rate: { mean: number; se: number };
  readonly storiesWithConcept: number;
  readonly pooledPerplexity: number;
  readonly pplRatio: number;
  readonly loops: number;
  readonly distinct2: number;
  /** Concept words in each story (the stories themselves are not kept: 32 × 29 settings × 32 stories is too much to commit). */
  readonly counts: readonly number[];
}

interface Written {
  readonly texts: string[];
  readonly tokens: (readonly number[])[];
  readonly nll: number;
  readonly count: number;
  readonly loops: number;
  readonly distinct2: number;
}

/** The stories of one setting, their total NLL under the unsteered model (given the prompt) and repetition. */
async function write(spec: SteeringSpecInput | null): Promise<Written> {
  const hooks = spec ? steeringHooks(model, parseSteeringSpec(spec), suiteDir) : [];
  const out = await generateBatch(model, seeds.map(() => promptIds), { maxTokens: 128, temperature: 0.8, seeds, hooks });
  let nll = 0;
  let count = 0;
  let loops = 0;
  let d2 = 0;
  for (const r of out) {
    const { logprobs } = await scoreTokens(model, [...promptIds, ...r.tokens]);
    for (let k = promptIds.length - 1; k < logprobs.length; k++) nll -= logprobs[k];
    count += r.tokens.length;
    const rep = repetitionStats(r.tokens);
    if (rep.longestRepeat >= 10 || rep.distinct2 < 0.75) loops++;
    d2 += rep.distinct2;
  }
  return { texts: out.map((r) => r.text), tokens: out.map((r) => r.tokens), nll, count, loops, distinct2: d2 / out.length };
}

function summarize(method: Condition['method'], level: number, w: Written, re: RegExp, basePpl: number): Condition {
  const counts = w.texts.map((t) => countConceptWords(t, re).count);
  const ppl = Math.exp(w.nll / w.count);
  return { method, level, rate: meanSe(counts), storiesWithConcept: counts.filter((c) => c > 0).length, pooledPerplexity: ppl, pplRatio: ppl / basePpl, loops: w.loops, distinct2: w.distinct2, counts };
}

interface ConceptResult {
  readonly concept: string;
  readonly layers?: readonly number[];
  readonly coefficient?: number;
  readonly error?: string;
  readonly conditions: readonly Condition[];
}

const resultsFile = path.join(outDir, 'results.json');
fs.mkdirSync(outDir, { recursive: true });
const previous: ConceptResult[] = values.resume && fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as { concepts: ConceptResult[] }).concepts : [];
const results = new Map<string, ConceptResult>(previous.filter((r) => !r.error).map((r) => [r.concept, r]));

const t0 = performance.now();
const elapsed = (): number => (performance.now() - t0) / 1000;
log(`target vs fixed: ${concepts.length} concepts × ${ARMS.length} arms × levels ${levels.join(', ')} × ${N} stories (${results.size} reused)`);
const base = await write(null);
const basePpl = Math.exp(base.nll / base.count);
log(`unsteered: perplexity ${basePpl.toFixed(2)} (${duration(elapsed())})`);

const save = (): void =>
  writeText(resultsFile, `${JSON.stringify({ model: modelName, createdAt: new Date().toISOString(), prompt: PROMPT, seeds, levels, basePerplexity: basePpl, concepts: concepts.flatMap((c) => results.get(c) ?? []) }, null, 2)}\n`);

let done = 0;
for (const concept of concepts) {
  if (results.has(concept)) continue;
  const tc = performance.now();
  const re = conceptRegex(loadConceptList(concept).words);
  const file = `vectors/${concept}.safetensors`;
  const unsteered = summarize('unsteered', 0, base, re, basePpl);
  try {
    const v = loadVector(path.join(suiteDir, file));
    const rec = v.meta.recommended;
    if (!rec?.layers?.length || rec.coefficient === undefined) throw new Error('the vector records no recommended layers and coefficient');
    const c = rec.coefficient;
    const norm = (l: number): number => Math.hypot(...v.directions.get(l)!);
    const conditions: Condition[] = [unsteered];
    for (const k of levels) {
      for (const arm of ARMS) {
        const positions = 'positions' in arm ? { positions: arm.positions } : {};
        // One intervention per layer, so each layer gets its own level k·c·|v_l|; k = 1 is the spec's "recommended".
        const interventions =
          arm.kind === 'target' && k === 1
            ? [{ vector: file, target: 'recommended' as const, ...positions }]
            : rec.layers.map((l) => ({ vector: file, layers: [l], ...positions, ...(arm.kind === 'fixed' ? { coefficient: k * c } : { target: k * c * norm(l) }) }));
        conditions.push(summarize(arm.name, k, await write({ interventions }), re, basePpl));
      }
    }
    results.set(concept, { concept, layers: rec.layers, coefficient: c, conditions });
  } catch (e) {
    results.set(concept, { concept, error: (e as Error).message, conditions: [unsteered] });
  }
  save();
  done++;
  const r = results.get(concept)!;
  const f = (x: number): string => x.toFixed(2);
  const line = r.conditions.slice(1).map((x) => `${x.method}×${x.level} ${f(x.rate.mean)} (ppl ×${f(x.pplRatio)})`).join(', ');
  const left = concepts.filter((x) => !results.has(x)).length;
  log(`[${results.size}/${concepts.length} ${concept}] unsteered ${f(unsteered.rate.mean)}; ${r.error ? `FAILED: ${r.error}` : line}; ${duration((performance.now() - tc) / 1000)}, elapsed ${duration(elapsed())}, ETA ${duration((elapsed() / done) * left)}`);
}
await model.dispose();

// ---------- table and plot ----------

const rows = concepts.flatMap((c) => results.get(c) ?? []);
const ok = rows.filter((r) => !r.error);
const names = ARMS.map((a) => a.name);
const cond = (r: ConceptResult, arm: Arm, k: number): Condition => r.conditions.find((x) => x.method === arm && x.level === k)!;
const baseRate = (r: ConceptResult): number => Math.max(r.conditions[0].rate.mean, 1 / N);
const passes = (r: ConceptResult, x: Condition): boolean => x.rate.mean >= RATE_FACTOR * baseRate(r) && x.pplRatio <= PPL_LIMIT;
/** An arm's best concept rate within the perplexity budget over its levels, and that level (null: none within budget). */
const bestWithin = (r: ConceptResult, arm: Arm): { rate: number; k: number } | null => {
  const xs = levels.map((k) => cond(r, arm, k)).filter((x) => x.pplRatio <= PPL_LIMIT);
  return xs.length ? xs.reduce((a, x) => (x.rate.mean > a.rate ? { rate: x.rate.mean, k: x.level } : a), { rate: -1, k: 0 }) : null;
};
const f2 = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toFixed(2));
/** Pairwise: how often a beats b on the best rate within budget, and the mean difference over concepts where both have one. */
function pairwise(a: Arm, b: Arm): string {
  let [wa, wb, tie, none] = [0, 0, 0, 0];
  const gaps: number[] = [];
  for (const r of ok) {
    const [x, y] = [bestWithin(r, a), bestWithin(r, b)];
    if (!x && !y) none++;
    else if (!y || (x && x.rate > y.rate)) wa++;
    else if (!x || y.rate > x.rate) wb++;
    else tie++;
    if (x && y) gaps.push(x.rate - y.rate);
  }
  const g = meanSe(gaps);
  return `| ${a} vs ${b} | ${wa} | ${wb} | ${tie} | ${none} | ${f2(g.mean)} ± ${f2(g.se)} (${gaps.length}) |`;
}
const perConcept = ok.map((r) => {
  const best = names.map((n) => bestWithin(r, n));
  const [f, t] = [best[names.indexOf('fixed')], best[names.indexOf('target')]];
  const winner = !f && !t ? 'neither within budget' : !t || (f && f.rate > t.rate) ? 'fixed' : !f || t.rate > f.rate ? 'target' : 'tie';
  return { r, best, winner };
});
const summaryRows = names.flatMap((arm) =>
  levels.map((k) => {
    const xs = ok.map((r) => cond(r, arm, k));
    return { arm, k, rate: meanSe(xs.map((x) => x.rate.mean)), ratio: meanSe(xs.map((x) => x.pplRatio)), passes: ok.filter((r) => passes(r, cond(r, arm, k))).length, loops: xs.reduce((a, x) => a + x.loops, 0) };
  }),
);
const unsteeredRate = meanSe(ok.map((r) => r.conditions[0].rate.mean));
const failed = rows.filter((r) => r.error);
const lines = [
  `# Target-level vs fixed-strength steering (${modelName}, ${ok.length} of ${concepts.length} concepts${failed.length ? `, ${failed.length} failed` : ''})`,
  '',
  `${N} stories per setting ("${PROMPT}", seeds ${seeds[0]}..${seeds[N - 1]}, 128 tokens, temperature 0.8); k scales the vector's recommended coefficient c: fixed adds k·c·v at the recommended layers, target holds the centred projection at least at k·c·|v| there (k = 1: "target": "recommended"); "not BOS" arms leave position 0 alone. Unsteered perplexity ${basePpl.toFixed(2)}; the same unsteered stories for every concept.`,
  '',
  `| arm | k | concept words/story (mean over concepts ± SE) | perplexity ratio (mean ± SE) | concepts passing (≥ ${RATE_FACTOR}× rate, ppl ≤ ${PPL_LIMIT}) | looping stories (of ${ok.length * N}) |`,
  '|---|---:|---|---|---:|---:|',
  `| unsteered | 0 | ${f2(unsteeredRate.mean)} ± ${f2(unsteeredRate.se)} | 1 | – | ${base.loops * ok.length} |`,
  ...summaryRows.map((x) => `| ${x.arm} | ${x.k} | ${f2(x.rate.mean)} ± ${f2(x.rate.se)} | ${x.ratio.mean.toFixed(3)} ± ${x.ratio.se.toFixed(3)} | ${x.passes} | ${x.loops} |`),
  '',
  `Per concept, each arm's best words/story within perplexity ≤ ${PPL_LIMIT}× over its levels, compared in pairs (on layer-1-only vectors the "not BOS" arms write the same stories as the others: in this 2-layer model nothing reads position 0's last-layer output):`,
  '',
  '| pair (a vs b) | a wins | b wins | tie | neither within budget | a − b, words/story (mean ± SE over concepts where both are within budget) |',
  '|---|---:|---:|---:|---:|---|',
  pairwise('target', 'fixed'),
  pairwise('target (not BOS)', 'fixed (not BOS)'),
  pairwise('target (not BOS)', 'fixed'),
  pairwise('fixed (not BOS)', 'fixed'),
  pairwise('target (not BOS)', 'target'),
  '',
  `| concept | c | layers | unsteered | ${names.map((n) => `${n}: best within budget (k)`).join(' | ')} | target vs fixed |`,
  `|---|---:|---|---:|${names.map(() => '---|').join('')}---|`,
  ...perConcept.map(({ r, best, winner }) => `| ${r.concept} | ${f2(r.coefficient)} | ${r.layers!.join(',')} | ${f2(r.conditions[0].rate.mean)} | ${best.map((b) => (b ? `${f2(b.rate)} (${b.k})` : '–')).join(' | ')} | ${winner} |`),
  '',
  'Every setting of every concept (words/story and per story, perplexity ratio, loops): results.json.',
  ...(failed.length ? ['', '## Failures', '', ...failed.map((r) => `- ${r.concept}: ${r.error}`)] : []),
];
writeText(path.join(outDir, 'table.md'), `${lines.join('\n')}\n`);
const svg = await lineChartSvg({
  title: `Target vs fixed (${modelName}, ${ok.length} concepts): mean over concepts at k = ${levels.filter((k) => k <= 2).join(', ')}`,
  xLabel: 'perplexity ratio under the unsteered model',
  yLabel: 'concept words per story',
  series: names.map((arm) => ({ name: arm, points: [[1, unsteeredRate.mean] as const, ...summaryRows.filter((x) => x.arm === arm && x.k <= 2).map((x) => [x.ratio.mean, x.rate.mean] as const)] })),
});
writeText(path.join(outDir, 'plot.svg'), svg);
console.log(lines.slice(0, 8 + summaryRows.length + 12).join('\n'));
log(`wrote ${path.relative(root, outDir)}/results.json, table.md, plot.svg (${duration(elapsed())})`);
