/**
 * What a steering vector means, from three independent readings:
 *
 * - the tokens each layer's direction promotes and suppresses through the unembedding (logit
 *   lens: direction-logits.ts);
 * - the passages of an activation index's texts that read highest and lowest along the direction,
 *   at the index's layer (passages.ts), when an index is given;
 * - the vectors of a library most like it and most opposite to it (cosine across layers).
 *
 * Each reading that cannot be made says why (`contextsSkipped`), so a report shows the reason
 * rather than an empty section.
 */
import type { HookedModel } from '../runtime/model.js';
import { similarVectors, type NamedVector, type SimilarVectors } from '../steering/similar-vectors.js';
import type { SteeringVector } from '../steering/vector.js';
import type { ActivationIndex } from './activation-index.js';
import { directionLogits, type DirectionLogits } from './direction-logits.js';
import { passagesAlong, type Passage } from './passages.js';

export interface VectorContexts {
  readonly hook: string;
  /** Rows of the index read. */
  readonly rows: number;
  /** Tokens per passage. */
  readonly span: number;
  readonly highest: readonly Passage[];
  readonly lowest: readonly Passage[];
}

export interface VectorExplanation {
  /** One entry per layer of the vector, ascending. */
  readonly logits: readonly DirectionLogits[];
  readonly contexts?: VectorContexts;
  /** Why there are no contexts (no index given, or the index does not fit the vector). */
  readonly contextsSkipped?: string;
  readonly similar?: SimilarVectors;
}

export interface ExplainOptions {
  /** Tokens per side of the logit lens (default 10). */
  readonly tokens?: number;
  /** Passages per side (default 8). */
  readonly contexts?: number;
  /**
   * Tokens per passage. Default: 16 for a vector read as the mean over its texts (a passage is
   * what it describes), 1 for one read at a single token.
   */
  readonly span?: number;
  readonly index?: ActivationIndex;
  /** Vectors to compare with; the explained vector is left out by `name`. */
  readonly library?: readonly NamedVector[];
  readonly name?: string;
  /** Library vectors listed per side (default 5). */
  readonly similar?: number;
}

export async function explainVector(model: HookedModel, vector: SteeringVector, opts: ExplainOptions = {}): Promise<VectorExplanation> {
  const logits = await directionLogits(model, vector, { top: opts.tokens ?? 10 });
  const found = opts.index ? await indexContexts(opts.index, vector, opts.contexts ?? 8, opts.span ?? defaultSpan(vector)) : { skipped: 'no activation index given' };
  const similar = opts.library ? similarVectors({ name: opts.name ?? '', vector }, opts.library, opts.similar ?? 5) : undefined;
  return {
    logits,
    ...('contexts' in found ? { contexts: found.contexts } : { contextsSkipped: found.skipped }),
    ...(similar ? { similar } : {}),
  };
}

/** Passages for a vector read over whole texts, single tokens for one read at a token. */
function defaultSpan(vector: SteeringVector): number {
  const read = vector.meta.readPosition;
  return read === 'last' || read === 'answer' ? 1 : 16;
}

async function indexContexts(index: ActivationIndex, vector: SteeringVector, k: number, span: number): Promise<{ contexts: VectorContexts } | { skipped: string }> {
  const { layer, site } = index.point;
  const direction = vector.directions.get(layer);
  // A mismatch is not an error of the explanation: the other readings still stand.
  if (vector.meta.site !== site) return { skipped: `the index holds ${index.manifest.hook} rows, the vector acts at ${vector.meta.site}` };
  if (!direction) return { skipped: `the index holds layer ${layer}, the vector has layers ${[...vector.directions.keys()].sort((a, b) => a - b).join(', ')}` };
  if (direction.length !== index.dim) return { skipped: `the index holds ${index.dim}-wide rows, the vector ${direction.length}-wide directions` };
  const { highest, lowest } = await passagesAlong(index, direction, { span, k });
  return { contexts: { hook: index.manifest.hook, rows: index.size, span, highest, lowest } };
}
