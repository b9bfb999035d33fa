/**
 * Contrastive decoding of steered vs unsteered runs on TinyStories-656K: does
 *   logits = unsteered + α · (steered − unsteered), with the plausibility cut,
 * reach plain steering's concept effect at a lower perplexity under the unsteered model?
 *
 * Concept effect: the mean AFINN sentiment shift of N seeded stories (the npm `sentiment`
 * lexicon, independent of the model) and the share of stories that say "sad". Plain steering
 * is swept over coefficients; contrastive decoding over (coefficient, α, where the cut is
 * taken). Each contrastive point is compared with plain steering's perplexity at the same
 * sentiment shift (linear interpolation along the plain curve).
 *
 * Run: npx tsx eval/contrast-decoding.ts [--stories 48] [--layer 1]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Sentiment from 'sentiment';
import { compileDecoding, DecodingSchema } from '../src/decoding/decoding-spec.js';
import { generateBatch } from '../src/decoding/generate.js';
import type { DecodingPlan } from '../src/decoding/plan.js';
import { coherence } from '../src/evals/coherence.js';
import { loadModel } from '../src/model/load.js';
import { lineChartSvg } from '../src/util/plot.js';
import type { Hook } from '../src/runtime/hooks.js';
import { HookedModel } from '../src/runtime/model.js';
import { addVector } from '../src/steering/operators.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { interpolate, sadMinusHappyVector } from './lib/sad-vector.js';

const { values } = parseArgs({ options: { stories: { type: 'string', default: '48' }, layer: { type: 'string', default: '1' }, tokens: { type: 'string', default: '80' } } });
const N = Number(values.stories);
const LAYER = Number(values.layer);
const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 2 });
const direction = (await sadMinusHappyVector(model)).directions.get(LAYER)!;
const lexicon = new Sentiment();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

interface Point {
  readonly label: string;
  readonly coefficient: number;
  readonly alpha?: number;
  readonly cutUnder?: string;
  readonly afinn: number;
  readonly sadRate: number;
  readonly perplexity: number;
  readonly distinct2: number;
  readonly sample: string;
}

async function run(label: string, coefficient: number, decoding?: DecodingPlan, extra: Partial<Point> = {}): Promise<Point> {
  const hooks: Hook[] = coefficient === 0 ? [] : [{ kind: 'intervene', at: { layer: LAYER, site: 'resid_post' }, intervention: addVector(direction, { scale: coefficient }) }];
  const out = await generateBatch(model, Array(N).fill('Once upon a time'), { hooks, decoding, temperature: 0.8, topP: 0.95, seed: 1000, maxTokens: Number(values.tokens) });
  const coh = await coherence(model, out);
  const p: Point = {
    label,
    coefficient,
    ...extra,
    afinn: out.reduce((a, o) => a + lexicon.analyze(o.text).comparative, 0) / N,
    sadRate: out.filter((o) => /\bsad\b/i.test(o.text)).length / N,
    perplexity: coh.perplexity,
    distinct2: coh.distinct2,
    sample: `Once upon a time${out[0].text}`.slice(0, 160),
  };
  log(`${label}: AFINN ${p.afinn.toFixed(3)}, "sad" in ${(p.sadRate * 100).toFixed(0)} %, ppl ${p.perplexity.toFixed(2)}, distinct-2 ${p.distinct2.toFixed(2)}`);
  return p;
}

const base = await run('unsteered', 0);
const plain: Point[] = [];
for (const c of [1, 2, 3, 4, 5, 6]) plain.push(await run(`plain c=${c}`, c));
const contrast: Point[] = [];
for (const cutUnder of ['expert', 'amateur'] as const) {
  for (const c of [1, 2, 3]) {
    for (const alpha of [2, 3]) {
      const decoding = compileDecoding(DecodingSchema.parse({ contrast: { alpha, plausibility: 0.1, cutUnder } }), model, {});
      contrast.push(await run(`contrast c=${c} α=${alpha} cut=${cutUnder}`, c, decoding, { alpha, cutUnder }));
    }
  }
}

const shift = (p: Point): number => base.afinn - p.afinn;
// Plain steering's curve in coefficient order, up to where the shift turns back (coherence
// breaks and the lexicon stops seeing sentiment): the part that can be interpolated.
const ordered = [base, ...plain];
let end = 1;
while (end < ordered.length && shift(ordered[end]) > shift(ordered[end - 1])) end++;
const rising = ordered.slice(0, end);
const along = (y: (p: Point) => number, x: number): number | null => interpolate(rising.map((p) => [shift(p), y(p)] as const), x);
const rows = contrast.map((p) => ({ ...p, shift: shift(p), plainPerplexity: along((q) => q.perplexity, shift(p)), plainDistinct2: along((q) => q.distinct2, shift(p)) }));
const fmt = (x: number | null, d = 2): string => (x === null ? '—' : x.toFixed(d));
const table = [
  '| method | AFINN shift | "sad" stories | perplexity (unsteered model) | distinct-2 | plain steering at the same shift: perplexity, distinct-2 |',
  '|---|---:|---:|---:|---:|---:|',
  `| unsteered | 0 | ${(base.sadRate * 100).toFixed(0)} % | ${fmt(base.perplexity)} | ${fmt(base.distinct2)} | |`,
  ...plain.map((p) => `| plain c=${p.coefficient} | ${fmt(shift(p), 3)} | ${(p.sadRate * 100).toFixed(0)} % | ${fmt(p.perplexity)} | ${fmt(p.distinct2)} | |`),
  ...rows.map(
    (r) =>
      `| contrast c=${r.coefficient} α=${r.alpha}, cut under ${r.cutUnder} | ${fmt(r.shift, 3)} | ${(r.sadRate * 100).toFixed(0)} % | ${fmt(r.perplexity)} | ${fmt(r.distinct2)} | ${fmt(r.plainPerplexity)}, ${fmt(r.plainDistinct2)} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);

const series = (name: string, pts: Point[]) => ({ name, points: [[0, base.perplexity] as [number, number], ...pts.map((p) => [shift(p), p.perplexity] as [number, number])] });
const svg = await lineChartSvg({
  title: 'TinyStories sad vector: plain steering vs contrastive decoding',
  xLabel: 'AFINN shift (unsteered − steered)',
  yLabel: 'perplexity under the unsteered model',
  series: [
    series('plain steering (c = 1..6)', plain),
    ...(['expert', 'amateur'] as const).flatMap((cut) => [2, 3].map((alpha) => series(`contrast α=${alpha}, cut under ${cut} (c = 1..3)`, rows.filter((r) => r.alpha === alpha && r.cutUnder === cut)))),
  ],
});
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'contrast-decoding.svg'), svg);
fs.writeFileSync(path.join(dir, 'contrast-decoding.json'), `${JSON.stringify({ date: new Date().toISOString(), stories: N, layer: LAYER, base, plain, contrast: rows }, null, 2)}\n`);
await model.dispose();
