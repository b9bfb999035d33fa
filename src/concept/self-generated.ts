import { InvalidInputError } from '../io/errors.js';
import type { ConceptKindName } from './concept-kind.js';
import { checkReplies, type GenerationRequest, type TextGenerator } from '../generators/text-generator.js';

/**
 * Concept data written by a language model: short prompts (or texts) that clearly involve a
 * concept, and matching neutral ones. With a local instruct model as the generator this is
 * the "self-generated" source; with an OpenAI-compatible endpoint it is the "external
 * generator" — the code is the same, only the TextGenerator differs.
 */
export type ConceptItemKind = 'prompts' | 'texts';

export interface ConceptItemsOptions {
  readonly concept: string;
  /** What the negative items are about; omitted → neutral items that avoid the concept. */
  readonly neutral?: string;
  /** Items wanted per side (the result may hold fewer after filtering). */
  readonly count: number;
  readonly kind: ConceptItemKind;
  /** Request i (positives first, then negatives) uses seed + i. */
  readonly seed: number;
  /** Sampling temperature (default 0.8): different seeds must be able to give different lists. */
  readonly temperature?: number;
  /** Reply length per request (default: enough for its items at maxWords). */
  readonly maxTokens?: number;
  /** Items per request at most (default and cap 10), so small models are never asked for long lists. */
  readonly perRequest?: number;
  readonly minWords?: number;
  /** Default 40 for prompts, 80 for texts. */
  readonly maxWords?: number;
  /** Concept score per text, for the wrong-side rule of filterItems. */
  readonly scorer?: ItemScorer;
  /** The concept's kind (see conceptKind): the request names it accordingly. */
  readonly conceptKind?: ConceptKindName;
}

export type ItemScorer = (texts: string[]) => Promise<number[]>;

export type ItemDropReason = 'empty' | 'too-short' | 'too-long' | 'repetition' | 'low-diversity' | 'duplicate' | 'wrong-side' | 'surplus';

export interface DroppedListItem {
  readonly text: string;
  readonly side: 'positive' | 'negative';
  readonly reason: ItemDropReason;
}

export interface GeneratedConceptItems {
  readonly positive: string[];
  readonly negative: string[];
  /** Everything filtered out, with why, for reports. */
  readonly dropped: DroppedListItem[];
}

const MAX_PER_REQUEST = 10;

/** Asks the generator for concept items and filters them (see filterItems). */
export async function requestConceptItems(generator: TextGenerator, opts: ConceptItemsOptions): Promise<GeneratedConceptItems> {
  const { concept, count, kind, seed } = opts;
  if (!concept.trim()) throw new InvalidInputError('concept must not be empty');
  if (opts.neutral !== undefined && !opts.neutral.trim()) throw new InvalidInputError('neutral must not be empty when given');
  if (!Number.isInteger(count) || count < 1) throw new InvalidInputError(`count must be a positive integer, got ${count}`);
  if (kind !== 'prompts' && kind !== 'texts') throw new InvalidInputError(`kind must be "prompts" or "texts", got ${String(kind)}`);
  if (!Number.isSafeInteger(seed)) throw new InvalidInputError(`seed must be an integer, got ${seed}`);
  const perRequest = opts.perRequest ?? MAX_PER_REQUEST;
  if (!Number.isInteger(perRequest) || perRequest < 1 || perRequest > MAX_PER_REQUEST) {
    throw new InvalidInputError(`perRequest must be an integer from 1 to ${MAX_PER_REQUEST}, got ${perRequest}`);
  }
  const minWords = opts.minWords ?? 3;
  const maxWords = opts.maxWords ?? (kind === 'prompts' ? 40 : 80);

  const sizes: number[] = [];
  for (let left = count; left > 0; left -= perRequest) sizes.push(Math.min(perRequest, left));
  const request = (content: string, n: number, i: number): GenerationRequest => ({
    messages: [{ role: 'user', content }],
    // ~1.5 tokens per word plus numbering, and slack for a preamble line.
    maxTokens: opts.maxTokens ?? Math.ceil(n * (maxWords * 1.5 + 4)) + 32,
    temperature: opts.temperature ?? 0.8,
    seed: seed + i,
  });
  // Consecutive seeds on otherwise equal requests let a local generator run them as one batch.
  const requests = [
    ...sizes.map((n, i) => request(positivePrompt(concept, kind, n, opts.conceptKind), n, i)),
    ...sizes.map((n, i) => request(negativePrompt(concept, opts.neutral, kind, n), n, sizes.length + i)),
  ];
  const replies = await generator.complete(requests);
  checkReplies(generator, replies, requests.length);

  const positive = replies.slice(0, sizes.length).flatMap(parseNumberedList);
  const negative = replies.slice(sizes.length).flatMap(parseNumberedList);
  const filtered = await filterItems(positive, negative, { minWords, maxWords, scorer: opts.scorer });
  const dropped = [...filtered.dropped];
  const keep = (items: string[], side: 'positive' | 'negative') => {
    for (const text of items.slice(count)) dropped.push({ text, side, reason: 'surplus' });
    return items.slice(0, count);
  };
  return { positive: keep(filtered.positive, 'positive'), negative: keep(filtered.negative, 'negative'), dropped };
}

function what(kind: ConceptItemKind, n: number): string {
  return kind === 'prompts'
    ? `${n} different short messages that a person might send to an AI assistant (questions or requests, 5 to 25 words each)`
    : `${n} different short texts (one or two sentences each, like lines from stories, articles or conversations)`;
}

const FORMAT =
  'Vary the topics, settings and wording. Write only the numbered list, one item per line, with no introduction or commentary:\n1. ...\n2. ...';

/**
 * How the request names the concept, by its kind: a feeling is expressed, a thing or place
 * appears, a style is how the text is written, a behaviour is shown ("involve" otherwise).
 */
function conceptRequirement(concept: string, conceptKind?: ConceptKindName): string {
  switch (conceptKind) {
    case 'feeling':
    case 'quality':
      return `Each one must clearly express or describe being ${concept}.`;
    case 'creature':
    case 'thing':
    case 'place':
    case 'weather':
      return `Each one must clearly mention ${concept} and be about it.`;
    case 'activity':
    case 'topic':
      return `Each one must clearly be about ${concept}.`;
    case 'style':
      return `Each one must be written in this style: ${concept}.`;
    case 'behaviour':
      return `Each one must clearly show this behaviour: ${concept}.`;
    default:
      return `Each one must clearly involve ${concept}.`;
  }
}

export function positivePrompt(concept: string, kind: ConceptItemKind, n: number, conceptKind?: ConceptKindName): string {
  return `Write ${what(kind, n)}. ${conceptRequirement(concept, conceptKind)} ${FORMAT}`;
}

export function negativePrompt(concept: string, neutral: string | undefined, kind: ConceptItemKind, n: number): string {
  const about = neutral
    ? `Each one must clearly be about ${neutral}, and none may mention or hint at ${concept}.`
    : `They should be about everyday, ordinary subjects, and none may mention or hint at ${concept}.`;
  return `Write ${what(kind, n)}. ${about} ${FORMAT}`;
}

const ITEM_RE = /^\s*(?:\d{1,3}\s*[.):]|[-*•])\s+(.*\S)\s*$/;
const QUOTES: readonly [string, string][] = [
  ['"', '"'],
  ["'", "'"],
  ['“', '”'],
  ['‘', '’'],
  ['«', '»'],
  ['`', '`'],
];

/**
 * Items of a list reply: lines starting "1. ", "1) ", "1: ", "- ", "* " or "• ". Other lines
 * (preambles, blank lines, continuations) are ignored; surrounding quotes are stripped.
 */
export function parseNumberedList(reply: string): string[] {
  const items: string[] = [];
  for (const line of reply.split(/\r?\n/)) {
    const m = ITEM_RE.exec(line);
    if (!m) continue;
    let text = m[1].trim();
    for (let changed = true; changed; ) {
      changed = false;
      for (const [open, close] of QUOTES) {
        if (text.length >= 2 && text.startsWith(open) && text.endsWith(close)) {
          text = text.slice(open.length, text.length - close.length).trim();
          changed = true;
        }
      }
    }
    if (text) items.push(text);
  }
  return items;
}

export interface FilterItemsOptions {
  /** Fewer words → dropped (default 3). */
  readonly minWords?: number;
  /** More words → dropped (default 60). */
  readonly maxWords?: number;
  readonly scorer?: ItemScorer;
}

export interface FilteredItems {
  readonly positive: string[];
  readonly negative: string[];
  readonly dropped: DroppedListItem[];
}

/** Lowercase words with punctuation removed: the key for duplicates and word statistics. */
function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/**
 * Drops items that make poor concept data. In order:
 *   1. trim; empty → 'empty'; fewer than minWords or more than maxWords words → 'too-short'/'too-long'
 *      (words = whitespace-separated tokens);
 *   2. a word repeated 4+ times in a row → 'repetition'; distinct/total words < 0.5 → 'low-diversity'
 *      (both signs of degenerate generation);
 *   3. duplicates ignoring case and punctuation → 'duplicate' (first kept); an item present on
 *      both sides is contradictory, so every copy of it goes;
 *   4. with a scorer (higher = more of the concept), computed once over the survivors: a
 *      positive scoring below the median of the negatives' scores, or a negative scoring
 *      above the median of the positives' scores, is on the wrong side → 'wrong-side'. Both
 *      medians are taken before this step drops anything; the step is skipped when a side is empty.
 */
export async function filterItems(positive: readonly string[], negative: readonly string[], opts: FilterItemsOptions = {}): Promise<FilteredItems> {
  const minWords = opts.minWords ?? 3;
  const maxWords = opts.maxWords ?? 60;
  if (!Number.isInteger(minWords) || minWords < 0) throw new InvalidInputError(`minWords must be a non-negative integer, got ${minWords}`);
  if (!Number.isInteger(maxWords) || maxWords < Math.max(1, minWords)) {
    throw new InvalidInputError(`maxWords must be an integer ≥ minWords and ≥ 1, got ${maxWords}`);
  }
  const dropped: DroppedListItem[] = [];

  const clean = (items: readonly string[], side: 'positive' | 'negative'): string[] => {
    const kept: string[] = [];
    const seen = new Set<string>();
    for (const raw of items) {
      const text = raw.trim();
      const reason = textProblem(text, minWords, maxWords) ?? (seen.has(dedupeKey(text)) ? 'duplicate' : undefined);
      if (reason) {
        dropped.push({ text, side, reason });
        continue;
      }
      seen.add(dedupeKey(text));
      kept.push(text);
    }
    return kept;
  };
  let pos = clean(positive, 'positive');
  let neg = clean(negative, 'negative');

  const posKeys = new Set(pos.map(dedupeKey));
  const both = new Set(neg.map(dedupeKey).filter((k) => posKeys.has(k)));
  if (both.size > 0) {
    const split = (items: string[], side: 'positive' | 'negative') =>
      items.filter((text) => {
        if (!both.has(dedupeKey(text))) return true;
        dropped.push({ text, side, reason: 'duplicate' });
        return false;
      });
    pos = split(pos, 'positive');
    neg = split(neg, 'negative');
  }

  if (opts.scorer && pos.length > 0 && neg.length > 0) {
    const scores = await opts.scorer([...pos, ...neg]);
    if (!Array.isArray(scores) || scores.length !== pos.length + neg.length || scores.some((s) => typeof s !== 'number' || !Number.isFinite(s))) {
      throw new InvalidInputError(`the concept scorer must return ${pos.length + neg.length} finite numbers`);
    }
    const posScores = scores.slice(0, pos.length);
    const negScores = scores.slice(pos.length);
    const negMedian = median(negScores);
    const posMedian = median(posScores);
    const side = (items: string[], s: number[], name: 'positive' | 'negative', wrong: (score: number) => boolean) =>
      items.filter((text, i) => {
        if (!wrong(s[i])) return true;
        dropped.push({ text, side: name, reason: 'wrong-side' });
        return false;
      });
    pos = side(pos, posScores, 'positive', (s) => s < negMedian);
    neg = side(neg, negScores, 'negative', (s) => s > posMedian);
  }
  return { positive: pos, negative: neg, dropped };
}

function dedupeKey(text: string): string {
  return words(text).join(' ');
}

function textProblem(text: string, minWords: number, maxWords: number): ItemDropReason | undefined {
  if (text === '') return 'empty';
  const count = text.split(/\s+/).length;
  if (count < minWords) return 'too-short';
  if (count > maxWords) return 'too-long';
  const ws = words(text);
  let run = 1;
  for (let i = 1; i < ws.length; i++) {
    run = ws[i] === ws[i - 1] ? run + 1 : 1;
    if (run >= 4) return 'repetition';
  }
  if (ws.length > 0 && new Set(ws).size / ws.length < 0.5) return 'low-diversity';
  // An item of punctuation only has no words to judge.
  if (ws.length === 0) return 'empty';
  return undefined;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
