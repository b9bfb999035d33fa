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
}
