import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { readRecords, type Located } from '../io/json-records.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import { rowLogprob } from '../runtime/score.js';
import { pairsFromCaa, parseAnswerLetter } from '../steering/datasets.js';
import { sharedPath } from '../util/shared-path.js';

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

/** Logits of one forward above this many floats are split into more forwards (256 MiB). */
const MAX_LOGIT_FLOATS = 2 ** 26;
const DEFAULT_BATCH = 8;

// ---------------------------------------------------------------------------------------------
// Scoring token spans in batches

/** Sum of log p(ids[t] | ids[..t]) over t in [start, ids.length). */
interface SpanRequest {
  readonly ids: readonly number[];
  readonly start: number;
}

function batchSizeOf(opts: EvalBatchOptions): number {
  const b = opts.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(b) || b < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${String(b)}`);
  return b;
}

/**
 * Scores spans with logits at every position. Longest first (as lm-eval does): a batch's first
 * row sets its length, so rows are added while rows × length × vocab stays under the cap, and
 * similar lengths share a batch, which keeps padding small.
 */
async function scoreSpans(model: HookedModel, requests: readonly SpanRequest[], opts: EvalBatchOptions): Promise<Float64Array> {
  const maxBatch = batchSizeOf(opts);
  const V = model.spec.vocabSize;
  const order = requests.map((_, i) => i).sort((a, b) => requests[b].ids.length - requests[a].ids.length || a - b);
  const out = new Float64Array(requests.length);
  let done = 0;
  for (let i = 0; i < order.length; ) {
    const seq = requests[order[i]].ids.length;
    const rows = Math.max(1, Math.min(maxBatch, Math.floor(MAX_LOGIT_FLOATS / (seq * V))));
    const batch = order.slice(i, i + rows);
    const fwd = await model.forward({ tokens: batch.map((r) => requests[r].ids), hooks: opts.hooks, logits: 'all' });
    const logits = fwd.logits!;
    batch.forEach((r, b) => {
      const { ids, start } = requests[r];
      // Row b's token t sits at (b·seq + pad + t); its logits predict token t + 1.
      const base = b * fwd.seq + fwd.pad[b];
      let sum = 0;
      for (let t = start; t < ids.length; t++) sum += rowLogprob(logits, (base + t - 1) * V, V, ids[t]);
      out[r] = sum;
    });
    i += batch.length;
    done += batch.length;
    opts.onProgress?.(done, requests.length);
  }
  return out;
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
 * the longest common prefix of encode(context) and encode(full), as in datasets.ts, so a token
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
  return toScores(prepared, await scoreSpans(model, prepared, opts));
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
  const logprobs = await scoreSpans(model, prepared, opts);
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

// ---------------------------------------------------------------------------------------------
// Files

function objectOf(file: string, r: Located): Record<string, unknown> {
  const v = r.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ModelFileError(file, `${r.where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function stringsOf(file: string, where: string, obj: Record<string, unknown>, key: string): string[] {
  const v = obj[key];
  if (!Array.isArray(v) || v.length < 2) throw new ModelFileError(file, `${where}: "${key}" must be an array of at least two strings`);
  v.forEach((s: unknown, k) => {
    if (typeof s !== 'string') throw new ModelFileError(file, `${where}: "${key}"[${k}] must be a string`);
  });
  return v as string[];
}

function parseBenchmarkItem(file: string, r: Located): BenchmarkItem {
  const obj = objectOf(file, r);
  let item: BenchmarkItem;
  let count: number;
  if ('context_options' in obj) {
    const contexts = stringsOf(file, r.where, obj, 'context_options');
    const continuation = obj.continuation;
    if (typeof continuation !== 'string' || continuation === '') throw new ModelFileError(file, `${r.where}: "continuation" must be a non-empty string`);
    item = { contexts, continuation, gold: -1 };
    count = contexts.length;
  } else if ('query' in obj && 'choices' in obj) {
    const query = obj.query;
    if (typeof query !== 'string') throw new ModelFileError(file, `${r.where}: "query" must be a string`);
    const choices = stringsOf(file, r.where, obj, 'choices');
    choices.forEach((c, k) => {
      if (c === '') throw new ModelFileError(file, `${r.where}: choice ${k} is empty`);
    });
    item = { query, choices, gold: -1 };
    count = choices.length;
  } else {
    throw new ModelFileError(
      file,
      `${r.where}: not a benchmark item (fields: ${Object.keys(obj).join(', ') || 'none'}); expected {query, choices, gold} or {context_options, continuation, gold}`,
    );
  }
  const gold = obj.gold;
  if (typeof gold !== 'number' || !Number.isInteger(gold) || gold < 0 || gold >= count) {
    throw new ModelFileError(file, `${r.where}: "gold" must be a choice index in 0..${count - 1}, got ${JSON.stringify(gold) ?? 'nothing'}`);
  }
  return { ...item, gold };
}

/** Indices of a subsample: the first `limit`, or a seeded random `limit` of them in file order. */
function subsample(n: number, limit: number | undefined, seed: number | undefined): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (limit === undefined) {
    if (seed !== undefined) throw new InvalidInputError('a seed needs a limit (the size of the subsample)');
    return all;
  }
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`limit must be a positive integer, got ${String(limit)}`);
  if (limit >= n) return all;
  if (seed === undefined) return all.slice(0, limit);
  validateSeed(seed);
  const rng = createRng(seed);
  // Partial Fisher–Yates: the first `limit` slots end up a uniform sample.
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(rng.nextFloat() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, limit).sort((a, b) => a - b);
}

export interface ReadBenchmarkOptions {
  /** Keep this many items: the first ones, or a seeded random sample (in file order) with `seed`. */
  readonly limit?: number;
  readonly seed?: number;
}

/**
 * Benchmark items from JSON lines (or a JSON array): {query, choices, gold} per line, or
 * Winogrande's {context_options, continuation, gold} (read as a PartialChoiceItem). Every line
 * is checked, also those a `limit` leaves out.
 */
export function readMultipleChoice(path: string, opts: ReadBenchmarkOptions = {}): BenchmarkItem[] {
  const items = readRecords(path).map((r) => parseBenchmarkItem(path, r));
  if (items.length === 0) throw new ModelFileError(path, 'holds no items');
  return subsample(items.length, opts.limit, opts.seed).map((i) => items[i]);
}

/** The benchmarks in the shared data directory (data/benchmarks/<name>.jsonl). */
export const BENCHMARKS = ['arc_easy', 'arc_challenge', 'piqa', 'copa', 'boolq', 'openbook_qa', 'siqa', 'winogrande'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export function benchmarkPath(name: string): string {
  if (!(BENCHMARKS as readonly string[]).includes(name)) {
    throw new InvalidInputError(`unknown benchmark "${name}": known benchmarks are ${BENCHMARKS.join(', ')}`);
  }
  return sharedPath('data', 'benchmarks', `${name}.jsonl`);
}

// ---------------------------------------------------------------------------------------------
// CAA A/B behaviour probability

export interface CaaAbItem {
  readonly question: string;
  readonly answer_matching_behavior: string;
  readonly answer_not_matching_behavior: string;
}

export interface CaaAbOptions {
  readonly hooks?: readonly Hook[];
  /** Chat rendering as in datasets.ts (default: whether the model has a chat template). */
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
    const lp = await scoreSpans(model, spans, {
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

// ---------------------------------------------------------------------------------------------
// Capability retention

/**
 * (steered − base) / |base|: the relative change, negative when the score dropped (|base| so the
 * sign also reads right for negative scores such as mean log-probabilities). base 0: 0 when
 * steered is 0 too, else ±Infinity, instead of NaN.
 */
export function relativeChange(base: number, steered: number): number {
  if (base === 0) return steered === 0 ? 0 : steered > 0 ? Infinity : steered < 0 ? -Infinity : NaN;
  return (steered - base) / Math.abs(base);
}

export interface RetentionRow {
  readonly name: string;
  readonly base: number;
  readonly steered: number;
}

export interface RetentionTableRow extends RetentionRow {
  /** relativeChange(base, steered). */
  readonly change: number;
}

export function retentionTable(rows: readonly RetentionRow[]): RetentionTableRow[] {
  return rows.map((r) => ({ name: r.name, base: r.base, steered: r.steered, change: relativeChange(r.base, r.steered) }));
}
