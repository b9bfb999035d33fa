import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { scoreSpans } from '../runtime/score.js';

/**
 * Capability benchmarks scored the way lm-evaluation-harness scores multiple choice: every choice
 * is appended to the query and the model's summed log-probability of the choice's tokens ranks
 * them (acc), or that sum divided by the choice's length in characters (acc_norm). Hooks pass
 * through to every forward, so a benchmark can be run with steering active and compared with the
 * unsteered run (see `retentionTable`).
 */

/** A query with choices appended to it (ARC, PIQA, COPA, BoolQ, OpenBookQA, SIQA). */
export interface MultipleChoiceItem {
  readonly query: string;
  readonly choices: readonly string[];
  /** Index of the correct choice. */
  readonly gold: number;
}

/**
 * Partial scoring (Winogrande): each option is a different context and the one shared
 * continuation is scored after each.
 */
export interface PartialChoiceItem {
  readonly contexts: readonly string[];
  readonly continuation: string;
  /** Index of the correct context. */
  readonly gold: number;
}

export type BenchmarkItem = MultipleChoiceItem | PartialChoiceItem;

export interface ContinuationScore {
  /** Sum of log p(continuation tokens | context) in nats. */
  readonly logprob: number;
  /** Number of scored tokens (a token BPE merges across the boundary counts as continuation). */
  readonly tokens: number;
  /** Length of the continuation in characters (code points; the separator not counted), as lm-eval's acc_norm. */
  readonly chars: number;
  /** Length of the continuation in UTF-8 bytes. */
  readonly bytes: number;
}

export interface EvalBatchOptions {
  /** Hooks active in every forward (e.g. steering). */
  readonly hooks?: readonly Hook[];
  /** Sequences per forward (default 8; fewer when their logits would pass ~64M floats). */
  readonly batchSize?: number;
  /** Called after each forward with sequences scored so far and their total. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface MultipleChoiceOptions extends EvalBatchOptions {
  /**
   * Joins context and continuation (default " "); left out when the continuation starts with
   * whitespace, the context ends with it, or the context is empty.
   */
  readonly separator?: string;
}

export interface MultipleChoiceResult {
  /** Fraction of items whose gold choice has the highest summed log-probability. */
  readonly accuracy: number;
  /** The same with log-probabilities divided by the choice's length in characters. */
  readonly accuracyNorm: number;
  readonly n: number;
  readonly correct: boolean[];
  readonly correctNorm: boolean[];
  /** Per item, per choice. */
  readonly scores: ContinuationScore[][];
}

const DEFAULT_BATCH = 8;

// ---------------------------------------------------------------------------------------------
// Scoring token spans in batches

/** Sum of log p(ids[t] | ids[..t]) over t in [start, ids.length). */
export interface SpanRequest {
  readonly ids: readonly number[];
  readonly start: number;
}

export function batchSizeOf(opts: EvalBatchOptions): number {
  const b = opts.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(b) || b < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${String(b)}`);
  return b;
}

/** Each request's summed log-probability, through the one token scorer (runtime/score.ts). */
export async function scoreRequests(model: HookedModel, requests: readonly SpanRequest[], opts: EvalBatchOptions): Promise<Float64Array> {
  const per = await scoreSpans(model, requests.map((r) => ({ ids: r.ids, from: r.start })), { hooks: opts.hooks, batchSize: batchSizeOf(opts), onProgress: opts.onProgress });
  return Float64Array.from(per, (lp) => lp.reduce((a, b) => a + b, 0));
}

// ---------------------------------------------------------------------------------------------
// Building the sequences

function joinText(context: string, continuation: string, separator: string): string {
  const bare = context === '' || /\s$/u.test(context) || /^\s/u.test(continuation);
  return bare ? context + continuation : context + separator + continuation;
}

function contextLimit(model: HookedModel): number {
  return model.spec.maxPositions > 0 ? model.spec.maxPositions : Infinity;
}

interface Prepared extends SpanRequest {
  readonly chars: number;
  readonly bytes: number;
}

/**
 * The tokens of context + separator + continuation and where the continuation's tokens begin:
 * the longest common prefix of encode(context) and encode(full), as in steering/contrast-encoder.ts, so a token
 * that BPE merges across the boundary is scored as continuation. Too long for the model: the
 * context is cut from the left (the BOS token kept).
 */
function prepare(model: HookedModel, context: string, continuation: string, separator: string, contextIds?: readonly number[]): Prepared {
  const full = model.encode(joinText(context, continuation, separator));
  const ctx = contextIds ?? model.encode(context);
  let common = 0;
  const n = Math.min(ctx.length, full.length);
  while (common < n && ctx[common] === full[common]) common++;
  let start = Math.min(common, full.length - 1);
  if (start < 1) {
    throw new InvalidInputError(
      `cannot score ${JSON.stringify(continuation.slice(0, 40))}: no context token precedes it (empty context and the model adds no BOS)`,
    );
  }
  let ids = full;
  const limit = contextLimit(model);
  if (ids.length > limit) {
    const bos = model.spec.bosTokenId;
    const keep = model.spec.addBos && bos !== undefined && ids[0] === bos ? 1 : 0;
    const cut = ids.length - limit;
    if (start - cut < Math.max(1, keep)) {
      throw new InvalidInputError(
        `the continuation ${JSON.stringify(continuation.slice(0, 40))} has ${ids.length - start} tokens, too many for the model's context of ${limit}`,
      );
    }
    ids = [...ids.slice(0, keep), ...ids.slice(keep + cut)];
    start -= cut;
  }
  return { ids, start, chars: [...continuation].length, bytes: Buffer.byteLength(continuation, 'utf8') };
}

function separatorOf(opts: MultipleChoiceOptions): string {
  const s = opts.separator ?? ' ';
  if (typeof s !== 'string') throw new InvalidInputError('separator must be a string');
  return s;
}

function toScores(prepared: readonly Prepared[], logprobs: Float64Array, from = 0): ContinuationScore[] {
  return prepared.map((p, i) => ({ logprob: logprobs[from + i], tokens: p.ids.length - p.start, chars: p.chars, bytes: p.bytes }));
}

/**
 * log p(continuation | context) for each continuation: the full text is context + separator +
 * continuation (see MultipleChoiceOptions.separator), and the continuation's tokens are those past the
 * longest common token prefix of the context alone and the full text (at least one token).
 */
export async function choiceLogprobs(
  model: HookedModel,
  context: string,
  continuations: readonly string[],
  opts: MultipleChoiceOptions = {},
): Promise<ContinuationScore[]> {
  if (typeof context !== 'string') throw new InvalidInputError('the context must be a string');
  if (!Array.isArray(continuations) || continuations.length === 0) throw new InvalidInputError('choiceLogprobs needs at least one continuation');
  const sep = separatorOf(opts);
  const ctxIds = model.encode(context);
  const prepared = continuations.map((c, i) => {
    if (typeof c !== 'string' || c === '') throw new InvalidInputError(`continuation ${i} must be a non-empty string`);
    return prepare(model, context, c, sep, ctxIds);
  });
  return toScores(prepared, await scoreRequests(model, prepared, opts));
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function checkItem(item: BenchmarkItem, i: number): { contexts: readonly string[]; continuations: readonly string[] } {
  const where = `item ${i}`;
  if (item === null || typeof item !== 'object') throw new InvalidInputError(`${where}: expected an object`);
  let contexts: readonly string[];
  let continuations: readonly string[];
  if ('contexts' in item) {
    if (!Array.isArray(item.contexts) || item.contexts.length < 2) throw new InvalidInputError(`${where}: contexts must hold at least two strings`);
    if (typeof item.continuation !== 'string' || item.continuation === '') throw new InvalidInputError(`${where}: continuation must be a non-empty string`);
    contexts = item.contexts;
    continuations = item.contexts.map(() => item.continuation);
  } else {
    if (typeof item.query !== 'string') throw new InvalidInputError(`${where}: query must be a string`);
    if (!Array.isArray(item.choices) || item.choices.length < 2) throw new InvalidInputError(`${where}: choices must hold at least two strings`);
    contexts = item.choices.map(() => item.query);
    continuations = item.choices;
  }
  contexts.forEach((c, k) => {
    if (typeof c !== 'string') throw new InvalidInputError(`${where}: context ${k} must be a string`);
  });
  continuations.forEach((c, k) => {
    if (typeof c !== 'string' || c === '') throw new InvalidInputError(`${where}: choice ${k} must be a non-empty string`);
  });
  if (!Number.isInteger(item.gold) || item.gold < 0 || item.gold >= contexts.length) {
    throw new InvalidInputError(`${where}: gold ${String(item.gold)} is not a choice index (0..${contexts.length - 1})`);
  }
  return { contexts, continuations };
}

/**
 * Accuracy by log-likelihood ranking over all items, every (item, choice) sequence batched into
 * forwards with every position's logits. Ties go to the first choice (numpy's argmax).
 */
export async function evaluateMultipleChoice(model: HookedModel, items: readonly BenchmarkItem[], opts: MultipleChoiceOptions = {}): Promise<MultipleChoiceResult> {
  if (!Array.isArray(items) || items.length === 0) throw new InvalidInputError('evaluateMultipleChoice needs at least one item');
  batchSizeOf(opts);
  const sep = separatorOf(opts);
  const prepared: Prepared[] = [];
  const firstOf: number[] = [];
  items.forEach((item, i) => {
    const { contexts, continuations } = checkItem(item, i);
    firstOf.push(prepared.length);
    const encoded = new Map<string, number[]>();
    contexts.forEach((c, k) => {
      let ids = encoded.get(c);
      if (ids === undefined) encoded.set(c, (ids = model.encode(c)));
      try {
        prepared.push(prepare(model, c, continuations[k], sep, ids));
      } catch (e) {
        if (e instanceof InvalidInputError) throw new InvalidInputError(`item ${i}: ${e.message}`, { cause: e });
        throw e;
      }
    });
  });
  const logprobs = await scoreRequests(model, prepared, opts);
  const scores: ContinuationScore[][] = [];
  const correct: boolean[] = [];
  const correctNorm: boolean[] = [];
  items.forEach((item, i) => {
    const count = 'contexts' in item ? item.contexts.length : item.choices.length;
    const s = toScores(prepared.slice(firstOf[i], firstOf[i] + count), logprobs, firstOf[i]);
    scores.push(s);
    correct.push(argmax(s.map((c) => c.logprob)) === item.gold);
    correctNorm.push(argmax(s.map((c) => c.logprob / c.chars)) === item.gold);
  });
  const frac = (flags: boolean[]): number => flags.filter(Boolean).length / flags.length;
  return { accuracy: frac(correct), accuracyNorm: frac(correctNorm), n: items.length, correct, correctNorm, scores };
}
