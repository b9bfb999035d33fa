/**
 * "Vectors like this one": a library ranked by cosine similarity to one vector, averaged over
 * the layers both have. Vectors of another model (or with nothing in common) are listed as
 * skipped with the reason, not dropped in silence: a library mixes models.
 */
import { SteererError } from '../io/errors.js';
import { cosineSimilarity } from './vector-math.js';
import type { SteeringVector } from './vector.js';

export interface NamedVector {
  readonly name: string;
  readonly vector: SteeringVector;
}

export interface VectorLikeness {
  readonly name: string;
  /** Mean cosine over the shared layers. */
  readonly cosine: number;
  readonly layers: readonly { readonly layer: number; readonly cosine: number }[];
}

export interface SimilarVectors {
  /** Highest mean cosine first. */
  readonly similar: readonly VectorLikeness[];
  /** Lowest (most negative) mean cosine first: the library's opposites of this vector. */
  readonly opposite: readonly VectorLikeness[];
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
}

/** The `top` most similar and most opposite vectors of `library` to `target` (itself excluded by name). */
export function similarVectors(target: NamedVector, library: readonly NamedVector[], top = 5): SimilarVectors {
  const rated: VectorLikeness[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const { name, vector } of library) {
    if (name === target.name) continue;
    let perLayer: Map<number, number>;
    try {
      perLayer = cosineSimilarity(target.vector, vector);
    } catch (e) {
      // Another model, another width, a zero direction: not comparable, and the user is told why.
      if (!(e instanceof SteererError)) throw e;
      skipped.push({ name, reason: e.message });
      continue;
    }
    if (perLayer.size === 0) {
      skipped.push({ name, reason: 'no layer in common' });
      continue;
    }
    const layers = [...perLayer].map(([layer, cosine]) => ({ layer, cosine }));
    rated.push({ name, cosine: layers.reduce((s, l) => s + l.cosine, 0) / layers.length, layers });
  }
  const byCosine = [...rated].sort((a, b) => b.cosine - a.cosine || a.name.localeCompare(b.name));
  return {
    similar: byCosine.slice(0, top),
    opposite: [...byCosine].reverse().filter((v) => v.cosine < 0).slice(0, top),
    skipped,
  };
}
