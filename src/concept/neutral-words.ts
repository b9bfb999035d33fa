import type { ConceptKind, ConceptKindName } from './concept-kind.js';
import type { LexiconTerm, NeutralTerm } from './lexicon.js';
import { inflections, type WordPos } from './word-forms.js';
import type { WordNet } from './wordnet.js';

/**
 * Choosing a lexicon's neutral words: the ordinary words a minimal pair swaps in for the
 * concept's, per concept kind, less any the concept itself uses or is (through WordNet's is-a).
 */

/**
 * Hand-curated neutral words per concept kind: ordinary words of the same part of speech and
 * sentence role that carry no emotion, creature, weather... A minimal pair swaps the concept
 * word for one of these ("The cat sat by the door." / "The boy sat by the door."). Weather
 * concepts pair with day words and plain adjectives, since "It was snowing" pairs with "It was
 * quiet". Kept small on purpose; words the concept itself uses are removed per lexicon.
 */
const NEUTRAL_POOLS: Record<ConceptKindName, ReadonlyArray<readonly [string, WordPos]>> = {
  feeling: [
    ['tall', 'adj'], ['young', 'adj'], ['busy', 'adj'], ['ready', 'adj'], ['awake', 'adj'], ['little', 'adj'], ['old', 'adj'], ['late', 'adj'],
    ['time', 'noun'], ['work', 'noun'], ['news', 'noun'], ['color', 'noun'], ['noise', 'noun'],
    ['see', 'verb'], ['watch', 'verb'], ['find', 'verb'], ['visit', 'verb'], ['meet', 'verb'],
  ],
  quality: [['tall', 'adj'], ['young', 'adj'], ['busy', 'adj'], ['ready', 'adj'], ['little', 'adj'], ['old', 'adj'], ['new', 'adj'], ['late', 'adj']],
  creature: [['boy', 'noun'], ['girl', 'noun'], ['man', 'noun'], ['woman', 'noun'], ['friend', 'noun'], ['kid', 'noun'], ['teacher', 'noun'], ['neighbor', 'noun'], ['baby', 'noun']],
  thing: [['box', 'noun'], ['cup', 'noun'], ['book', 'noun'], ['chair', 'noun'], ['rock', 'noun'], ['bag', 'noun'], ['hat', 'noun'], ['spoon', 'noun'], ['table', 'noun']],
  place: [['house', 'noun'], ['room', 'noun'], ['street', 'noun'], ['town', 'noun'], ['yard', 'noun'], ['shop', 'noun'], ['hall', 'noun'], ['kitchen', 'noun']],
  weather: [
    ['day', 'noun'], ['morning', 'noun'], ['evening', 'noun'], ['afternoon', 'noun'], ['ground', 'noun'], ['road', 'noun'],
    ['quiet', 'adj'], ['late', 'adj'], ['early', 'adj'], ['busy', 'adj'], ['still', 'adj'],
  ],
  activity: [
    ['lesson', 'noun'], ['meeting', 'noun'], ['chore', 'noun'], ['errand', 'noun'], ['class', 'noun'], ['lunch', 'noun'],
    ['read', 'verb'], ['wait', 'verb'], ['work', 'verb'], ['clean', 'verb'], ['walk', 'verb'], ['sit', 'verb'],
  ],
  topic: [['work', 'noun'], ['weather', 'noun'], ['food', 'noun'], ['news', 'noun'], ['travel', 'noun'], ['homework', 'noun']],
  style: [['plain', 'adj'], ['normal', 'adj'], ['ordinary', 'adj'], ['simple', 'adj'], ['usual', 'adj']],
  behaviour: [],
  unknown: [],
};

/** True when a neutral word is the concept or a kind of it, or the concept is a kind of it (kitchen / room). */
function relatedByIsA(wn: WordNet, word: string, concept: ReadonlySet<number>, conceptAncestors: ReadonlySet<number>): boolean {
  for (const s of wn.synsets(word, 'n').slice(0, 2)) {
    if (concept.has(s.offset) || conceptAncestors.has(s.offset)) return true;
    if (wn.ancestors(s).some((a) => concept.has(a.offset))) return true;
  }
  return false;
}

/** The neutral words for a concept of kind `k` whose terms are `terms`, its own part of speech first. */
export function neutralTerms(wn: WordNet, k: ConceptKind, terms: readonly LexiconTerm[]): NeutralTerm[] {
  const pool = NEUTRAL_POOLS[k.kind === 'topic' && k.topicKind && k.topicKind !== 'topic' ? k.topicKind : k.kind];
  const used = new Set(terms.flatMap((t) => [t.word, ...t.forms]));
  const concept = new Set<number>();
  const ancestors = new Set<number>();
  if (k.synset && k.synset.pos === 'n') {
    const s = wn.synset(k.synset.offset, 'n');
    concept.add(s.offset);
    wn.ancestors(s).forEach((a) => ancestors.add(a.offset));
  }
  const out: NeutralTerm[] = [];
  for (const [word, pos] of pool) {
    const forms = inflections(word, pos);
    if (forms.some((f) => used.has(f))) continue;
    if (pos === 'noun' && concept.size > 0 && relatedByIsA(wn, word, concept, ancestors)) continue;
    out.push({ word, forms, pos });
  }
  // The concept's own part of speech first: those are the ones a minimal pair swaps in.
  const first = k.pos === 'phrase' ? undefined : k.pos;
  return [...out.filter((n) => n.pos === first), ...out.filter((n) => n.pos !== first)];
}
