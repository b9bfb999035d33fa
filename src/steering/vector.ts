import type { HookSite } from '../graph/hook-points.js';
import type { AutoSelection } from './auto-record.js';

/**
 * A steering vector: one direction per layer at one hook site, plus what is known about how
 * it was made and how well it separates its data. Stored as safetensors (`direction.{layer}`,
 * optional `mean.{layer}`) with this metadata as JSON under the `steerer` key.
 */
export interface SteeringVector {
  /** layer → direction [hidden] */
  readonly directions: ReadonlyMap<number, Float32Array>;
  /** layer → mean activation of the data [hidden] (for the mean_center operator). */
  readonly means?: ReadonlyMap<number, Float32Array>;
  readonly meta: VectorMeta;
}

export type ExtractionMethod = 'diffmean' | 'pca_diff' | 'pca_center' | 'probe';
type VectorOrigin = ExtractionMethod | 'imported' | 'combined';
export type ReadPosition = 'last' | 'mean' | 'answer' | 'all';

export interface ModelIdentity {
  readonly name: string;
  readonly architecture: string;
  readonly hiddenSize: number;
  readonly numLayers: number;
}

/**
 * How well one layer's direction separates the held-out positive and negative examples.
 * A number is null when there is too little held-out data to compute it.
 */
export interface LayerDiagnostics {
  readonly layer: number;
  /** Threshold accuracy of the projection on held-out pairs (threshold from training data). */
  readonly accuracy: number | null;
  readonly auroc: number | null;
  /** (μ₊ − μ₋)² / (σ₊² + σ₋²) of held-out projections. */
  readonly fisher: number | null;
  /** |direction| / mean residual norm at this layer. */
  readonly relativeNorm: number | null;
  /** Number of held-out examples per side the numbers come from. */
  readonly heldOut: number;
}

export interface VectorMeta {
  readonly format: 'steerer.vector/v1';
  readonly model: ModelIdentity;
  readonly method: VectorOrigin;
  readonly site: HookSite;
  readonly readPosition?: ReadPosition;
  readonly dataset?: { readonly source: string; readonly size: number; readonly hash: string };
  readonly diagnostics?: readonly LayerDiagnostics[];
  readonly recommended?: { readonly layers?: readonly number[]; readonly coefficient?: number };
  readonly createdAt: string;
  readonly description?: string;
  /** How the one-click pipeline chose the data, layer and strength (vectors it made). */
  readonly auto?: AutoSelection;
  /** Recommended coefficients adopted from people's ratings, oldest first; undone newest first. */
  readonly adoptions?: readonly RecommendationAdoption[];
  /** A condition direction (`vector condition fit`): how to read it and its fitted threshold. */
  readonly condition?: ConditionMeta;
}

/**
 * How a condition vector is read (see src/steering/condition.ts): its direction at `layer`,
 * scored as a cosine or a projection on the prompt's last token or mean, holding when the
 * score is above or below `threshold`.
 */
export interface ConditionMeta {
  readonly layer: number;
  readonly read: 'prompt' | 'token' | 'running';
  readonly reduce: 'last' | 'mean';
  readonly measure: 'cosine' | 'projection';
  readonly threshold: number;
  readonly compare: 'above' | 'below';
  /** How it was fitted: cross-validated F1 of the whole procedure, per layer tried. */
  readonly fit?: {
    readonly folds: number;
    readonly positives: number;
    readonly negatives: number;
    readonly layers: readonly { readonly layer: number; readonly f1: number; readonly precision: number; readonly recall: number; readonly accuracy: number }[];
  };
}

/** A recommended coefficient adopted from human ratings (src/evals/rating-preference.ts), with what it replaced. */
export interface RecommendationAdoption {
  readonly source: 'human ratings';
  readonly coefficient: number;
  /** The recommended coefficient it replaced; null when there was none. */
  readonly previous: number | null;
  /** Ratings the fit used, and the 95% interval of the preferred strength. */
  readonly ratings: number;
  readonly interval: readonly [number, number];
  /** Which answers were the outcome: overall, concept or coherence. */
  readonly dimension: string;
  readonly adoptedAt: string;
}
