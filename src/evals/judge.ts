import { InvalidInputError } from '../io/errors.js';
import { checkReplies, type GenerationRequest, type TextGenerator } from '../generators/text-generator.js';

/**
 * An LLM judge in the style of AxBench (Wu et al., 2025): three separate 0–2 ratings per
 * steered response — does it involve the concept, does it address the instruction, is it
 * fluent — combined by their harmonic mean, so a response must do all three to score.
 * The prompt wording here is Steerer's own.
 */
export interface JudgeItem {
  readonly instruction: string;
  readonly response: string;
  readonly concept: string;
}

export interface JudgeScores {
  readonly concept: number;
  readonly instruction: number;
  readonly fluency: number;
  /** Harmonic mean of the three (0 when any is 0). */
  readonly score: number;
}

/** The three questions the judge answers per response. */
export type JudgeField = 'concept' | 'instruction' | 'fluency';

export interface JudgeResult {
  readonly perItem: JudgeScores[];
  /** Mean of each field over the items. */
  readonly mean: JudgeScores;
  /** Ratings whose reply held no valid `Rating: N` line (each counted as 0). */
  readonly unparsed: number;
  /**
   * Per item, the fields whose 0 is such a placeholder rather than a verdict, so a caller
   * comparing items can leave them out instead of reading a tie.
   */
  readonly unparsedFields: JudgeField[][];
}

export interface JudgeOptions {
  readonly seed?: number;
  /** Reply length per rating (default 64): room for one sentence of reasoning and the rating line. */
  readonly maxTokens?: number;
}

const RATING_LINE = 'End your reply with a line of the form "Rating: N", where N is 0, 1 or 2.';

function conceptPrompt(item: JudgeItem): string {
  return [
    `You are grading a piece of text for one thing only: whether it involves the concept "${item.concept}".`,
    'Ignore whether the text is well written or answers any question.',
    '',
    'Scale:',
    '0 = the concept does not appear at all.',
    '1 = the concept is hinted at or appears only in passing.',
    '2 = the concept is clearly and prominently present.',
    '',
    'Text:',
    '"""',
    item.response,
    '"""',
    '',
    `Give one short sentence of reasoning. ${RATING_LINE}`,
  ].join('\n');
}

function instructionPrompt(item: JudgeItem): string {
  return [
    'You are grading how well a response addresses the request it was written for.',
    'Judge only relevance to the request; do not penalise unrelated extra themes or topics, and ignore style.',
    '',
    'Scale:',
    '0 = the response ignores the request or is about something else.',
    '1 = the response is loosely related to the request or answers only part of it.',
    '2 = the response clearly addresses the request.',
    '',
    'Request:',
    '"""',
    item.instruction,
    '"""',
    '',
    'Response:',
    '"""',
    item.response,
    '"""',
    '',
    `Give one short sentence of reasoning. ${RATING_LINE}`,
  ].join('\n');
}

function fluencyPrompt(item: JudgeItem): string {
  return [
    'You are grading the language quality of a piece of text: is it fluent, grammatical and coherent?',
    'Ignore its topic and whether it is relevant to anything.',
    '',
    'Scale:',
    '0 = broken: repetition loops, word salad or nonsense.',
    '1 = readable but with clear errors, awkward phrasing or lapses in coherence.',
    '2 = fluent and coherent throughout.',
    '',
    'Text:',
    '"""',
    item.response,
    '"""',
    '',
    `Give one short sentence of reasoning. ${RATING_LINE}`,
  ].join('\n');
}

/** The three judge prompts for an item, in the order concept, instruction, fluency. Exported for inspection. */
export function judgePrompts(item: JudgeItem): [concept: string, instruction: string, fluency: string] {
  return [conceptPrompt(item), instructionPrompt(item), fluencyPrompt(item)];
}

/*
 * "Rating" then optional markdown (**, __) and a colon, then the number optionally in [[ ]]
 * or [ ]. The number is captured with any decimal part so "Rating: 1.5" is rejected rather
 * than read as 1.
 */
const RATING_RE = /rating[*_]*\s*[:=][*_\s]*\[{0,2}\s*(\d+(?:\.\d+)?)\s*\]{0,2}/gi;

/** The last `Rating: N` in a judge reply; null if there is none or its N is not 0, 1 or 2. */
export function parseRating(reply: string): number | null {
  let last: string | undefined;
  for (const m of reply.matchAll(RATING_RE)) last = m[1];
  if (last === undefined) return null;
  const n = Number(last);
  return n === 0 || n === 1 || n === 2 ? n : null;
}

/** Harmonic mean of the three ratings; 0 when any is 0 (the mean's limit, as AxBench scores it). */
export function harmonicScore(concept: number, instruction: number, fluency: number): number {
  if (concept <= 0 || instruction <= 0 || fluency <= 0) return 0;
  return 3 / (1 / concept + 1 / instruction + 1 / fluency);
}

/**
 * Rates each item three times with the generator (greedy, all 3·n requests in one
 * `complete` call so a local generator batches them).
 */
export async function judgeResponses(generator: TextGenerator, items: readonly JudgeItem[], opts: JudgeOptions = {}): Promise<JudgeResult> {
  if (items.length === 0) throw new InvalidInputError('judgeResponses needs at least one item');
  const maxTokens = opts.maxTokens ?? 64;
  const requests: GenerationRequest[] = items.flatMap((item) =>
    judgePrompts(item).map((content) => ({ messages: [{ role: 'user' as const, content }], maxTokens, temperature: 0, seed: opts.seed })),
  );
  const replies = await generator.complete(requests);
  checkReplies(generator, replies, requests.length);

  const unparsedFields: JudgeField[][] = items.map(() => []);
  const rate = (i: number, k: number, field: JudgeField): number => {
    const r = parseRating(replies[3 * i + k]);
    if (r === null) unparsedFields[i].push(field);
    return r ?? 0;
  };
  const perItem = items.map((_, i) => {
    const concept = rate(i, 0, 'concept');
    const instruction = rate(i, 1, 'instruction');
    const fluency = rate(i, 2, 'fluency');
    return { concept, instruction, fluency, score: harmonicScore(concept, instruction, fluency) };
  });
  const avg = (f: (s: JudgeScores) => number) => perItem.reduce((a, s) => a + f(s), 0) / perItem.length;
  return {
    perItem,
    mean: { concept: avg((s) => s.concept), instruction: avg((s) => s.instruction), fluency: avg((s) => s.fluency), score: avg((s) => s.score) },
    unparsed: unparsedFields.reduce((n, f) => n + f.length, 0),
    unparsedFields,
  };
}
