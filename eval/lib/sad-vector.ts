import { pairsFromTexts } from '../../src/steering/contrast-pairs.js';
import { extractVector } from '../../src/steering/extract.js';
import type { HookedModel } from '../../src/runtime/model.js';
import type { SteeringVector } from '../../src/steering/vector.js';

/** 40 sentence pairs in TinyStories' own register, differing only in feeling (sad, happy). */
export function sadHappyPairs(): { positive: string; negative: string }[] {
  const subjects = ['Lily', 'Tom', 'Ben', 'Sue', 'The little dog', 'The cat', 'Mia', 'The bird', 'Max', 'Anna'];
  const sad = [
    'was very sad. She cried and cried because her toy was broken.',
    'felt alone and sad. Nobody wanted to play, and the day was gray.',
    'lost the red ball and started to cry. It was a bad, sad day.',
    'was sad because his friend moved away. He missed him very much.',
  ];
  const happy = [
    'was very happy. She laughed and laughed because her toy was fun.',
    'felt happy and loved. Everyone wanted to play, and the day was sunny.',
    'found the red ball and started to smile. It was a good, happy day.',
    'was happy because his friend came to visit. He liked him very much.',
  ];
  return subjects.flatMap((s) => sad.map((t, k) => ({ positive: `${s} ${t}`, negative: `${s} ${happy[k]}` })));
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
