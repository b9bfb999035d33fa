import { InvalidInputError } from '../io/errors.js';
import { conceptKind, synsetKind, type ConceptKind } from './concept-kind.js';
import type { Lexicon, LexiconTerm, TermRelation } from './lexicon.js';
import { neutralTerms } from './neutral-words.js';
import { adverbOf, compoundCandidates, inflections, isPersonName, phraseFrequency, wordFrequency, type WordPos } from './word-forms.js';
import { defaultWordNet, POINTER, type WordNet } from './wordnet.js';
import { plainWord, type Synset, type WordNetPos } from './wordnet-files.js';

/**
 * Building a concept's lexicon: its kind, then its terms from WordNet (the head word, synonyms,
 * derivations, common hyponyms, similar adjectives, compounds and parts) and/or the user's own
 * words, and matched neutral words (neutral-words.ts). What a lexicon is, how it is stored and
 * how its words are counted in text is in lexicon.ts.
 */

interface LexiconOptions {
  /** The user's own concept words. */
  readonly words?: readonly string[];
  /** 'extend' (default): WordNet's words and the user's; 'replace': the user's only. */
  readonly mode?: 'replace' | 'extend';
  /** Cap on terms, head first (default 40). */
  readonly maxTerms?: number;
  readonly wordnet?: WordNet;
}

const WEIGHT: Record<TermRelation, number> = { head: 1, user: 1, synonym: 0.8, derived: 0.8, hyponym: 0.6, similar: 0.5, related: 0.4 };
const POS_NAME: Record<WordNetPos, WordPos> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

/** Too generic to signal any concept: function words and the top hypernyms. */
const EXCLUDED = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'to', 'in', 'on', 'at', 'it', 'is', 'be', 'was', 'he', 'she', 'they', 'i', 'you',
  'thing', 'things', 'object', 'person', 'people', 'someone', 'somebody', 'individual', 'animal', 'organism', 'being',
  'creature', 'entity', 'stuff', 'item', 'one', 'place', 'area', 'time', 'day', 'way', 'act', 'activity', 'event',
  'state', 'quality', 'kind', 'sort', 'type', 'part', 'matter', 'machine', 'man', 'woman', 'good', 'well', 'get', 'go',
]);

/** Common enough to count: seen this often in the SUBTLEX counts (per 51M words). */
const MIN_SYNONYM = 5;
const MIN_HYPONYM = 20;
const MIN_RELATED = 100;
const MIN_YOUNG = 50;
const MAX_HYPONYMS = 12;
const MAX_SIMILAR = 8;
const MAX_RELATED = 6;
const MAX_COMPOUNDS = 8;

/** Collects terms by word: the first relation a word comes with stays; forms merge. */
class Terms {
  private readonly byWord = new Map<string, { word: string; forms: Set<string>; relation: TermRelation }>();

  constructor(private readonly extraExcluded: ReadonlySet<string> = new Set()) {}

  has(word: string): boolean {
    return this.byWord.has(word.toLowerCase().replace(/_/g, ' '));
  }

  add(word: string, pos: WordPos | undefined, relation: TermRelation): void {
    const w = plainWord(word).toLowerCase().trim();
    if (w === '' || (relation !== 'head' && relation !== 'user' && (EXCLUDED.has(w) || this.extraExcluded.has(w)))) return;
    const forms = pos ? inflections(w, pos) : [w];
    const t = this.byWord.get(w);
    if (t) forms.forEach((f) => t.forms.add(f));
    else this.byWord.set(w, { word: w, forms: new Set([w, ...forms]), relation });
  }

  list(max: number): LexiconTerm[] {
    const order: TermRelation[] = ['head', 'user', 'synonym', 'derived', 'hyponym', 'similar', 'related'];
    return [...this.byWord.values()]
      .map((t, i) => ({ t, i }))
      .sort((a, b) => order.indexOf(a.t.relation) - order.indexOf(b.t.relation) || a.i - b.i)
      .slice(0, Math.max(1, max))
      .map(({ t }) => ({ word: t.word, forms: [...t.forms], relation: t.relation, weight: WEIGHT[t.relation] }));
  }
}

/** Lower-case WordNet lemmas only: capitalized ones are names and taxa (Sun, Felis_catus). */
const isPlainLemma = (lemma: string): boolean => lemma === lemma.toLowerCase() && /^[a-z][a-z_'-]*$/.test(lemma) && !isPersonName(lemma);

/** One sense in all of WordNet: no other meaning for the word to be counted in. */
function monosemous(wn: WordNet, lemma: string): boolean {
  return (['n', 'v', 'a', 'r'] as const).reduce((n, p) => n + (wn.lookup(lemma, p)?.offsets.length ?? 0), 0) === 1;
}

/** Whether a word is used more as another part of speech ("entire" is an adjective, not a stallion). */
function mostlyOtherPos(wn: WordNet, lemma: string, pos: WordNetPos, synset: Synset): boolean {
  const here = wn.tagCount(lemma, synset);
  return (['n', 'v', 'a', 'r'] as const).some((p) => {
    if (p === pos) return false;
    const first = wn.synsets(lemma, p)[0];
    return first !== undefined && wn.tagCount(lemma, first) > here;
  });
}

/** Whether a word's own most frequent sense is one of `senses`: its main meaning is this concept. */
function mainlyMeans(wn: WordNet, lemma: string, pos: WordNetPos, senses: ReadonlySet<number>): boolean {
  const first = wn.lookup(lemma, pos)?.offsets[0];
  return first !== undefined && senses.has(first);
}

function common(wn: WordNet, lemma: string, synset: Synset, min: number): boolean {
  if (!lemma.includes('_')) return wordFrequency(lemma) >= min;
  // Phrases ("ice cream") need both common words and a sighting in WordNet's concordance.
  return phraseFrequency(plainWord(lemma)) >= min && wn.tagCount(lemma, synset) > 0;
}

/** Hyponyms down to `depth` levels, in breadth-first order, with their depth. */
function hyponyms(wn: WordNet, roots: readonly Synset[], depth: number): Array<{ synset: Synset; depth: number }> {
  const seen = new Set(roots.map((r) => r.offset));
  const out: Array<{ synset: Synset; depth: number }> = [];
  let frontier = [...roots];
  for (let d = 1; d <= depth && frontier.length > 0 && out.length < 3000; d++) {
    const next: Synset[] = [];
    for (const s of frontier) {
      for (const h of wn.related(s, [POINTER.hyponym])) {
        if (seen.has(h.offset)) continue;
        seen.add(h.offset);
        out.push({ synset: h, depth: d });
        next.push(h);
      }
    }
    frontier = next;
  }
  return out;
}

/**
 * Words for the young of an animal: WordNet files them under "young" (young mammal, young
 * bird...), not under the animal, and names the animal in the gloss: kitten "young domestic
 * cat", puppy "a young dog", chick "young bird especially of domestic fowl".
 */
function youngOf(wn: WordNet, concept: readonly Synset[]): string[] {
  const root = wn.synsets('young', 'n').find((s) => s.lexFile === 'noun.animal');
  if (!root) return [];
  const names = [...new Set(concept.flatMap((s) => s.words.map((w) => plainWord(w.lemma).toLowerCase())))];
  const mentions = new RegExp(`\\b(?:${names.map((n) => n.replace(/[^a-z ]/g, '')).filter(Boolean).join('|')})\\b`);
  const out: string[] = [];
  for (const { synset } of hyponyms(wn, [root], 3)) {
    if (!mentions.test(synset.gloss.split(';')[0])) continue;
    for (const w of synset.words) {
      if (isPlainLemma(w.lemma) && !w.lemma.includes('_') && wordFrequency(w.lemma) >= MIN_YOUNG) out.push(w.lemma);
    }
  }
  return out;
}

/** Terms from WordNet for a classified concept. */
function wordNetTerms(wn: WordNet, k: ConceptKind, terms: Terms): void {
  if (!k.synset || k.pos === 'phrase') return;
  const pos = k.synset.pos;
  const posName = POS_NAME[pos];
  const primary = wn.synset(k.synset.offset, pos);
  const head = k.head[0].replace(/ /g, '_');
  const senseKind = synsetKind(wn, primary);

  // The concept's senses: the chosen one, the word's most frequent one unless it means
  // something else definite, and any of the first three of the same kind (sun: the star and sunshine).
  const senses = wn.synsets(head, pos);
  const concept: Synset[] = [primary];
  senses.slice(0, 3).forEach((s, i) => {
    if (s.offset === primary.offset) return;
    const kind = synsetKind(wn, s);
    // Later senses only when about as common: "sun" the star and sunshine (42, 13 uses), not
    // "cat" a guy (0), "picnic" a cinch (1) or "ball" a musket ball (5 against 35).
    const uses = wn.tagCount(head, s);
    if ((i === 0 && kind === undefined) || (kind === senseKind && uses >= 2 && uses * 4 >= wn.tagCount(head, senses[0]))) concept.push(s);
  });
  const offsets = new Set(concept.map((s) => s.offset));

  terms.add(head, posName, 'head');
  // The head in its other parts of speech when they mean the same kind of thing: snow, snowing.
  for (const other of ['n', 'v', 'a'] as const) {
    if (other === pos) continue;
    const first = wn.synsets(head, other)[0];
    if (first && synsetKind(wn, first) === senseKind) terms.add(head, POS_NAME[other], 'head');
  }

  for (const s of concept) {
    for (const w of s.words) {
      if (isPlainLemma(w.lemma) && w.lemma !== head && mainlyMeans(wn, w.lemma, pos, offsets) && common(wn, w.lemma, s, MIN_SYNONYM) && !mostlyOtherPos(wn, w.lemma, pos, s)) {
        terms.add(w.lemma, posName, 'synonym');
      }
    }
  }

  // Derivations of the head word itself (happy -> happiness, swimming -> swim, swimmer).
  for (const s of concept) {
    for (const r of wn.relatedWords(s, [POINTER.derived, POINTER.pertainym], head)) {
      // The head itself in another part of speech is covered above, when it means the same.
      if (r.lemma !== head && isPlainLemma(r.lemma) && wordFrequency(r.lemma) >= MIN_SYNONYM) terms.add(r.lemma, POS_NAME[r.synset.pos === 's' ? 'a' : r.synset.pos], 'derived');
    }
  }
  if (pos === 'a') {
    const adverb = adverbOf(head);
    if (adverb && wn.lookup(adverb, 'r')) terms.add(adverb, 'adv', 'derived');
  }

  if (pos === 'n' || pos === 'v') {
    const found = hyponyms(wn, concept, pos === 'n' ? 4 : 1);
    const subtree = new Set([...offsets, ...found.map((f) => f.synset.offset)]);
    const candidates: Array<{ lemma: string; freq: number; depth: number }> = [];
    for (const { synset, depth } of found) {
      for (const w of synset.words) {
        // Single words only: "polar bear" adds nothing to "bear" when counting, "sugar maple" is rare.
        if (!isPlainLemma(w.lemma) || w.lemma.includes('_') || terms.has(w.lemma)) continue;
        if (!mainlyMeans(wn, w.lemma, pos, subtree) || !common(wn, w.lemma, synset, MIN_HYPONYM) || mostlyOtherPos(wn, w.lemma, pos, synset)) continue;
        // A word with other meanings must be attested in this one: "hind" is a fish to WordNet
        // first, "flamboyant" a tree, "gig" a boat.
        if (!monosemous(wn, w.lemma) && wn.tagCount(w.lemma, synset) === 0) continue;
        candidates.push({ lemma: w.lemma, freq: phraseFrequency(plainWord(w.lemma)), depth });
      }
    }
    // The most common first, whatever the depth: sparrow and owl before dickeybird.
    candidates.sort((a, b) => b.freq - a.freq || a.depth - b.depth);
    const seen = new Set<string>();
    for (const c of candidates) {
      if (seen.size >= MAX_HYPONYMS) break;
      if (seen.has(c.lemma)) continue;
      seen.add(c.lemma);
      terms.add(c.lemma, posName, 'hyponym');
    }
  }

  if (senseKind === 'creature' && pos === 'n') {
    for (const young of youngOf(wn, concept)) terms.add(young, 'noun', 'hyponym');
  }

  // Not for plain qualities: everything is "similar" to tall (big, long, high).
  if (pos === 'a' && senseKind === 'feeling') {
    // Adjectives WordNet calls similar or also-see, kept only when their own main sense is of
    // the same kind (happy -> glad, cheerful; not "golden" or "bright"), from the main sense only.
    let n = 0;
    for (const s of concept.slice(0, 1)) {
      for (const t of wn.related(s, [POINTER.similar, POINTER.alsoSee])) {
        for (const w of t.words) {
          if (n >= MAX_SIMILAR || !isPlainLemma(w.lemma) || terms.has(w.lemma) || wordFrequency(w.lemma) < MIN_HYPONYM) continue;
          const first = wn.synsets(w.lemma, 'a')[0];
          // Also-see heads are words in their own right (happy ^ cheerful); satellites must share the kind.
          // Satellites must also be attested in that sense: proud & "snotty" is not.
          const own = first?.offset === t.offset && t.pos === 'a';
          if (!first || (!own && (synsetKind(wn, first) !== senseKind || wn.tagCount(w.lemma, t) === 0))) continue;
          if (mostlyOtherPos(wn, w.lemma, 'a', first)) continue; // "content" is mostly a noun
          terms.add(w.lemma, 'adj', 'similar');
          n++;
        }
      }
    }
  }

  // Compounds WordNet defines through the head: snowman "a figure of a person made of packed
  // snow", sunshine "the rays of the sun"; not carpet or Sunday, whose definitions do not.
  if (pos === 'n' || pos === 'v') {
    const mentions = new RegExp(`\\b${head.replace(/_/g, ' ')}(?:s|es)?\\b`);
    let n = 0;
    for (const c of compoundCandidates(head.replace(/_/g, ''), MIN_RELATED)) {
      if (n >= MAX_COMPOUNDS || terms.has(c) || !isPlainLemma(c)) continue;
      const first = wn.synsets(c, 'n')[0] ?? wn.synsets(c, 'v')[0];
      if (!first || !mentions.test(first.gloss.split(';')[0])) continue;
      terms.add(c, POS_NAME[first.pos === 's' ? 'a' : first.pos], 'related');
      n++;
    }
  }

  if (pos === 'n') {
    // Parts and members: a tree's branches, a forest's trees, a bird's wings.
    let n = 0;
    for (const t of wn.related(primary, [POINTER.partMeronym, POINTER.memberMeronym])) {
      for (const w of t.words) {
        if (n >= MAX_RELATED || !isPlainLemma(w.lemma) || terms.has(w.lemma)) continue;
        if (!mainlyMeans(wn, w.lemma, 'n', new Set([t.offset])) || wordFrequency(w.lemma) < MIN_RELATED) continue;
        terms.add(w.lemma, 'noun', 'related');
        n++;
      }
    }
  }
}

/** Part of speech of a user's word: the first WordNet has it as, else taken as a noun. */
function userWordPos(wn: WordNet, word: string): WordPos[] {
  const found = (['n', 'v', 'a', 'r'] as const).filter((p) => wn.baseForms(word, p).includes(word.replace(/ /g, '_')));
  return found.length > 0 ? found.map((p) => POS_NAME[p]) : ['noun'];
}

/** Builds the lexicon of a concept phrase from WordNet and/or the user's words. */
export function buildLexicon(concept: string, options: LexiconOptions = {}): Lexicon {
  const wn = options.wordnet ?? defaultWordNet();
  const mode = options.mode ?? 'extend';
  const userWords = (options.words ?? []).map((w) => w.trim().toLowerCase().replace(/\s+/g, ' ')).filter(Boolean);
  if (mode === 'replace' && userWords.length === 0) throw new InvalidInputError(`lexicon of "${concept}": mode 'replace' needs words`);
  const maxTerms = options.maxTerms ?? 40;
  if (!Number.isInteger(maxTerms) || maxTerms < 1) throw new InvalidInputError(`lexicon of "${concept}": maxTerms must be a positive integer, got ${maxTerms}`);

  const k = conceptKind(concept, wn);
  const terms = new Terms();
  const useWordNet = k.inWordNet && mode === 'extend';
  if (useWordNet) wordNetTerms(wn, k, terms);
  else if (!k.inWordNet && userWords.length === 0) k.head.forEach((h) => terms.add(h, undefined, 'head'));
  for (const w of userWords) for (const pos of userWordPos(wn, w)) terms.add(w, pos, 'user');
  const list = terms.list(maxTerms);
  return {
    concept,
    kind: k.kind,
    ...(k.topicKind ? { topicKind: k.topicKind } : {}),
    pos: k.pos,
    head: [...k.head],
    terms: list,
    neutral: neutralTerms(wn, k, list),
    source: userWords.length === 0 ? 'wordnet' : useWordNet ? 'mixed' : 'user',
    resolved: k.inWordNet || userWords.length > 0,
    why: k.why,
  };
}
