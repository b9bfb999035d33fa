import type { HookPoint } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { LogitsProcessor } from '../runtime/logits-processor.js';
import type { HookedModel } from '../runtime/model.js';
import type { GuidanceTerm, PlausibilityCut } from './guidance.js';

/**
 * Decode-time steering, compiled: what the generation loop does besides running the main
 * (possibly activation-steered) model. Built from the steering spec's `decoding` section by
 * compileDecoding, or by hand in library code.
 */
export interface DecodingPlan {
  /** Run in order on each row's logits after guidance, before temperature and top-k/p. */
  readonly processors: readonly LogitsProcessor[];
  /** Runs decoded alongside the main one; guidance terms and cuts index them from 1 (0 = main). */
  readonly runs: readonly GuideRun[];
  readonly terms: readonly GuidanceTerm[];
  readonly cuts: readonly PlausibilityCut[];
  /** Rerank the top-k next tokens with a scorer at every step. */
  readonly rerank?: TokenRerank;
  /** Decode several candidates per prompt and keep the best, at chunk boundaries and at the end. */
  readonly select?: Selection;
}

export interface GuideRun {
  readonly name: string;
  /** Default: the main model. Another model must share its vocabulary (see alignVocabularies). */
  readonly model?: HookedModel;
  /** 'main': the main run's hooks (its activation steering); otherwise these hooks. */
  readonly hooks: 'main' | readonly Hook[];
  /** One prompt for every row (CFG's negative prompt), instead of each row's own prompt. */
  readonly prompt?: string;
}

/**
 * Scores hidden states: a linear probe as a process reward. Higher is better. The vector
 * scored is the activation at the text's newest token ('last'), or the mean over all its
 * tokens so far, prompt included ('mean'), matching how the probe reduced its training texts.
 */
export interface CandidateScorer {
  readonly name: string;
  readonly point: HookPoint;
  readonly reduce: 'last' | 'mean';
  /** One score per row of `activations` ([rows, hiddenSize]). */
  score(activations: Float32Array, rows: number): Float32Array;
}

/**
 * At each step, the top-k next tokens (after guidance and processors) are each run one step
 * ahead and scored; the token is then drawn from log p(token) + weight · score over them.
 */
export interface TokenRerank {
  readonly scorer: CandidateScorer;
  readonly topK: number;
  readonly weight: number;
}

/**
 * Best-of-N, optionally repeated every `every` tokens (chunk-level reranking): each prompt is
 * decoded as `candidates` rows with their own seeds; at each boundary every row restarts
 * from the best-scoring one. `perplexity` ranks by mean log-probability of the generated
 * tokens under the unsteered main model (outcome reward); a scorer by its score at the last token.
 */
export interface Selection {
  readonly candidates: number;
  readonly every?: number;
  readonly by: CandidateScorer | 'perplexity';
}

export const NO_DECODING: DecodingPlan = { processors: [], runs: [], terms: [], cuts: [] };
