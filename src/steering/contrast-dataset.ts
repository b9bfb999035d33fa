/**
 * The data model of contrastive datasets for steering-vector extraction: what an example, a pair
 * and a dataset are, and what the loaders need of a model. Kept apart from the code that builds
 * them so that consumers (the extractor, evals) depend on the shapes only.
 *
 * Every source ends up in one tokenized form whatever it came from:
 *
 *   texts        {positive, negative}                  whole texts (repeng's DatasetEntry, steering-vectors' samples)
 *   completions  {prompt, positive, negative}          shared prompt, two completions; read the completion
 *   caa          {question, answer_matching_behavior,  CAA A/B items: question + "(A" / "(B"; read the letter
 *                 answer_not_matching_behavior}
 *   sets         positive strings vs neutral strings   unpaired sets (RepE-style); paired by index
 *   persona      template + persona + suffix           repeng's "Act as if you're extremely {persona}." pairs
 *
 * Built by contrast-pairs.ts (in-memory items) and contrast-files.ts (files), tokenized by
 * contrast-encoder.ts (which explains completionStart and chat rendering), with problems reported
 * as contrast-checks.ts describes.
 */
import type { HookedModel } from '../runtime/model.js';
import type { ReadPosition } from './vector.js';

export interface ContrastExample {
  /** Token ids of the full text (BOS included per the model's rule). */
  readonly ids: readonly number[];
  /**
   * Index of the first token of the completion part (see contrast-encoder.ts); the extractor reads
   * 'last' → ids.length−1; 'answer' → answerIndex; 'mean' → mean over [completionStart, ids.length);
   * 'all' → every token in [completionStart, ids.length).
   */
  readonly completionStart: number;
  /** Position of the answer-letter token for CAA A/B items (else ids.length − 1). */
  readonly answerIndex: number;
  /** The full text as tokenized (chat rendering included, model-added BOS not), for reports. */
  readonly text: string;
}

export interface ContrastPair {
  readonly positive: ContrastExample;
  readonly negative: ContrastExample;
}

/** An item left out of a dataset (only with `tooLong: 'skip'`). */
export interface SkippedItem {
  /** "item 3", "line 12", "positive item 5"... */
  readonly where: string;
  readonly reason: string;
}

export interface ContrastDataset {
  /** Paired data (all methods work). */
  readonly pairs: readonly ContrastPair[];
  /**
   * Unpaired extra examples (plain positive set vs neutral set): the examples of the longer set
   * beyond the ones paired by index in `pairs`. Only diffmean/probe use them; the paired ones are
   * NOT repeated here, so pairs ∪ unpaired is the whole of each set.
   */
  readonly unpaired?: { readonly positive: readonly ContrastExample[]; readonly negative: readonly ContrastExample[] };
  /** Where the data came from (file path or a loader label). */
  readonly source: string;
  /** sha256 (hex) of a canonical JSON of the texts (for vector metadata). */
  readonly hash: string;
  /** The read position the data is made for: 'answer' for CAA, 'last' otherwise. */
  readonly suggestedRead?: ReadPosition;
  /** Items left out (with `tooLong: 'skip'`). */
  readonly skipped?: readonly SkippedItem[];
}

/** What the loaders need of a model: its tokenizer rule and chat template. */
export type DatasetModel = Pick<HookedModel, 'encode' | 'chatTemplate' | 'specialTokens' | 'spec' | 'source'>;

export interface DatasetOptions {
  /**
   * Wrap with the model's chat template: the prompt/text/question/persona becomes the user turn,
   * the completion the start of the assistant answer. Default: false for texts, completions and
   * sets; for CAA and persona data, whether the model has a chat template.
   */
  readonly chat?: boolean;
  /** System message for chat rendering. */
  readonly system?: string;
  /** Label stored as `source` (default: the file path, or the loader's name). */
  readonly source?: string;
  /** Items longer than the model's context: an error (default) or left out and listed in `skipped`. */
  readonly tooLong?: 'error' | 'skip';
}
