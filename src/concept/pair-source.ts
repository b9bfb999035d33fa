import { InvalidInputError } from '../io/errors.js';
import { generateBatch } from '../decoding/generate.js';
import { markerStartTokens, specialStopTexts } from '../decoding/special-text.js';
import { renderChat } from '../model/chat-template.js';
import type { HookedModel } from '../runtime/model.js';
import { validateSeed } from '../runtime/rng.js';
import type { ConceptItem } from './concept-data.js';
import type { Lexicon } from './lexicon.js';
import { phraseFrequency, wordFrequency } from './word-forms.js';
import { fillSlot, OPENINGS, SENTENCES, slotRole, type SlotRole } from './pair-templates.js';

/**
 * Two data sources a base model can make for any concept with a lexicon:
 *
 * - `pairs` (minimal pairs): a sentence with a concept term against the same sentence with a
 *   neutral term of the same role, each continued by the model with the same seed; the sentence
 *   and its continuation are read.
 * - `continuations` (concept-led): an opening that sets the concept up against the same opening
 *   with the neutral term; only the model's continuation is read, so the vector carries what the
 *   model does with the concept rather than the word itself.
 *
 * Both sides of an item sample with one seed, so where the term changes nothing they agree.
 */

type PairSourceKind = 'pairs' | 'continuations';

interface PairSourceOptions {
  readonly kind: PairSourceKind;
  readonly count: number;
  /** Tokens the model writes after each sentence / opening (default: 0 for pairs, the sentence alone is read; 32 for continuations). */
  readonly completionTokens?: number;
  readonly temperature?: number;
  readonly seed?: number;
  readonly batchSize?: number;
  /** Chat models: render the text as the assistant's reply to a neutral request. */
  readonly chat?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Concept terms to put in slots: the head most often, then close relatives the model is likely
 * to know. WordNet lists rare words beside common ones (cat: cougar, bobcat); a small model
 * reads a rare word as noise, so a relative is kept only when it is at least 2% as frequent as
 * the head in spoken English and the model spells it in at most one token more.
 */
export function slotTerms(lex: Lexicon, tokens: (word: string) => number = () => 1, max = 6): string[] {
  const head = lex.head[0] ?? lex.concept;
  const headFreq = wordFrequency(head.split(' ').at(-1) ?? head);
  const headTokens = tokens(head);
  const usable = lex.terms.filter(
    (t) =>
      t.word === head ||
      (t.relation !== 'derived' && t.weight >= 0.5 && /^[\p{L}' -]+$/u.test(t.word) && phraseFrequency(t.word) >= 0.02 * headFreq && tokens(t.word) <= headTokens + 1),
  );
  const sorted = [...usable].sort((a, b) => Number(b.word === head) - Number(a.word === head) || b.weight - a.weight);
  const words = [...new Set(sorted.map((t) => t.word))].slice(0, max);
  if (words.length === 0) return [head];
  // The head twice: it is what users name, and most of the signal should be about it.
  return [words[0], ...words];
}

/** Neutral terms of the slot's part of speech (a noun slot takes nouns, an adjective slot adjectives). */
export function neutralTerms(lex: Lexicon, role: SlotRole): string[] {
  const pos = role === 'adjective' ? 'adj' : role === 'gerund' ? undefined : 'noun';
  const fit = lex.neutral.filter((n) => (pos === undefined ? n.pos === 'noun' || n.pos === 'verb' : n.pos === pos));
  const words = (fit.length > 0 ? fit : lex.neutral).map((n) => (role === 'gerund' && n.pos === 'verb' ? gerundOf(n) : n.word));
  return [...new Set(words)];
}

/** The -ing form of a neutral verb, from its listed forms when there is one. */
function gerundOf(n: { word: string; forms: readonly string[] }): string {
  return n.forms.find((f) => f.endsWith('ing')) ?? `${n.word}ing`;
}

/**
 * Base models end a text that is a single sentence (a one-line story is over), so each frame
 * follows a neutral opening that is not read: the model then continues a story in progress.
 */
export const CONTINUATION_CUES: readonly string[] = ['One day,', 'Every day,', 'Then', 'After that,'];

export const STORY_CONTEXT: readonly string[] = [
  'Once upon a time, in a small town, there lived a family.',
  'This is a story about a normal day.',
  'Once upon a time, there was a little house on a hill.',
  'One day, the children woke up early.',
];

const CHAT_REQUEST = 'Tell me a short story.';

/** Makes `count` items of one kind for the lexicon's concept. */
export async function pairSourceItems(model: HookedModel, lex: Lexicon, opts: PairSourceOptions): Promise<ConceptItem[]> {
  const { kind, count } = opts;
  if (!Number.isInteger(count) || count < 1) throw new InvalidInputError(`count must be a positive integer, got ${count}`);
  const seed = opts.seed ?? 0;
  validateSeed(seed);
  const role: SlotRole = slotRole(lex.kind === 'topic' ? (lex.topicKind ?? 'thing') : lex.kind, lex.pos, lex.head[0] ?? lex.concept);
  const bos = model.spec.addBos ? 1 : 0;
  const positives = slotTerms(lex, (w) => model.encode(` ${w}`).length - bos);
  const negatives = neutralTerms(lex, role);
  if (negatives.length === 0) throw new InvalidInputError(`the lexicon of "${lex.concept}" has no neutral terms to contrast with`);
  const frames = kind === 'pairs' ? SENTENCES[role] : OPENINGS[role];
  // A minimal pair's continuation diverges at random after the term and drowns its signal: pairs read the sentence.
  const tokens = opts.completionTokens ?? (kind === 'pairs' ? 0 : 32);
  const chat = opts.chat ?? false;
  if (chat && !model.chatTemplate) throw new InvalidInputError(`${model.source.name} has no chat template; use chat: false`);

  // Item i: frame i mod F, concept term i mod P, neutral term chosen apart so pairings vary.
  const plans = Array.from({ length: count }, (_, i) => {
    const frame = frames[i % frames.length];
    return {
      context: chat ? '' : STORY_CONTEXT[i % STORY_CONTEXT.length],
      // Continuations go on mid-story: a cue after the opening keeps a story model from ending there.
      cue: kind === 'continuations' ? CONTINUATION_CUES[i % CONTINUATION_CUES.length] : '',
      positive: fillSlot(frame, positives[i % positives.length]),
      negative: fillSlot(frame, negatives[(i * 5 + Math.floor(i / frames.length)) % negatives.length]),
    };
  });
  const prefix = chat ? renderChat(model.chatTemplate!, [{ role: 'user', content: CHAT_REQUEST }], { addGenerationPrompt: true, specialTokens: model.specialTokens }) : '';
  const encode = (context: string, text: string): number[] => {
    const full = prefix + (context ? `${context} ${text}` : text);
    const bos = model.specialTokens.bos_token;
    return model.encode(full, { addBos: chat && bos && full.startsWith(bos) ? false : model.spec.addBos });
  };

  const written = new Map<string, string>();
  // With the end token banned, a story model spells its end marker ("<|end_story|>") in ordinary
  // tokens instead, which stops generation just the same: the tokens that start one are banned too.
  const banned = tokens > 0 ? [...model.spec.eosTokenIds, ...markerStartTokens(model.tokenizer, model.spec.vocabSize, specialStopTexts(model))] : [];
  const noEnd = new Map(banned.map((id) => [id, -Infinity] as [number, number]));
  const batchSize = opts.batchSize ?? 32;
  if (tokens > 0) {
    // Row r of a batch samples with seed + r: the two sides of item i go in aligned batches.
    for (let start = 0; start < count; start += batchSize) {
      const slice = plans.slice(start, start + batchSize);
      for (const side of ['p', 'n'] as const) {
        const prompts = slice.map((p) => encode(p.context, `${side === 'p' ? p.positive : p.negative}${p.cue ? ` ${p.cue}` : ''}`));
        // End of text banned: after a short frame a small story model likes to stop, and nothing would be read.
        const out = await generateBatch(model, prompts, { maxTokens: tokens, temperature: opts.temperature ?? 0.8, topP: 0.95, seed: seed + start, logitBias: noEnd });
        out.forEach((o, k) => written.set(`${side}|${start + k}`, o.text));
      }
      opts.onProgress?.(Math.min(start + batchSize, count), count);
    }
  }
  return plans.map((p, i) => {
    const pos = written.get(`p|${i}`) ?? '';
    const neg = written.get(`n|${i}`) ?? '';
    // A chat reply cannot be read from its middle: the whole reply is the completion.
    if (chat) return { positive: { prompt: CHAT_REQUEST, completion: p.positive + pos }, negative: { prompt: CHAT_REQUEST, completion: p.negative + neg } };
    // The context is the prompt (not read); pairs read the sentence and its continuation, continuations only what the model wrote.
    if (kind === 'pairs') {
      return { positive: { prompt: p.context, completion: p.positive + pos }, negative: { prompt: p.context, completion: p.negative + neg } };
    }
    return { positive: { prompt: `${p.context} ${p.positive} ${p.cue}`.trim(), completion: pos }, negative: { prompt: `${p.context} ${p.negative} ${p.cue}`.trim(), completion: neg } };
  });
}
