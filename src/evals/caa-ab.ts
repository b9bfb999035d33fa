import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { readRecords } from '../io/json-records.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { pairsFromCaa, parseAnswerLetter } from '../steering/contrast-pairs.js';
import { objectOf } from './benchmark-files.js';
import { batchSizeOf, scoreRequests, type SpanRequest } from './multiple-choice.js';

/** CAA A/B behaviour probability: how likely the model picks the behaviour-matching answer letter. */

export interface CaaAbItem {
  readonly question: string;
  readonly answer_matching_behavior: string;
  readonly answer_not_matching_behavior: string;
}

export interface CaaAbOptions {
  readonly hooks?: readonly Hook[];
  /** Chat rendering as in steering/contrast-encoder.ts (default: whether the model has a chat template). */
  readonly chat?: boolean;
  /** System message for chat rendering. */
  readonly system?: string;
  /** Prompts per forward (default 8). */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface CaaAbResult {
  /** Mean over items of P(matching letter) / (P(matching) + P(not matching)). */
  readonly meanMatchingProbability: number;
  readonly n: number;
  readonly perItem: number[];
}

/** CAA A/B test items (test_dataset_ab.json: a JSON array; JSON lines also read). */
export function readCaaAb(path: string): CaaAbItem[] {
  const records = readRecords(path);
  if (records.length === 0) throw new ModelFileError(path, 'holds no items');
  return records.map((r) => {
    const obj = objectOf(path, r);
    const field = (key: keyof CaaAbItem): string => {
      const v = obj[key];
      if (typeof v !== 'string' || v.trim() === '') throw new ModelFileError(path, `${r.where}: "${key}" must be a non-empty string`);
      return v;
    };
    const item: CaaAbItem = {
      question: field('question'),
      answer_matching_behavior: field('answer_matching_behavior'),
      answer_not_matching_behavior: field('answer_not_matching_behavior'),
    };
    const a = parseAnswerLetter(item.answer_matching_behavior);
    const b = parseAnswerLetter(item.answer_not_matching_behavior);
    if (a === undefined || b === undefined) throw new ModelFileError(path, `${r.where}: the answers must be letters like "(A)"`);
    if (a === b) throw new ModelFileError(path, `${r.where}: both answers are (${a})`);
    return item;
  });
}

/**
 * How much the model prefers the behaviour-matching answer letter: P(match) / (P(match) +
 * P(not match)) at the letter, after the prompt exactly as the steering vector's training data
 * renders it (pairsFromCaa: question + "\n\nAnswer: (" or the chat-rendered turn + "("). When the
 * two texts differ only in the letter token, that is a softmax ratio at one position (one forward
 * of the prompt); when BPE merges the letter with what precedes it, the two texts are scored from
 * their common token prefix on and the ratio is taken of those sequence probabilities.
 */
export async function evaluateCaaAb(model: HookedModel, items: readonly CaaAbItem[], opts: CaaAbOptions = {}): Promise<CaaAbResult> {
  if (!Array.isArray(items) || items.length === 0) throw new InvalidInputError('evaluateCaaAb needs at least one item');
  const maxBatch = batchSizeOf(opts);
  const data = pairsFromCaa(model, items, { chat: opts.chat, system: opts.system, source: 'CAA A/B items' });
  // Single-token letters after a shared prompt: the prompt's next-token logits decide.
  const letterPrompts: { item: number; prompt: readonly number[]; match: number; other: number }[] = [];
  const spans: SpanRequest[] = [];
  const spanItems: number[] = [];
  data.pairs.forEach(({ positive, negative }, i) => {
    const p = positive.ids;
    const q = negative.ids;
    let common = 0;
    while (common < Math.min(p.length, q.length) && p[common] === q[common]) common++;
    if (common >= 1 && p.length === common + 1 && q.length === common + 1) {
      letterPrompts.push({ item: i, prompt: p.slice(0, common), match: p[common], other: q[common] });
    } else {
      spans.push({ ids: p, start: Math.max(1, Math.min(common, p.length - 1)) }, { ids: q, start: Math.max(1, Math.min(common, q.length - 1)) });
      spanItems.push(i);
    }
  });
  const total = letterPrompts.length + spanItems.length;
  const perItem = new Array<number>(items.length).fill(NaN);
  const V = model.spec.vocabSize;
  let done = 0;
  for (let i = 0; i < letterPrompts.length; i += maxBatch) {
    const batch = letterPrompts.slice(i, i + maxBatch);
    const fwd = await model.forward({ tokens: batch.map((b) => b.prompt), hooks: opts.hooks, logits: 'last' });
    const logits = fwd.logits!;
    batch.forEach((b, r) => {
      // softmax ratio of two entries = sigmoid of their logit difference (the normalizer cancels)
      perItem[b.item] = 1 / (1 + Math.exp(logits[r * V + b.other] - logits[r * V + b.match]));
    });
    done += batch.length;
    opts.onProgress?.(done, total);
  }
  if (spans.length > 0) {
    const lp = await scoreRequests(model, spans, {
      hooks: opts.hooks,
      batchSize: maxBatch,
      onProgress: (d) => opts.onProgress?.(done + Math.floor(d / 2), total),
    });
    spanItems.forEach((item, k) => {
      perItem[item] = 1 / (1 + Math.exp(lp[2 * k + 1] - lp[2 * k]));
    });
  }
  const mean = perItem.reduce((s, p) => s + p, 0) / perItem.length;
  return { meanMatchingProbability: mean, n: items.length, perItem };
}
