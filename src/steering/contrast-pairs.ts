/**
 * Builds contrastive datasets from in-memory items, one builder per format (texts, completions,
 * CAA A/B, unpaired sets, prompted pairs, persona pairs). The builders take located items, so the
 * file readers (contrast-files.ts) reuse them with file/line locations.
 */
import { InvalidInputError } from '../io/errors.js';
import type { Located } from '../io/json-records.js';
import type { ContrastDataset, ContrastExample, ContrastPair, DatasetModel, DatasetOptions } from './contrast-dataset.js';
import { context, describe, fail, located, record, stringField, type Context } from './contrast-checks.js';
import { builder, Encoder, finish, pairOf, type Piece } from './contrast-encoder.js';

interface PersonaOptions {
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
// Loaders on parsed items (in-memory indices or file lines: the file readers call them too)

export function buildTexts(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
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

export function buildCompletions(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
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

export function buildCaa(model: DatasetModel, items: readonly Located<unknown>[], opts: DatasetOptions, ctx: Context): ContrastDataset {
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

export function buildSets(
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
