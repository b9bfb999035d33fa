/**
 * How well ratings find the strength people prefer: simulated raters with a known preferred
 * strength c* (utility −k(c − c*)², logistic noise, ties within ±0.3; test/helpers/simulated-rater.ts)
 * rate blind pairs at random strengths; for each number of ratings, many simulated studies are
 * fitted (src/evals/rating-preference.ts) and we count how often the 95% interval holds c*, how
 * wide it is and how far the estimate lands. Also writes examples/ratings-simulated.jsonl, the
 * README's example ratings file. Run: npx tsx eval/ratings-calibration.ts [--studies N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { strengthPreference } from '../src/evals/rating-preference.js';
import { packageRoot } from '../src/util/shared-path.js';
import { peaked, simulatedRatings } from '../test/helpers/simulated-rater.js';

const { values } = parseArgs({ options: { studies: { type: 'string', default: '200' }, resamples: { type: 'string', default: '400' } } });
const STUDIES = Number(values.studies);
const RESAMPLES = Number(values.resamples);
const root = packageRoot();

const GRID = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const SCENARIOS = [
  { name: 'c* = 3.3, mild (k = 0.15)', cStar: 3.3, k: 0.15 },
  { name: 'c* = 3.3, sharp (k = 0.5)', cStar: 3.3, k: 0.5 },
  { name: 'c* = 6.5, near the top (k = 0.3)', cStar: 6.5, k: 0.3 },
];
const SIZES = [20, 40, 80, 160, 320];

interface Row {
  scenario: string;
  ratings: number;
  coverage: number;
  meanWidth: number;
  meanAbsError: number;
  atEdge: number;
  msPerFit: number;
}

const rows: Row[] = [];
for (const s of SCENARIOS) {
  const u = peaked(s.cStar, s.k);
  for (const n of SIZES) {
    let covered = 0;
    let width = 0;
    let error = 0;
    let edge = 0;
    const started = performance.now();
    for (let study = 0; study < STUDIES; study++) {
      const ratings = simulatedRatings({ vector: 'v', grid: GRID, ratings: n, seed: 10_000 * n + study, concept: u, coherence: u, tie: 0.3 });
      const p = strengthPreference(ratings, 'v', undefined, { seed: study, resamples: RESAMPLES });
      if (p.preferred === null || p.interval === null) throw new Error(`no fit: ${p.reason}`);
      if (p.interval[0] <= s.cStar && s.cStar <= p.interval[1]) covered++;
      width += p.interval[1] - p.interval[0];
      error += Math.abs(p.preferred - s.cStar);
      if (p.atEdge) edge++;
    }
    const row = { scenario: s.name, ratings: n, coverage: covered / STUDIES, meanWidth: width / STUDIES, meanAbsError: error / STUDIES, atEdge: edge / STUDIES, msPerFit: (performance.now() - started) / STUDIES };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}

const out = path.join(root, 'eval', 'results', 'ratings-calibration.json');
fs.writeFileSync(out, `${JSON.stringify({ studies: STUDIES, resamples: RESAMPLES, grid: GRID, tie: 0.3, rows }, null, 2)}\n`);
const table = [
  '| rater | ratings | 95% interval holds c* | mean width | mean abs. error | at an end |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.scenario} | ${r.ratings} | ${(100 * r.coverage).toFixed(1)}% | ${r.meanWidth.toFixed(2)} | ${r.meanAbsError.toFixed(2)} | ${(100 * r.atEdge).toFixed(0)}% |`),
];
fs.writeFileSync(path.join(root, 'eval', 'results', 'ratings-calibration.md'), `${table.join('\n')}\n`);
console.log(table.join('\n'));

// The README's example: 60 blind ratings of `sad` by a simulated person who likes ×5, in the shape POST /v1/ratings takes.
const likes5 = peaked(5, 0.15);
const example = simulatedRatings({ vector: 'sad', grid: [0, 2, 4, 6, 8, 10], ratings: 60, seed: 2024, concept: likes5, coherence: likes5, tie: 0.3 });
fs.writeFileSync(path.join(root, 'examples', 'ratings-simulated.jsonl'), `${example.map((r) => JSON.stringify(r)).join('\n')}\n`);
