/**
 * Concept oracle: how far could the one-click pipeline's vectors go if it chose perfectly?
 *
 * For each concept, the vectors the pipeline can make (its default sources, through its quality
 * gate: all data, minimal pairs alone, continuations alone) are tried at every layer alone and at
 * all layers together, at relative strengths on a grid of √2 factors (|c·v| = r × the layer's mean
 * residual norm). Every setting is judged the way the concept suite judges the pipeline's choice
 * (eval/concept-suite.ts): 16 stories from "Once upon a time" on the suite's seeds, held-out word
 * lists (eval/concepts/), pooled perplexity under the unsteered model, distinct-2 within 0.1 of the
 * unsteered stories'. The setting with the most list words within budget is the oracle's choice,
 * made with the answer key on the very stories it is scored on: an optimistic upper bound on
 * what any strength rule could reach with these vectors. That choice is then re-measured on 16
 * fresh seeds, to show how much of it was luck.
 *
 * Run: npx tsx eval/concept-oracle.ts [--model tinystories-656k] [--concepts a,b] [--threads 2] [--out DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openModel } from '../src/index.js';
import { buildLexicon } from '../src/concept/lexicon-build.js';
import { pairSourceItems } from '../src/concept/pair-source.js';
import { gateItems } from '../src/concept/quality-gate.js';
import type { ConceptItem } from '../src/concept/concept-data.js';
import { pairsFromPrompted } from '../src/steering/contrast-pairs.js';
import { extractVector } from '../src/steering/extract.js';
import { addVector } from '../src/steering/operators.js';
import { StoryTrial, type TrialOutcome } from '../src/auto/story-trial.js';
import type { ConceptScorer } from '../src/evals/concept-score.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { allConcepts, conceptRegex, countConceptWords, loadConceptList } from './lib/concept-words.js';
import { duration } from './lib/stats.js';

/** The suite's pass rule (eval/concept-suite.ts). */
const RATE_FACTOR = 3;
const PPL_LIMIT = 1.25;
const MAX_DISTINCT2_DROP = 0.1;
const RELATIVE = [0.18, 0.25, 0.35, 0.5, 0.71, 1.0];

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-656k' },
    concepts: { type: 'string' },
    threads: { type: 'string', default: '2' },
    stories: { type: 'string', default: '16' },
    out: { type: 'string' },
  },
});
const modelPath = fs.existsSync(values.model!) ? path.resolve(values.model!) : sharedPath('models', values.model!);
const modelName = path.basename(modelPath);
const N = Number(values.stories);
if (!Number.isInteger(N) || N < 2) throw new Error('--stories must be an integer ≥ 2');
const concepts = values.concepts ? values.concepts.split(',').map((s) => s.trim()).filter(Boolean) : allConcepts();
const outDir = path.resolve(values.out ?? path.join(packageRoot(), 'eval', 'results', 'concept-suite', modelName));
fs.mkdirSync(outDir, { recursive: true });
const model = openModel(modelPath, { threads: Number(values.threads) });
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Setting {
  readonly variant: string;
  readonly layers: readonly number[];
  readonly relative: number;
}
interface Measured extends Setting {
  readonly rate: number;
  readonly rateSe: number;
  readonly pplRatio: number;
  readonly distinct2: number;
  readonly withinBudget: boolean;
  readonly passes: boolean;
}
interface Row {
  readonly concept: string;
  readonly baseRate: number;
  readonly target: number;
  readonly settings: number;
  readonly passing: number;
  readonly best: Measured | null;
  readonly bestFresh: { rate: number; pplRatio: number; passes: boolean; target: number } | null;
}

const rows: Row[] = [];
const t0 = performance.now();
for (const [ci, concept] of concepts.entries()) {
  const list = loadConceptList(concept);
  const re = conceptRegex(list.words);
  const scorer: ConceptScorer = { metric: 'presence', score: async (os) => os.map((o) => countConceptWords(o.text, re).count) };
  const probeAt = (seed: number): StoryTrial => new StoryTrial(model, scorer, [], { prompts: Array<string>(N).fill('Once upon a time'), seed });
  const suiteProbe = probeAt(1);
  const freshProbe = probeAt(1 + N);

  // The pipeline's default sources for a story model, same counts and seeds, through its gate.
  const lex = buildLexicon(concept);
  const bySource: Record<string, ConceptItem[]> = {};
  for (const [k, kind] of (['pairs', 'continuations'] as const).entries()) {
    const items = await pairSourceItems(model, lex, { kind, count: 48, seed: 7919 * k });
    bySource[kind] = gateItems(items, lex, kind, { positiveSetUp: kind === 'continuations' }).kept;
  }
  const variants: Record<string, ConceptItem[]> = { all: [...bySource.pairs, ...bySource.continuations], ...bySource };

  const judge = (o: TrialOutcome, base: TrialOutcome, target: number): { withinBudget: boolean; passes: boolean } => {
    const withinBudget = o.pplRatio.mean <= PPL_LIMIT && o.distinct2 >= base.distinct2 - MAX_DISTINCT2_DROP;
    return { withinBudget, passes: withinBudget && o.presence.mean >= target };
  };
  const base = await suiteProbe.unsteered();
  const target = RATE_FACTOR * Math.max(base.presence.mean, 1 / N);
  const measured: Measured[] = [];
  const hooksFor: Map<Measured, ReturnType<typeof hooks>> = new Map();
  function hooks(dirs: ReadonlyMap<number, Float32Array>, norms: ReadonlyMap<number, number>, s: Setting) {
    // Spread over several layers, each gets 1/√k of the strength (the pipeline's multi-layer rule).
    return s.layers.map((l) => ({
      kind: 'intervene' as const,
      at: { layer: l, site: 'resid_post' as const },
      intervention: addVector(dirs.get(l)!, { scale: s.relative / norms.get(l)! / Math.sqrt(s.layers.length) }),
    }));
  }
  for (const [variant, items] of Object.entries(variants)) {
    if (items.length < 8) continue;
    const ds = pairsFromPrompted(model, items, { chat: false, tooLong: 'skip' });
    const vec = await extractVector(model, ds, { method: 'diffmean', site: 'resid_post', read: 'mean' });
    const norms = new Map((vec.meta.diagnostics ?? []).map((d) => [d.layer, d.relativeNorm!]));
    const layerSets = [...[...Array(model.spec.numLayers).keys()].map((l) => [l]), [...Array(model.spec.numLayers).keys()]];
    for (const layers of layerSets) {
      for (const relative of RELATIVE) {
        const s: Setting = { variant, layers, relative };
        const h = hooks(vec.directions, norms, s);
        const o = await suiteProbe.run(h);
        const m: Measured = { ...s, rate: o.presence.mean, rateSe: o.presence.se, pplRatio: o.pplRatio.mean, distinct2: o.distinct2, ...judge(o, base, target) };
        measured.push(m);
        hooksFor.set(m, h);
      }
    }
  }
  const inBudget = measured.filter((m) => m.withinBudget);
  const best = inBudget.length ? inBudget.reduce((a, b) => (b.rate > a.rate ? b : a)) : null;
  let bestFresh: Row['bestFresh'] = null;
  if (best) {
    const fb = await freshProbe.unsteered();
    const ft = RATE_FACTOR * Math.max(fb.presence.mean, 1 / N);
    const fo = await freshProbe.run(hooksFor.get(best)!);
    bestFresh = { rate: fo.presence.mean, pplRatio: fo.pplRatio.mean, target: ft, passes: judge(fo, fb, ft).passes };
  }
  const row: Row = { concept, baseRate: base.presence.mean, target, settings: measured.length, passing: measured.filter((m) => m.passes).length, best, bestFresh };
  rows.push(row);
  const elapsed = (performance.now() - t0) / 1000;
  log(
    `[${ci + 1}/${concepts.length}] ${concept}: ${row.passing}/${row.settings} settings pass; best within budget ` +
      (best ? `${best.variant} L${best.layers.join(',')} r${best.relative}: ${best.rate.toFixed(2)} (target ${target.toFixed(2)}) ppl×${best.pplRatio.toFixed(2)}` : 'none') +
      ` · ${duration(elapsed)} elapsed, ETA ${duration((elapsed / (ci + 1)) * (concepts.length - ci - 1))}`,
  );
}

const oraclePasses = rows.filter((r) => r.passing > 0).length;
const freshPasses = rows.filter((r) => r.bestFresh?.passes).length;
const f = (x: number): string => x.toFixed(2);
const md = [
  `# Concept oracle: ${modelName}`,
  '',
  `The best setting of the pipeline's own vectors (variant × layers × strength, ${rows[0]?.settings ?? 0} settings per concept), chosen with the held-out word lists on the suite's stories (seeds 1-${N}); then the same setting on fresh seeds (${N + 1}-${2 * N}). Pass: ≥ ${RATE_FACTOR}× the unsteered rate (at least ${RATE_FACTOR} words in ${N} stories), perplexity ratio ≤ ${PPL_LIMIT}, distinct-2 within ${MAX_DISTINCT2_DROP}.`,
  '',
  `**Concepts with at least one passing setting: ${oraclePasses} of ${rows.length}.** The oracle's choice passes again on fresh seeds for ${freshPasses} of ${rows.length}.`,
  '',
  '| concept | unsteered words/story | target | passing settings | best within budget (variant, layers, r) | words/story | ppl ratio | fresh seeds: words/story (target) | fresh ppl ratio | fresh pass |',
  '|---|---:|---:|---:|---|---:|---:|---|---:|:-:|',
  ...rows.map((r) =>
    `| ${r.concept} | ${f(r.baseRate)} | ${f(r.target)} | ${r.passing}/${r.settings} | ${r.best ? `${r.best.variant}, ${r.best.layers.join('+')}, ${r.best.relative}` : '—'} | ${r.best ? f(r.best.rate) : '—'} | ${r.best ? f(r.best.pplRatio) : '—'} | ${r.bestFresh ? `${f(r.bestFresh.rate)} (${f(r.bestFresh.target)})` : '—'} | ${r.bestFresh ? f(r.bestFresh.pplRatio) : '—'} | ${r.bestFresh?.passes ? '✓' : '✗'} |`,
  ),
  '',
].join('\n');
fs.writeFileSync(path.join(outDir, 'oracle.md'), md);
fs.writeFileSync(path.join(outDir, 'oracle.json'), `${JSON.stringify({ format: 'steerer.concept-oracle/1', model: modelName, stories: N, relative: RELATIVE, rows }, null, 1)}\n`);
log(`oracle: ${oraclePasses}/${rows.length} concepts have a passing setting; ${freshPasses}/${rows.length} pass again on fresh seeds → ${path.join(outDir, 'oracle.md')}`);
