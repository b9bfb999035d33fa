/**
 * What the one-click pipeline decided and why, as stored in a vector's metadata (`meta.auto`).
 * Plain data: the pipeline (src/auto) writes it; the vector file, the server, reports and the
 * studio read it. Kept here, below them all, so reading a vector never imports the pipeline.
 */

/** The lexicon the pipeline used (see src/concept/lexicon.ts), stored so it can be audited and reused. */
interface LexiconRecord {
  readonly concept: string;
  readonly kind: string;
  readonly pos: string;
  readonly head: readonly string[];
  readonly terms: readonly { readonly word: string; readonly forms: readonly string[]; readonly relation: string; readonly weight: number }[];
  readonly neutral: readonly { readonly word: string; readonly forms: readonly string[]; readonly pos: string }[];
  readonly source: string;
}

/** One measured steering strength. `concept` is the driving score (presence: concept terms per text). */
export interface CurvePoint {
  readonly coefficient: number;
  /** |coefficient × direction| ÷ the mean residual norm at the layer (0 = unsteered). */
  readonly relative: number;
  readonly layers: readonly number[];
  readonly concept: number;
  /** Standard error of `concept` over the probe texts. */
  readonly conceptError: number;
  /** Perplexity ratio − 1 (the coherence cost). */
  readonly cost: number;
  readonly costError: number;
  readonly feasible: boolean;
  /** Why it is not within budget, when it is not. */
  readonly why?: string;
  /** Pooled perplexity of the texts under the unsteered model. */
  readonly perplexity: number;
  readonly meanKl: number | null;
  readonly distinct2: number;
  /** Other concept scores of the same texts (likelihood, projection), reported beside presence. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** A candidate layer tried at one relative strength before the strength search. */
export interface LayerTrial {
  readonly layer: number;
  readonly auroc: number | null;
  readonly fisher: number | null;
  readonly relative: number;
  readonly coefficient: number;
  readonly concept: number;
  readonly cost: number;
  readonly feasible: boolean;
}

export interface StrengthRecord {
  readonly rule: 'smallest-present' | 'harmonic' | 'most-present';
  readonly coefficient: number;
  readonly concept: number;
  readonly cost: number;
  /** Concept terms per text counted as clearly present (toward) or the drop aimed for (away). */
  readonly target: number;
  readonly reached: boolean;
  /** The choice in words: why this point, what the tie rule did, what "cost" is. */
  readonly explanation: readonly string[];
  readonly curve: readonly CurvePoint[];
  /** The chosen setting measured again on texts it was not chosen on (other seeds). */
  readonly confirmation?: CurvePoint & { readonly seed: number; readonly steppedDown: number };
}

export interface AutoSelection {
  readonly concept: string;
  readonly neutral?: string;
  /** The concept's kind (feeling, creature, thing, weather, place, activity, topic, style, ...). */
  readonly kind?: string;
  readonly lexicon?: LexiconRecord;
  /** 'toward' (default): make the concept present; 'away': make it absent. */
  readonly direction?: 'toward' | 'away';
  readonly source: string;
  /** The data the recommended vector was extracted from: all sources (joined with "+"), or one of them. */
  readonly data?: string;
  readonly metric: string;
  readonly budget: { readonly kind: 'perplexity'; readonly epsilon: number } | { readonly kind: 'kl'; readonly delta: number };
  /** The first recommended layer (see `layers` for several). */
  readonly layer: number;
  readonly layers?: readonly number[];
  readonly coefficient: number;
  readonly layerRanking: readonly LayerTrial[];
  readonly strength?: StrengthRecord;
  /** Probe texts: how many, their length, the length the search used (shorter on larger models), the seed. */
  readonly probe: { readonly prompts: number; readonly maxTokens: number; readonly searchTokens?: number; readonly seed: number };
}

/** One prompt's continuation without and with the chosen steering. */
export interface ExamplePair {
  readonly prompt: string;
  readonly base: string;
  readonly steered: string;
}
