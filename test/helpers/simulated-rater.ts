import { rng } from './prng.js';

/**
 * A simulated person rating blind A/B pairs of replies steered at different strengths: each
 * reply's worth is a known utility of its coefficient, and each question is answered by
 * comparing worths plus logistic noise (so P(A) = σ(u_A − u_B), the Bradley–Terry model), with a
 * tie when the noisy difference is within ±tie. Seeded; ratings come out in the shape
 * `POST /v1/ratings` takes.
 */
export interface SimulatedRaterOptions {
  readonly vector: string;
  /** Coefficients the replies are made at (0 = unsteered); two different ones per rating. */
  readonly grid: readonly number[];
  readonly ratings: number;
  readonly seed: number;
  /** Worth of a reply at coefficient c, per question. */
  readonly concept: (c: number) => number;
  readonly coherence: (c: number) => number;
  /** Half-width of the tie band on the noisy worth difference (0: no ties). */
  readonly tie?: number;
  readonly layer?: number;
}

/** The utility of a rater who wants strength cStar: −sharpness·(c − cStar)². */
export const peaked = (cStar: number, sharpness: number) => (c: number): number => -sharpness * (c - cStar) ** 2;

export interface SimulatedRating {
  prompt: string;
  seed: number;
  blind: boolean;
  concept: string;
  a: { text: string; steering: { version: 1; interventions: { vector: string; layers: number[]; coefficient: number }[] } | null };
  b: SimulatedRating['a'];
  preference: { concept: 'a' | 'b' | 'tie'; coherence: 'a' | 'b' | 'tie' };
}

export function simulatedRatings(o: SimulatedRaterOptions): SimulatedRating[] {
  const next = rng(o.seed);
  const logistic = (): number => {
    const u = Math.min(Math.max(next(), 1e-12), 1 - 1e-12);
    return Math.log(u / (1 - u));
  };
  const side = (c: number): SimulatedRating['a'] => ({
    text: c === 0 ? 'a plain reply' : `a reply steered at ${c}`,
    steering: c === 0 ? null : { version: 1, interventions: [{ vector: o.vector, layers: [o.layer ?? 1], coefficient: c }] },
  });
  const pick = (u: (c: number) => number, ca: number, cb: number): 'a' | 'b' | 'tie' => {
    const z = u(ca) - u(cb) + logistic();
    const tie = o.tie ?? 0;
    return z > tie ? 'a' : z < -tie ? 'b' : 'tie';
  };
  return Array.from({ length: o.ratings }, (_, i) => {
    const ia = Math.floor(next() * o.grid.length);
    let ib = Math.floor(next() * (o.grid.length - 1));
    if (ib >= ia) ib++;
    const [ca, cb] = [o.grid[ia], o.grid[ib]];
    return {
      prompt: `prompt ${i}`,
      seed: i,
      blind: true,
      concept: o.vector,
      a: side(ca),
      b: side(cb),
      preference: { concept: pick(o.concept, ca, cb), coherence: pick(o.coherence, ca, cb) },
    };
  });
}
