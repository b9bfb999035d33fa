/**
 * Which units should a projection target be given in: raw x·u, or centred (x − μ)·u with μ the
 * vector's stored mean activation of its data? For every concept-suite vector and each of its
 * recommended layers, the projections of the suite's own stories are read: the unsteered
 * "Once upon a time" stories and the stories from the concept's prompting opening (a context
 * where the concept is present). A target number "transfers" when it means the same thing for
 * every vector and layer: where typical text sits should not depend on the vector. Within one
 * vector and layer the two units differ by the constant μ·u, so spreads and context-to-context
 * shifts are identical in both; what differs is where 0 is.
 *
 * Also: how much the target op would add on average at the recommended target t = c·|v|,
 * against the c·|v| the fixed add gives every token, and how many tokens it leaves alone.
 *
 * Run after the suite: npx tsx eval/target-units.ts [--model tinystories-656k]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openModel } from '../src/runtime/open-model.js';
import { loadVector } from '../src/steering/vector-file.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { meanSe } from './lib/stats.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'tinystories-656k' }, threads: { type: 'string', default: '2' } } });
const root = packageRoot();
const modelPath = sharedPath('models', values.model!);
const suiteDir = path.join(root, 'eval', 'results', 'concept-suite', path.basename(modelPath));
const suite = JSON.parse(fs.readFileSync(path.join(suiteDir, 'results.json'), 'utf8')) as SuiteResults;
const model = openModel(modelPath, { threads: Number(values.threads) });

interface StoryTokens {
  readonly tokens: readonly number[];
  readonly promptTokens: number;
  readonly text: string;
}
interface SuiteResults {
  readonly basePrompt: string;
  readonly unsteered: { readonly stories: readonly StoryTokens[] };
  readonly concepts: readonly { readonly concept: string; readonly prompted: { readonly prompt: string; readonly stories: readonly StoryTokens[] } }[];
}

/** Activations of the generated tokens of each story at the given layers: layer → rows [n, D]. */
async function storyRows(prompt: string, stories: readonly StoryTokens[], layers: readonly number[]): Promise<Map<number, Float32Array[]>> {
  const D = model.spec.hiddenSize;
  const promptIds = model.encode(prompt);
  const out = new Map<number, Float32Array[]>(layers.map((l) => [l, []]));
  for (const st of stories) {
    const ids = [...promptIds, ...st.tokens];
    const hooks = layers.map((l) => ({ kind: 'capture' as const, at: `blocks.${l}.hook_resid_post` }));
    const r = await model.forward({ tokens: [ids], hooks, logits: 'none' });
    for (const l of layers) {
      const data = r.captures.get(`blocks.${l}.hook_resid_post`)!.data;
      for (let p = promptIds.length; p < ids.length; p++) out.get(l)!.push(data.slice(p * D, (p + 1) * D));
    }
  }
  return out;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

interface Row {
  concept: string;
  layer: number;
  norm: number;
  /** μ·u: the raw projection of the data mean. */
  meanOffset: number;
  /** Unsteered story tokens: mean and sd of the raw projection. */
  unsteeredRaw: number;
  sd: number;
  promptedRaw: number;
  coefficient: number;
  /** Mean of max(0, t − s) over unsteered tokens at t = c·|v| (centred), and the share of tokens at or above t. */
  meanLift: number;
  alreadyAbove: number;
  /** Share of the total lift that goes to the 10 % of tokens lifted most (the fixed add: 10 %). */
  topDecileShare: number;
}

const rows: Row[] = [];
const allLayers = Array.from({ length: model.spec.numLayers }, (_, l) => l);
const unsteered = await storyRows(suite.basePrompt, suite.unsteered.stories, allLayers);
for (const c of suite.concepts) {
  const file = path.join(suiteDir, 'vectors', `${c.concept}.safetensors`);
  if (!fs.existsSync(file)) continue;
  const v = loadVector(file);
  const rec = v.meta.recommended;
  if (!rec?.layers?.length || rec.coefficient === undefined) continue;
  const prompted = await storyRows(c.prompted.prompt, c.prompted.stories, rec.layers);
  for (const layer of rec.layers) {
    const dir = v.directions.get(layer)!;
    const norm = Math.sqrt(dot(dir, dir));
    const u = dir.map((x) => x / norm);
    const offset = dot(v.means!.get(layer)!, u);
    const s = unsteered.get(layer)!.map((x) => dot(x, u));
    const stats = meanSe(s);
    const sd = stats.se * Math.sqrt(stats.n);
    const t = rec.coefficient * norm;
    const lifts = s.map((x) => Math.max(0, t - (x - offset)));
    rows.push({
      concept: c.concept,
      layer,
      norm,
      meanOffset: offset,
      unsteeredRaw: stats.mean,
      sd,
      promptedRaw: meanSe(prompted.get(layer)!.map((x) => dot(x, u))).mean,
      coefficient: rec.coefficient,
      meanLift: meanSe(lifts).mean,
      alreadyAbove: lifts.filter((x) => x === 0).length / lifts.length,
      topDecileShare: [...lifts].sort((a, b) => b - a).slice(0, Math.ceil(lifts.length / 10)).reduce((a, x) => a + x, 0) / lifts.reduce((a, x) => a + x, 0),
    });
  }
  process.stderr.write(`${c.concept} `);
}
process.stderr.write('\n');
await model.dispose();

const f = (x: number, d = 2): string => x.toFixed(d);
const spread = (xs: number[]): { mean: number; sd: number; rms: number } => {
  const m = meanSe(xs);
  return { mean: m.mean, sd: m.se * Math.sqrt(m.n), rms: Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length) };
};
// Where typical (unsteered) text sits, in units of the tokens' own spread, per vector and layer.
const rawZ = spread(rows.map((r) => r.unsteeredRaw / r.sd));
const cenZ = spread(rows.map((r) => (r.unsteeredRaw - r.meanOffset) / r.sd));
// ... and in units of the vector's length (how far one coefficient unit moves a token).
const rawV = spread(rows.map((r) => r.unsteeredRaw / r.norm));
const cenV = spread(rows.map((r) => (r.unsteeredRaw - r.meanOffset) / r.norm));
const shift = spread(rows.map((r) => (r.promptedRaw - r.unsteeredRaw) / r.sd));
const liftRatio = spread(rows.map((r) => r.meanLift / (r.coefficient * r.norm)));
const above = spread(rows.map((r) => r.alreadyAbove));
const top = spread(rows.map((r) => r.topDecileShare));
const tOverSd = spread(rows.map((r) => (r.coefficient * r.norm) / r.sd));

const lines = [
  `# Target units: raw x·u or centred (x − μ)·u (${path.basename(modelPath)}, ${rows.length} vector-layers of ${new Set(rows.map((r) => r.concept)).size} concept-suite vectors)`,
  '',
  'Unsteered "Once upon a time" story tokens (the suite\'s 16 stories), projected on each vector\'s unit direction u at each recommended layer.',
  '',
  '| where unsteered text sits | raw x·u | centred (x − μ)·u |',
  '|---|---:|---:|',
  `| in token sd: mean over vector-layers (sd across them) | ${f(rawZ.mean)} (${f(rawZ.sd)}) | ${f(cenZ.mean)} (${f(cenZ.sd)}) |`,
  `| in token sd: root mean square (0 = every vector agrees on "typical") | ${f(rawZ.rms)} | ${f(cenZ.rms)} |`,
  `| in |v|: mean (sd across) | ${f(rawV.mean)} (${f(rawV.sd)}) | ${f(cenV.mean)} (${f(cenV.sd)}) |`,
  '',
  `Context shift (the concept's prompted stories minus unsteered, in token sd): mean ${f(shift.mean)} (sd ${f(shift.sd)}), the same in both units by construction.`,
  '',
  `At the recommended target t = c·|v| (centred), the target op adds on average ${f(liftRatio.mean)}× (sd ${f(liftRatio.sd)}) what the fixed add c·v adds to every token, and leaves ${f(100 * above.mean, 0)} % (sd ${f(100 * above.sd, 0)}) of unsteered tokens alone; the 10 % of tokens lifted most get ${f(100 * top.mean, 0)} % (sd ${f(100 * top.sd, 0)}) of the total lift (the fixed add: 10 %). The recommended level is ${f(tOverSd.mean)} (sd ${f(tOverSd.sd)}) token sd above the data mean: the projection varies from token to token about as much as the whole steering moves it.`,
  '',
  '| concept | layer | \\|v\\| | μ·u | unsteered raw mean ± sd | prompted raw mean | centred unsteered mean | t = c·\\|v\\| | mean lift / c·\\|v\\| | tokens ≥ t |',
  '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.concept} | ${r.layer} | ${f(r.norm)} | ${f(r.meanOffset)} | ${f(r.unsteeredRaw)} ± ${f(r.sd)} | ${f(r.promptedRaw)} | ${f(r.unsteeredRaw - r.meanOffset)} | ${f(r.coefficient * r.norm)} | ${f(r.meanLift / (r.coefficient * r.norm))} | ${f(100 * r.alreadyAbove, 0)} % |`),
];
const outDir = path.join(root, 'eval', 'results', 'target-vs-fixed');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'units.md'), `${lines.join('\n')}\n`);
fs.writeFileSync(path.join(outDir, 'units.json'), `${JSON.stringify({ rows, summary: { rawZ, cenZ, rawV, cenV, shift, liftRatio, above, top, tOverSd } }, null, 2)}\n`);
console.log(lines.slice(0, 13).join('\n'));
