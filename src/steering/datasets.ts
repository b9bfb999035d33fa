import { createHash } from 'node:crypto';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { parseJson, readRecords, readText, type Located } from '../io/json-records.js';
import { renderChat, type ChatMessage } from '../model/chat-template.js';
import { createRng, validateSeed } from '../runtime/rng.js';
import type { HookedModel } from '../runtime/model.js';
import type { ReadPosition } from './vector.js';

/**
 * Contrastive data for steering-vector extraction, in one tokenized form whatever it came from:
 *
 *   texts        {positive, negative}                  whole texts (repeng's DatasetEntry, steering-vectors' samples)
 *   completions  {prompt, positive, negative}          shared prompt, two completions; read the completion
 *   caa          {question, answer_matching_behavior,  CAA A/B items: question + "(A" / "(B"; read the letter
 *                 answer_not_matching_behavior}
 *   sets         positive strings vs neutral strings   unpaired sets (RepE-style); paired by index
 *   persona      template + persona + suffix           repeng's "Act as if you're extremely {persona}." pairs
 *
 * Every example is split into a prefix (prompt, question, rendered chat turn...) and a completion.
 * `completionStart` is the number of leading tokens the full text shares with the prefix encoded
 * alone: normally the prefix's own token count, but when BPE merges a token across the boundary
 * (prompt "Tom had a re" + completion "d ball") the prefix's tokens are not a prefix of the full
 * text's tokens, and the longest common prefix is used, so the straddling token counts as completion.
 * It is clamped to ids.length − 1, so the read range [completionStart, ids.length) is never empty.
 * The BOS token (when the model adds one) is part of the prefix, so whole texts start at 1, not 0:
 * BOS activations are huge outliers that carry nothing about the text.
 *
 * Chat rendering (`chat: true`; the default for CAA and persona data when the model has a template)
 * renders [system?, user] and then the start of the assistant answer the way the template writes an
 * assistant message (like transformers' `continue_final_message`): the template renders a sentinel
 * as the assistant content and everything from the sentinel on is replaced by the completion. So
 * Llama 2's "[/INST] " and ChatML's "<|im_start|>assistant\n" both come out as the template says.
 * Texts without a completion get the generation prompt. The BOS rule is encodeChat's.
 *
 * Problems are reported, never crashed on: in-memory loaders throw InvalidInputError naming the
 * item (0-based array index), file readers throw ModelFileError naming the file and the line (JSONL,
 * text lists; 1-based) or the item (JSON arrays; 0-based index).
 */

export interface ContrastExample {
  /** Token ids of the full text (BOS included per the model's rule). */
  readonly ids: readonly number[];
  /**
   * Index of the first token of the completion part (see the module comment); the extractor reads
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

export interface PersonaOptions {
  readonly positive: string;
  readonly negative: string;
  readonly suffixes: readonly string[];
  /** Must contain "{persona}". Default: "Act as if you're extremely {persona}." */
  readonly template?: string;
}

export const DEFAULT_PERSONA_TEMPLATE = "Act as if you're extremely {persona}.";
/** How the question and the answer letter are joined for models without a chat template. */
export const CAA_ANSWER_PREFIX = '\n\nAnswer: (';

// ---------------------------------------------------------------------------------------------
// Error locations


interface Context {
  readonly file?: string;
  readonly source: string;
}

function fail(ctx: Context, where: string, problem: string): never {
  if (ctx.file !== undefined) throw new ModelFileError(ctx.file, `${where}: ${problem}`);
  throw new InvalidInputError(`${ctx.source}: ${where}: ${problem}`);
}

function located<T>(items: readonly T[], label = 'item'): Located<T>[] {
  if (!Array.isArray(items)) throw new InvalidInputError(`expected an array, got ${describe(items)}`);
  return items.map((value, i) => ({ value, where: `${label} ${i}` }));
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40) ?? String(v)}`;
}

function record(ctx: Context, item: Located<unknown>): Record<string, unknown> {
  const v = item.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(ctx, item.where, `expected an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function stringField(ctx: Context, where: string, obj: Record<string, unknown>, key: string, opts: { allowEmpty?: boolean } = {}): string {
  if (!(key in obj)) fail(ctx, where, `missing field "${key}"`);
  const v = obj[key];
  if (typeof v !== 'string') fail(ctx, where, `field "${key}" must be a string, got ${describe(v)}`);
  if (!opts.allowEmpty && v.trim() === '') fail(ctx, where, `field "${key}" is empty`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Rendering and tokenization

const SENTINEL = 'STEERERASSISTANTCONTENT7F3A9C';

interface Piece {
  /** The user turn (chat); for plain text the prefix itself (or the whole text). */
  readonly user: string;
  /** Start of the assistant answer / the completion; undefined: none (a whole text). */
  readonly completion?: string;
}

class Encoder {
  private readonly prefixCache = new Map<string, { text: string; ids?: number[] }>();
  readonly maxTokens: number;

  constructor(
    readonly model: DatasetModel,
    readonly chat: boolean,
    readonly system: string | undefined,
    readonly ctx: Context,
    /** Joins the plain (non-chat) prefix and completion. */
    private readonly join: (prefix: string, completion: string) => string = (p, c) => p + c,
  ) {
    if (chat && !model.chatTemplate) {
      throw new InvalidInputError(`${ctx.source}: ${model.source.name} has no chat template; use plain text (chat: false)`);
    }
    if (system !== undefined && !chat) throw new InvalidInputError(`${ctx.source}: a system message needs chat rendering (chat: true)`);
    this.maxTokens = model.spec.maxPositions > 0 ? model.spec.maxPositions : Infinity;
  }

  private addBos(text: string): boolean {
    if (!this.chat) return this.model.spec.addBos;
    // encodeChat's rule: templates that write BOS themselves must not get a second one.
    const bos = this.model.specialTokens.bos_token;
    return bos && text.startsWith(bos) ? false : this.model.spec.addBos;
  }

  private messages(user: string, assistant?: string): ChatMessage[] {
    const m: ChatMessage[] = [];
    if (this.system !== undefined) m.push({ role: 'system', content: this.system });
    m.push({ role: 'user', content: user });
    if (assistant !== undefined) m.push({ role: 'assistant', content: assistant });
    return m;
  }

  private render(messages: ChatMessage[], addGenerationPrompt: boolean, where: string): string {
    try {
      return renderChat(this.model.chatTemplate!, messages, { addGenerationPrompt, specialTokens: this.model.specialTokens });
    } catch (e) {
      fail(this.ctx, where, `the chat template cannot render this item: ${(e as Error).message}`);
    }
  }

  private encode(text: string): { ids: number[]; bos: number } {
    const addBos = this.addBos(text);
    const ids = this.model.encode(text, { addBos });
    const bos = addBos && this.model.spec.bosTokenId !== undefined && ids[0] === this.model.spec.bosTokenId ? 1 : 0;
    return { ids, bos };
  }

  /** The text before the completion (cached: CAA and persona pairs share it); ids on demand. */
  private prefix(user: string, where: string): { text: string; ids?: number[] } {
    const hit = this.prefixCache.get(user);
    if (hit) return hit;
    let text = user;
    if (this.chat) {
      const withSentinel = this.render(this.messages(user, SENTINEL), false, where);
      const at = withSentinel.indexOf(SENTINEL);
      // A template that drops or rewrites assistant content: fall back to the generation prompt.
      text = at >= 0 ? withSentinel.slice(0, at) : this.render(this.messages(user), true, where);
    }
    const entry: { text: string; ids?: number[] } = { text };
    if (this.prefixCache.size >= 4096) this.prefixCache.clear();
    this.prefixCache.set(user, entry);
    return entry;
  }

  /**
   * Tokenizes one example; returns a reason string instead when it is longer than the context.
   * `answerAtEnd`: the last token is what is read (CAA), so completionStart is the last index.
   */
  example(piece: Piece, where: string, answerAtEnd = false): ContrastExample | string {
    let text: string;
    let ids: number[];
    let completionStart: number;
    if (piece.completion === undefined) {
      // A whole text (chat: the user turn + generation prompt): everything after BOS is read.
      text = this.chat ? this.render(this.messages(piece.user), true, where) : piece.user;
      const e = this.encode(text);
      ids = e.ids;
      completionStart = e.bos;
    } else {
      const prefix = this.prefix(piece.user, where);
      text = this.chat ? prefix.text + piece.completion : this.join(piece.user, piece.completion);
      ids = this.encode(text).ids;
      if (answerAtEnd) completionStart = ids.length - 1;
      else {
        // The prefix's tokens, or as many of them as the full text starts with (BPE merges).
        prefix.ids ??= this.encode(prefix.text).ids;
        let common = 0;
        const n = Math.min(prefix.ids.length, ids.length);
        while (common < n && prefix.ids[common] === ids[common]) common++;
        completionStart = common;
      }
    }
    if (ids.length === 0) fail(this.ctx, where, 'the text encodes to no tokens');
    if (ids.length > this.maxTokens) return `${ids.length} tokens exceed the model's context of ${this.maxTokens}`;
    const last = ids.length - 1;
    return { ids, completionStart: answerAtEnd ? last : Math.min(completionStart, last), answerIndex: last, text };
  }
}

interface Builder {
  readonly ctx: Context;
  readonly tooLong: 'error' | 'skip';
  readonly skipped: SkippedItem[];
}

function builder(opts: DatasetOptions, ctx: Context): Builder {
  const tooLong = opts.tooLong ?? 'error';
  if (tooLong !== 'error' && tooLong !== 'skip') throw new InvalidInputError(`tooLong must be "error" or "skip", got ${String(tooLong)}`);
  return { ctx, tooLong, skipped: [] };
}

/** An example, or undefined when it was too long and skipping is on. */
function accept(b: Builder, where: string, side: string, e: ContrastExample | string): ContrastExample | undefined {
  if (typeof e !== 'string') return e;
  const reason = side ? `${side}: ${e}` : e;
  if (b.tooLong === 'error') fail(b.ctx, where, `${reason} (shorten it, or skip such items with tooLong: 'skip')`);
  b.skipped.push({ where, reason });
  return undefined;
}

function pairOf(b: Builder, where: string, pos: ContrastExample | string, neg: ContrastExample | string): ContrastPair | undefined {
  const positive = accept(b, where, 'positive', pos);
  if (positive === undefined) return undefined;
  const negative = accept(b, where, 'negative', neg);
  return negative === undefined ? undefined : { positive, negative };
}

function finish(
  b: Builder,
  pairs: ContrastPair[],
  suggestedRead: ReadPosition,
  unpaired?: { positive: ContrastExample[]; negative: ContrastExample[] },
): ContrastDataset {
  const canonical = JSON.stringify({
    pairs: pairs.map((p) => [p.positive.text, p.negative.text]),
    unpaired: { positive: (unpaired?.positive ?? []).map((e) => e.text), negative: (unpaired?.negative ?? []).map((e) => e.text) },
  });
  const hash = createHash('sha256').update(canonical, 'utf8').digest('hex');
  return {
    pairs,
    ...(unpaired ? { unpaired } : {}),
    source: b.ctx.source,
    hash,
    suggestedRead,
    ...(b.skipped.length > 0 ? { skipped: b.skipped } : {}),
  };
}

function context(opts: DatasetOptions, fallback: string, file?: string): Context {
  if (opts.source !== undefined && typeof opts.source !== 'string') throw new InvalidInputError('source must be a string');
  return { source: opts.source ?? file ?? fallback, ...(file !== undefined ? { file } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Loaders on parsed items

function buildTexts(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
  const b = builder(opts, ctx);
  const enc = new Encoder(model, opts.chat ?? false, opts.system, ctx);
  const pairs: ContrastPair[] = [];
  for (const item of items) {
    const obj = record(ctx, item);
    const positive = stringField(ctx, item.where, obj, 'positive');
    const negative = stringField(ctx, item.where, obj, 'negative');
    if (positive === negative) fail(ctx, item.where, 'positive and negative are the same text');
    const pair = pairOf(b, item.where, enc.example({ user: positive }, item.where), enc.example({ user: negative }, item.where));
    if (pair) pairs.push(pair);
  }
  return finish(b, pairs, 'last');
}

function buildCompletions(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
  const b = builder(opts, ctx);
  const enc = new Encoder(model, opts.chat ?? false, opts.system, ctx);
  const pairs: ContrastPair[] = [];
  for (const item of items) {
    const obj = record(ctx, item);
    const prompt = stringField(ctx, item.where, obj, 'prompt', { allowEmpty: !(opts.chat ?? false) });
    const positive = stringField(ctx, item.where, obj, 'positive');
    const negative = stringField(ctx, item.where, obj, 'negative');
    if (positive === negative) fail(ctx, item.where, 'positive and negative are the same completion');
    const pair = pairOf(
      b,
      item.where,
      enc.example({ user: prompt, completion: positive }, item.where),
      enc.example({ user: prompt, completion: negative }, item.where),
    );
    if (pair) pairs.push(pair);
  }
  return finish(b, pairs, 'last');
}

/** The letter of a CAA answer: "(A)", " (B)", "A", "(C) some text", "D." → the letter. */
export function parseAnswerLetter(answer: string): string | undefined {
  const m = /^\s*\(?\s*([A-Za-z])\s*(?:\)|\.|:|\s|$)/.exec(answer);
  return m ? m[1] : undefined;
}

function buildCaa(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
  const b = builder(opts, ctx);
  const chat = opts.chat ?? model.chatTemplate !== undefined;
  const enc = new Encoder(model, chat, opts.system, ctx);
  const pairs: ContrastPair[] = [];
  for (const item of items) {
    const obj = record(ctx, item);
    const question = stringField(ctx, item.where, obj, 'question');
    const letters = (['answer_matching_behavior', 'answer_not_matching_behavior'] as const).map((key) => {
      const answer = stringField(ctx, item.where, obj, key);
      const letter = parseAnswerLetter(answer);
      if (letter === undefined) fail(ctx, item.where, `${key} ${JSON.stringify(answer)} is not an answer letter like "(A)"`);
      return letter;
    });
    if (letters[0] === letters[1]) fail(ctx, item.where, `both answers are (${letters[0]})`);
    // Base models: `${question}\n\nAnswer: (A`; chat models: user turn + assistant start "(A".
    const piece = (letter: string): Piece => (chat ? { user: question, completion: `(${letter}` } : { user: question + CAA_ANSWER_PREFIX, completion: letter });
    const pair = pairOf(b, item.where, enc.example(piece(letters[0]), item.where, true), enc.example(piece(letters[1]), item.where, true));
    if (pair) pairs.push(pair);
  }
  return finish(b, pairs, 'answer');
}

function buildSets(
  model: DatasetModel,
  positives: readonly Located<unknown>[],
  neutrals: readonly Located<unknown>[],
  opts: DatasetOptions,
  ctx: { positive: Context; negative: Context; source: string },
): ContrastDataset {
  const all: Context = { source: ctx.source };
  const b = builder(opts, all);
  const encode = (items: readonly Located<unknown>[], c: Context): ContrastExample[] => {
    const enc = new Encoder(model, opts.chat ?? false, opts.system, c);
    const out: ContrastExample[] = [];
    for (const item of items) {
      const v = item.value;
      if (typeof v !== 'string') fail(c, item.where, `expected a string, got ${describe(v)}`);
      if (v.trim() === '') fail(c, item.where, 'empty text');
      const e = enc.example({ user: v }, item.where);
      if (typeof e !== 'string') out.push(e);
      else if (b.tooLong === 'error') fail(c, item.where, `${e} (shorten it, or skip such items with tooLong: 'skip')`);
      else b.skipped.push({ where: c.file !== undefined ? `${c.file} ${item.where}` : item.where, reason: e });
    }
    return out;
  };
  const pos = encode(positives, ctx.positive);
  const neg = encode(neutrals, ctx.negative);
  if (pos.length === 0) throw new InvalidInputError(`${ctx.positive.file ?? ctx.source}: the positive set is empty`);
  if (neg.length === 0) throw new InvalidInputError(`${ctx.negative.file ?? ctx.source}: the neutral set is empty`);
  // Pairs by index up to the shorter set, so the PCA methods work too; the rest stays unpaired.
  const n = Math.min(pos.length, neg.length);
  const pairs = Array.from({ length: n }, (_, i) => ({ positive: pos[i], negative: neg[i] }));
  return finish(b, pairs, 'last', { positive: pos.slice(n), negative: neg.slice(n) });
}

// ---------------------------------------------------------------------------------------------
// Public in-memory loaders

/** Whole texts; completionStart is right after BOS (the whole text is read). */
export function pairsFromTexts(model: DatasetModel, items: readonly { positive: string; negative: string }[], opts: DatasetOptions = {}): ContrastDataset {
  const ctx = context(opts, 'texts');
  return buildTexts(model, located(items), opts, ctx);
}

/**
 * text = prompt + completion (joined as given: put the space where it belongs); completionStart =
 * the tokens of the prompt alone (longest common prefix when BPE merges across the boundary).
 * With chat, the prompt is the user turn and the completion starts the assistant answer.
 */
export function pairsFromCompletions(
  model: DatasetModel,
  items: readonly { prompt: string; positive: string; negative: string }[],
  opts: DatasetOptions = {},
): ContrastDataset {
  const ctx = context(opts, 'completions');
  return buildCompletions(model, located(items), opts, ctx);
}

/**
 * CAA A/B items: question + the opening of the answer up to its letter (`…\n\nAnswer: (A` for
 * base models, chat user turn + assistant "(A" for chat models). Positive = the behavior-matching
 * letter. answerIndex = completionStart = the last token (the letter).
 */
export function pairsFromCaa(
  model: DatasetModel,
  items: readonly { question: string; answer_matching_behavior: string; answer_not_matching_behavior: string }[],
  opts: DatasetOptions = {},
): ContrastDataset {
  const ctx = context(opts, 'caa');
  return buildCaa(model, located(items), opts, ctx);
}

/**
 * A plain positive set against a neutral set (each text read whole). Pairs are made by index up
 * to the shorter set (pair i = positives[i], neutrals[i]: no meaning beyond letting PCA methods
 * run); the longer set's remaining examples go to `unpaired` for diffmean/probe.
 */
export function pairsFromSets(model: DatasetModel, positives: readonly string[], neutrals: readonly string[], opts: DatasetOptions = {}): ContrastDataset {
  const source = context(opts, 'sets').source;
  return buildSets(model, located(positives, 'positive item'), located(neutrals, 'neutral item'), opts, {
    positive: { source },
    negative: { source },
    source,
  });
}

/**
 * Pairs whose two sides have their own prompt (a concept persona vs a neutral one) and their own
 * completion (what the model wrote under it). The prompt is the user turn for chat models (the
 * default when the model has a template) or a plain prefix joined with a space; the completion is
 * what gets read, so the vector sees how the persona changes the text, not the persona's words.
 */
export function pairsFromPrompted(
  model: DatasetModel,
  items: readonly { positive: { prompt: string; completion: string }; negative: { prompt: string; completion: string } }[],
  opts: DatasetOptions = {},
): ContrastDataset {
  const ctx = context(opts, 'prompted');
  const chat = opts.chat ?? model.chatTemplate !== undefined;
  const b = builder(opts, ctx);
  const enc = new Encoder(model, chat, opts.system, ctx, (p, c) => (p === '' ? c : c === '' ? p : `${p} ${c}`));
  const pairs: ContrastPair[] = [];
  items.forEach((item, i) => {
    const where = `item ${i}`;
    const side = (s: { prompt: string; completion: string } | undefined, name: string): Piece => {
      if (typeof s?.prompt !== 'string' || typeof s.completion !== 'string') fail(ctx, where, `${name} needs a prompt and a completion string`);
      if (s.completion.trim() === '') fail(ctx, where, `${name} completion is empty`);
      return { user: s.prompt, completion: s.completion };
    };
    const pos = side(item.positive, 'positive');
    const neg = side(item.negative, 'negative');
    if (pos.user === neg.user && pos.completion === neg.completion) fail(ctx, where, 'both sides are the same text');
    const pair = pairOf(b, where, enc.example(pos, where), enc.example(neg, where));
    if (pair) pairs.push(pair);
  });
  return finish(b, pairs, 'mean');
}

/**
 * repeng's persona pairs: (template(positive) + " " + suffix, template(negative) + " " + suffix)
 * for every suffix, read from the suffix on (an empty suffix: the last token). For chat models
 * (default when the model has a template) the persona sentence is the user turn (or add it to
 * `system` yourself) and the suffix starts the assistant answer.
 */
export function personaPairs(model: DatasetModel, persona: PersonaOptions, opts: DatasetOptions = {}): ContrastDataset {
  const template = persona.template ?? DEFAULT_PERSONA_TEMPLATE;
  if (typeof template !== 'string' || !template.includes('{persona}')) {
    throw new InvalidInputError(`the persona template must contain "{persona}", got ${JSON.stringify(template)}`);
  }
  for (const key of ['positive', 'negative'] as const) {
    const v: unknown = persona[key];
    if (typeof v !== 'string' || v.trim() === '') throw new InvalidInputError(`the ${key} persona must be a non-empty string`);
  }
  if (persona.positive === persona.negative) throw new InvalidInputError('the positive and negative personas are the same');
  if (!Array.isArray(persona.suffixes) || persona.suffixes.length === 0) throw new InvalidInputError('persona pairs need at least one suffix');
  const ctx = context(opts, `persona:${persona.positive}/${persona.negative}`);
  const chat = opts.chat ?? model.chatTemplate !== undefined;
  const b = builder(opts, ctx);
  const enc = new Encoder(model, chat, opts.system, ctx, (p, s) => (s === '' ? p : `${p} ${s}`));
  const fill = (p: string): string => template.split('{persona}').join(p);
  const pos = fill(persona.positive);
  const neg = fill(persona.negative);
  const pairs: ContrastPair[] = [];
  persona.suffixes.forEach((suffix: unknown, i) => {
    const where = `suffix ${i}`;
    if (typeof suffix !== 'string') fail(ctx, where, `expected a string, got ${describe(suffix)}`);
    const pair = pairOf(b, where, enc.example({ user: pos, completion: suffix }, where), enc.example({ user: neg, completion: suffix }, where));
    if (pair) pairs.push(pair);
  });
  return finish(b, pairs, 'last');
}

// ---------------------------------------------------------------------------------------------
// Files

export type ContrastFormat = 'texts' | 'completions' | 'caa';

/** The format of one record, by its fields (undefined: none fits). */
export function detectFormat(item: unknown): ContrastFormat | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const has = (k: string): boolean => k in item;
  if (has('question') && (has('answer_matching_behavior') || has('answer_not_matching_behavior'))) return 'caa';
  if (has('prompt') && has('positive') && has('negative')) return 'completions';
  if (has('positive') && has('negative')) return 'texts';
  return undefined;
}

/**
 * Reads contrastive pairs from a JSON array or JSONL file, the format detected from the first
 * record's fields: {positive, negative} | {prompt, positive, negative} | CAA {question,
 * answer_matching_behavior, answer_not_matching_behavior}. Every record must have that format.
 */
export function readContrastFile(model: DatasetModel, path: string, opts: DatasetOptions = {}): ContrastDataset {
  const records = readRecords(path);
  const ctx = context(opts, path, path);
  if (records.length === 0) throw new ModelFileError(path, 'holds no items');
  const first = records[0];
  const format = detectFormat(first.value);
  if (format === undefined) {
    const keys = first.value !== null && typeof first.value === 'object' ? Object.keys(first.value).join(', ') || 'none' : describe(first.value);
    throw new ModelFileError(
      path,
      `${first.where}: not a contrast item (fields: ${keys}); expected {positive, negative}, {prompt, positive, negative} or CAA {question, answer_matching_behavior, answer_not_matching_behavior}`,
    );
  }
  if (format === 'caa') return buildCaa(model, records, opts, ctx);
  if (format === 'completions') return buildCompletions(model, records, opts, ctx);
  return buildTexts(model, records, opts, ctx);
}

/**
 * A list of strings from a file: a JSON array of strings, or plain text with one item per line
 * (blank lines skipped; items named by line).
 */
function readStringList(file: string, opts: { allowEmpty: boolean }): Located<unknown>[] {
  const text = readText(file);
  if (text.trim() === '') throw new ModelFileError(file, 'is empty');
  if (text.trimStart().startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (Array.isArray(data)) {
      const items = data.map((value: unknown, i) => ({ value, where: `item ${i}` }));
      for (const it of items) {
        if (typeof it.value !== 'string') throw new ModelFileError(file, `${it.where}: expected a string, got ${describe(it.value)}`);
        if (!opts.allowEmpty && it.value.trim() === '') throw new ModelFileError(file, `${it.where}: empty text`);
      }
      return items;
    }
    if (/\.json$/i.test(file)) parseJson(file, text); // throws with the parser's line
  }
  const out: Located<unknown>[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') out.push({ value: line, where: `line ${i + 1}` });
  });
  return out;
}

/**
 * A positive set and a neutral set from two files (text, one item per line; or JSON arrays of
 * strings), paired by index as in pairsFromSets.
 */
export function readSetFiles(model: DatasetModel, positivePath: string, neutralPath: string, opts: DatasetOptions = {}): ContrastDataset {
  const positives = readStringList(positivePath, { allowEmpty: false });
  const neutrals = readStringList(neutralPath, { allowEmpty: false });
  const source = opts.source ?? `${positivePath} vs ${neutralPath}`;
  return buildSets(model, positives, neutrals, opts, {
    positive: { source, file: positivePath },
    negative: { source, file: neutralPath },
    source,
  });
}

/** Persona suffixes (repeng's all_truncated_outputs.json: a JSON array of strings; "" allowed). */
export function readSuffixes(path: string): string[] {
  const items = readStringList(path, { allowEmpty: true });
  if (items.length === 0) throw new ModelFileError(path, 'holds no suffixes');
  return items.map((i) => i.value as string);
}

// ---------------------------------------------------------------------------------------------
// Train / validation split

/**
 * A deterministic split: the items are shuffled with a seeded generator and the first
 * round(n·fraction) become validation — at least 1 when fraction > 0 and n ≥ 2, and never all of
 * them. Both parts keep the items' original order. fraction 0 → no validation.
 */
export function splitTrainValidation<T>(items: readonly T[], fraction = 0.2, seed = 0): { train: T[]; validation: T[] } {
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) {
    throw new InvalidInputError(`the validation fraction must be in [0, 1), got ${String(fraction)}`);
  }
  validateSeed(seed);
  const n = items.length;
  const k = fraction === 0 || n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = createRng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const isValidation = new Uint8Array(n);
  for (let i = 0; i < k; i++) isValidation[order[i]] = 1;
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((item, i) => (isValidation[i] ? validation : train).push(item));
  return { train, validation };
}
