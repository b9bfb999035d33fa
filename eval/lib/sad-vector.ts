import fs from 'node:fs';
import path from 'node:path';
import { pairsFromTexts } from '../../src/steering/contrast-pairs.js';
import { extractVector } from '../../src/steering/extract.js';
import type { HookedModel } from '../../src/runtime/model.js';
import type { SteeringVector } from '../../src/steering/vector.js';
import { packageRoot } from '../../src/util/shared-path.js';

/**
 * 40 sentence pairs in TinyStories' own register, differing only in feeling (sad, happy): the
 * README's examples/sad-vs-happy.jsonl, so the README's vector and the evals' are one.
 */
export function sadHappyPairs(): { positive: string; negative: string }[] {
  const file = path.join(packageRoot(), 'examples', 'sad-vs-happy.jsonl');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { positive: string; negative: string });
}

/** The evals' sad − happy diffmean vector for TinyStories. */
export async function sadMinusHappyVector(model: HookedModel): Promise<SteeringVector> {
  const dataset = pairsFromTexts(model, sadHappyPairs(), { source: 'eval (sad minus happy)' });
  return extractVector(model, dataset, { method: 'diffmean', read: 'mean', description: 'sad minus happy (TinyStories)' });
}

/** y at a given x along a curve of points (linear interpolation between neighbours; null outside). */
export function interpolate(points: readonly (readonly [number, number])[], x: number): number | null {
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if ((x0 <= x && x <= x1) || (x1 <= x && x <= x0)) return x1 === x0 ? y0 : y0 + ((x - x0) / (x1 - x0)) * (y1 - y0);
  }
  return null;
}
