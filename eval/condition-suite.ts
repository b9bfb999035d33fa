/**
 * How well `vector condition fit` separates prompt sets it was not tuned on: for each of the six
 * RepE emotions, scenario prompts of that emotion (positive) against the same number drawn evenly
 * from the other five (negative), on both story models, reading the prompt's mean and its last
 * token. Every number is the held-out F1 of 5-fold cross-validation (direction and threshold
 * fitted without the fold), at the layer the fit chooses. No setting was tuned on these data.
 * Run: npx tsx eval/condition-suite.ts [--per-set N]   (writes eval/results/condition-suite.{json,md})
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { createRng } from '../src/runtime/rng.js';
import { fitCondition } from '../src/steering/condition-fit.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';

const { values } = parseArgs({ options: { 'per-set': { type: 'string', default: '100' } } });
const PER_SET = Number(values['per-set']);
const EMOTIONS = ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise'];
const MODELS = [
  ['tinystories-656k', sharedPath('models', 'tinystories-656k')],
  ['stories260k', sharedPath('models', 'stories260k', 'stories260K.bin')],
] as const;

const read = (e: string): string[] => JSON.parse(fs.readFileSync(sharedPath('data', 'repe', 'emotions', `${e}.json`), 'utf8')) as string[];
const shuffled = <T>(xs: readonly T[], seed: number): T[] => {
  const rng = createRng(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
};
const data = new Map(EMOTIONS.map((e, i) => [e, shuffled(read(e), 100 + i)]));

interface Row {
  model: string;
  emotion: string;
  reduce: 'mean' | 'last';
  layer: number;
  f1: number;
  accuracy: number;
  precision: number;
  recall: number;
  perLayer: number[];
}
const rows: Row[] = [];
for (const [name, file] of MODELS) {
  const model = new HookedModel(loadModel(file), { threads: 2 });
  for (const emotion of EMOTIONS) {
    const positives = data.get(emotion)!.slice(0, PER_SET);
    const others = EMOTIONS.filter((e) => e !== emotion);
    const per = Math.ceil(PER_SET / others.length);
    // Negatives from the far end of each list, so no prompt is on both sides of another emotion's row.
    const negatives = others.flatMap((e) => data.get(e)!.slice(-per)).slice(0, PER_SET);
    for (const reduce of ['mean', 'last'] as const) {
      const fit = await fitCondition(model, positives, negatives, { reduce, folds: 5, seed: 0 });
      rows.push({ model: name, emotion, reduce, ...fit.chosen, perLayer: fit.layers.map((l) => l.f1) });
      process.stderr.write(`${name} ${emotion} ${reduce}: layer ${fit.chosen.layer}, held-out F1 ${fit.chosen.f1.toFixed(3)}\n`);
    }
  }
  await model.dispose();
}

const outDir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'condition-suite.json'), `${JSON.stringify({ perSet: PER_SET, folds: 5, rows }, null, 2)}\n`);
const cell = (m: string, e: string, r: string): string => {
  const x = rows.find((o) => o.model === m && o.emotion === e && o.reduce === r)!;
  return `${x.f1.toFixed(2)} / ${x.accuracy.toFixed(2)} (L${x.layer})`;
};
const lines = [
  `| emotion vs the other five (${PER_SET} + ${PER_SET} prompts): held-out F1 / accuracy | ${MODELS.flatMap(([m]) => [`${m}, mean`, `${m}, last token`]).join(' | ')} |`,
  `|---|${MODELS.flatMap(() => ['---', '---']).join('|')}|`,
  ...EMOTIONS.map((e) => `| ${e} | ${MODELS.flatMap(([m]) => [cell(m, e, 'mean'), cell(m, e, 'last')]).join(' | ')} |`),
];
const mean = (m: string, r: string, k: 'f1' | 'accuracy'): string => (rows.filter((o) => o.model === m && o.reduce === r).reduce((s, o) => s + o[k], 0) / EMOTIONS.length).toFixed(2);
lines.push(`| **mean** | ${MODELS.flatMap(([m]) => (['mean', 'last'] as const).map((r) => `${mean(m, r, 'f1')} / ${mean(m, r, 'accuracy')}`)).join(' | ')} |`);
fs.writeFileSync(path.join(outDir, 'condition-suite.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
