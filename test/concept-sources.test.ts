import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConceptItem } from '../src/concept/concept-data.js';
import { corpusItems, splitSentences, windows } from '../src/concept/corpus-source.js';
import { countConceptHits, type Lexicon } from '../src/concept/lexicon.js';
import { buildLexicon } from '../src/concept/lexicon-build.js';
import { neutralTerms, pairSourceItems, slotTerms, CONTINUATION_CUES, STORY_CONTEXT } from '../src/concept/pair-source.js';
import { fillSlot, OPENINGS, SENTENCES, slotRole, withArticle, type SlotRole } from '../src/concept/pair-templates.js';
import { gateItems } from '../src/concept/quality-gate.js';
import { generate } from '../src/decoding/generate.js';
import { CONCEPT_METRICS, presenceScorer } from '../src/evals/concept-score.js';
import { InvalidInputError } from '../src/io/errors.js';
import { openModel } from '../src/index.js';
import type { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';

const cat = buildLexicon('cat');

const side = (prompt: string, completion: string) => ({ prompt, completion });
const item = (pp: string, pc: string, np: string, nc: string): ConceptItem => ({ positive: side(pp, pc), negative: side(np, nc) });

/** A hand-made lexicon: only the fields the functions under test read matter. */
function lexicon(over: Partial<Lexicon>): Lexicon {
  return { concept: 'x', kind: 'thing', pos: 'noun', head: ['x'], terms: [], neutral: [], source: 'user', resolved: true, why: 'test', ...over };
}

describe('quality gate', () => {
  test('keeps items whose positive names the concept and whose negative does not; counts and mean hits by hand', () => {
    const items = [
      item('P.', 'The kitten played with a cat.', 'N.', 'The boy played with a ball.'), // 2 / 0: kept
      item('P.', 'The cat slept.', 'N.', 'The cat woke.'), // 1 / 1: concept in negative
      item('P.', 'The boy slept.', 'N.', 'The girl slept.'), // 0 / 0: no concept
      item('P.', 'A dog barked.', 'N.', 'Two cats hissed.'), // 0 / 1: no concept (checked first)
      item('P.', '', 'N.', 'The girl slept.'), // empty positive
      item('P.', 'Cats run. Kitty too.', 'N.', '   '), // 2 / 0, empty negative
      item('P.', 'A catalog of cattle.', 'N.', 'A boy.'), // no whole-word hit: no concept
    ];
    const { kept, dropped, report } = gateItems(items, cat, 'pairs');
    assert.deepEqual(kept, [items[0]]);
    assert.equal(kept[0], items[0]);
    assert.deepEqual(dropped, [
      { text: 'P. The cat slept.', reason: 'pairs: the negative side names a concept term' },
      { text: 'P. The boy slept.', reason: 'pairs: the positive side names no concept term' },
      { text: 'P. A dog barked.', reason: 'pairs: the positive side names no concept term' },
      { text: 'P.', reason: 'pairs: a side has nothing to read' },
      { text: 'P. Cats run. Kitty too.', reason: 'pairs: a side has nothing to read' },
      { text: 'P. A catalog of cattle.', reason: 'pairs: the positive side names no concept term' },
    ]);
    // Positive hits 2+1+0+0+0+2+0 = 5, negative 0+1+0+1+0+0+0 = 2, over 7 items.
    assert.deepEqual(report, { source: 'pairs', considered: 7, kept: 1, droppedNoConcept: 3, droppedConceptInNegative: 1, positiveHits: 5 / 7, negativeHits: 2 / 7 });
  });

  test('positiveSetUp: a concept-led prompt stands in for the positive read text', () => {
    const led = item('Once there was a cat.', 'It slept all day.', 'Once there was a boy.', 'He slept all day.');
    const leaky = item('Once there was a cat.', 'It slept all day.', 'Once there was a boy.', 'He saw a kitten.');
    const unled = item('Once there was a boy.', 'It slept all day.', 'Once there was a girl.', 'He slept all day.');
    const emptyLed = item('Once there was a cat.', ' ', 'Once there was a boy.', 'He slept.');
    // Only the negative's read text counts: a negative prompt naming the concept is fine.
    const negPrompt = item('A cat.', 'It ran.', 'The cat left.', 'He slept.');

    const plain = gateItems([led, negPrompt], cat, 'continuations');
    assert.deepEqual(plain.kept, []);
    assert.equal(plain.report.droppedNoConcept, 2);

    const setUp = gateItems([led, leaky, unled, emptyLed, negPrompt], cat, 'continuations', { positiveSetUp: true });
    assert.deepEqual(setUp.kept, [led, negPrompt]);
    assert.deepEqual(setUp.dropped.map((d) => d.reason), [
      'continuations: the negative side names a concept term',
      'continuations: the positive side names no concept term',
      'continuations: a side has nothing to read',
    ]);
    assert.equal(setUp.dropped[0].text, 'Once there was a cat. It slept all day.');
    assert.deepEqual(setUp.report, {
      source: 'continuations', considered: 5, kept: 2, droppedNoConcept: 1, droppedConceptInNegative: 1,
      positiveHits: 0, // prompts are not counted
      negativeHits: 1 / 5,
    });
  });

  test('no items: an empty report, not NaN', () => {
    assert.deepEqual(gateItems([], cat, 'corpus').report, { source: 'corpus', considered: 0, kept: 0, droppedNoConcept: 0, droppedConceptInNegative: 0, positiveHits: 0, negativeHits: 0 });
  });
});

describe('corpus source', () => {
  test('splits sentences at . ! ? and line breaks, quotes kept with them', () => {
    assert.deepEqual(splitSentences('One. Two!  Three?\nFour'), ['One.', 'Two!', 'Three?', 'Four']);
    assert.deepEqual(splitSentences('She said, "Go away." He left... Then?! ok'), ['She said, "Go away."', 'He left...', 'Then?!', 'ok']);
    assert.deepEqual(splitSentences('A.\n\n  B\n'), ['A.', 'B']);
    assert.deepEqual(splitSentences('  \n '), []);
    assert.deepEqual(splitSentences(''), []);
  });

  test('windows: n consecutive sentences, non-overlapping, never across texts', () => {
    const texts = ['A. B. C. D. E.', 'F. G.'];
    assert.deepEqual(windows(texts, 2), ['A. B.', 'C. D.', 'F. G.']);
    assert.deepEqual(windows(texts, 3), ['A. B. C.']);
    assert.deepEqual(windows(texts, 1), ['A.', 'B.', 'C.', 'D.', 'E.', 'F.', 'G.']);
    assert.deepEqual(windows(texts, 6), []);
  });

  test('positives are windows with concept hits, negatives windows without', () => {
    const text = 'The cat sat on the mat. It purred a lot. The boy ran to the park. He was very fast. A catalog came in the mail. It was thick.';
    const items = corpusItems([text], cat, { minChars: 0 });
    // "catalog" is not "cat": that window is a negative, and at 41 characters the closer one to 40.
    assert.deepEqual(items, [{ positive: side('', 'The cat sat on the mat. It purred a lot.'), negative: side('', 'A catalog came in the mail. It was thick.') }]);
    assert.equal('The cat sat on the mat. It purred a lot.'.length, 40);
    assert.equal('The boy ran to the park. He was very fast.'.length, 42);
    assert.equal('A catalog came in the mail. It was thick.'.length, 41);
  });

  test('pairs each positive with the closest unused negative in length; count caps the pairs', () => {
    const p12 = 'The cat sat.';
    const p20 = 'A kitten was asleep.';
    const p15 = 'Cats like milk.';
    const pLast = 'The cat is fat.';
    const n10 = 'It rained.';
    const n17 = 'The boy ate soup.';
    const n40 = 'The old man walked to the shop that day.';
    assert.deepEqual([p12, p20, p15, n10, n17, n40].map((s) => s.length), [12, 20, 15, 10, 17, 40]);
    const text = [n40, p12, n17, p20, p15, n10, pLast].join(' ');
    const items = corpusItems([text], cat, { sentences: 1, minChars: 0 });
    // 12 → 10 (|2| < |5|); 20 → 17 (|3| < |20|); 15 → 40, the only one left; the last: none left.
    assert.deepEqual(items.map((i) => [i.positive.completion, i.negative.completion]), [[p12, n10], [p20, n17], [p15, n40]]);
    for (const i of items) {
      assert.ok(countConceptHits(i.positive.completion, cat).hits > 0);
      assert.equal(countConceptHits(i.negative.completion, cat).hits, 0);
      assert.equal(i.positive.prompt, '');
      assert.equal(i.negative.prompt, '');
    }
    const capped = corpusItems([text], cat, { sentences: 1, minChars: 0, count: 2 });
    assert.deepEqual(capped.map((i) => i.positive.completion), [p12, p20]);
    // minChars 11 removes "It rained." (10): 12 now pairs with 17, 20 with 40.
    const longer = corpusItems([text], cat, { sentences: 1, minChars: 11 });
    assert.deepEqual(longer.map((i) => [i.positive.completion, i.negative.completion]), [[p12, n17], [p20, n40]]);
    // The default minChars (40) keeps only the 40-character negative, and no positive.
    assert.deepEqual(corpusItems([text], cat, { sentences: 1 }), []);
  });

  test('an exact length match is preferred to a shorter neighbour', () => {
    // "The cat sat." (12) against "It rained." (10) and "Sun is warm." (12): the 12 is closest.
    const items = corpusItems(['It rained. Sun is warm. The cat sat.'], cat, { sentences: 1, minChars: 0 });
    assert.equal(items[0].negative.completion, 'Sun is warm.');
  });

  test('sentences per window must be a positive integer', () => {
    assert.throws(() => corpusItems(['The cat sat.'], cat, { sentences: 0 }), InvalidInputError);
    assert.throws(() => corpusItems(['The cat sat.'], cat, { sentences: 1.5 }), InvalidInputError);
  });
});

describe('pair templates', () => {
  test('withArticle: "an" before vowel sounds, with the exceptions', () => {
    const cases: Array<[string, string]> = [
      ['apple', 'an apple'], ['cat', 'a cat'], ['hour', 'an hour'], ['unicorn', 'a unicorn'], ['umbrella', 'an umbrella'],
      ['honest man', 'an honest man'], ['European', 'a European'], ['one-eyed cat', 'a one-eyed cat'], ['user', 'a user'],
      ['house', 'a house'], ['Owl', 'an Owl'], ['ice cream', 'an ice cream'],
    ];
    for (const [term, expected] of cases) assert.equal(withArticle(term), expected);
  });

  test('fillSlot fills {a X} and {X}, capitalising a slot at the start', () => {
    assert.equal(fillSlot('Lily saw {a X} in the garden.', 'elephant'), 'Lily saw an elephant in the garden.');
    assert.equal(fillSlot('{a X} came to play with Tim.', 'owl'), 'An owl came to play with Tim.');
    assert.equal(fillSlot('{a X} came to play with Tim.', 'cat'), 'A cat came to play with Tim.');
    assert.equal(fillSlot('{X} was her favorite thing to do.', 'swimming'), 'Swimming was her favorite thing to do.');
    assert.equal(fillSlot('The {X} was very hungry.', 'cat'), 'The cat was very hungry.');
    assert.equal(fillSlot('{X} and {X}', 'cat'), 'Cat and cat');
  });

  test('slotRole by kind and part of speech', () => {
    assert.equal(slotRole('feeling', 'noun', 'anger'), 'adjective');
    assert.equal(slotRole('quality', 'noun', 'height'), 'adjective');
    assert.equal(slotRole('creature', 'adj', 'feline'), 'adjective'); // an adjective head fills adjective slots
    assert.equal(slotRole('creature', 'noun', 'cat'), 'creature');
    assert.equal(slotRole('weather', 'noun', 'snow'), 'mass');
    assert.equal(slotRole('place', 'noun', 'forest'), 'place');
    assert.equal(slotRole('activity', 'noun', 'swimming'), 'gerund');
    assert.equal(slotRole('activity', 'verb', 'swim'), 'gerund');
    assert.equal(slotRole('activity', 'noun', 'picnic'), 'event');
    assert.equal(slotRole('thing', 'noun', 'ball'), 'object');
    assert.equal(slotRole('topic', 'phrase', 'wedding'), 'object');
  });

  test('every sentence and opening has exactly one slot', () => {
    for (const table of [SENTENCES, OPENINGS]) {
      for (const [role, frames] of Object.entries(table)) {
        assert.ok(frames.length >= 4, role);
        for (const f of frames) assert.equal((f.match(/\{(?:a )?X\}/g) ?? []).length, 1, `${role}: ${f}`);
      }
    }
  });
});

describe('pair source terms', () => {
  test('slotTerms: the head first and twice, then common relatives the model spells briefly', () => {
    // cat's terms: cat (3383 per 51M), cougar (102), tomcat (34), bobcat (20), kitten (241), kitty (1362);
    // 2 % of cat is 67.7: tomcat and bobcat are too rare.
    assert.deepEqual(slotTerms(cat), ['cat', 'cat', 'cougar', 'kitten', 'kitty']);
    // Head 1 token: a relative may take 2, not 3.
    const tokens = (w: string): number => ({ cougar: 3, kitten: 2 } as Record<string, number>)[w] ?? 1;
    assert.deepEqual(slotTerms(cat, tokens), ['cat', 'cat', 'kitten', 'kitty']);
    assert.deepEqual(slotTerms(cat, () => 1, 2), ['cat', 'cat', 'cougar']);
  });

  test('slotTerms: no derived words, no weak relations, letters only, by weight', () => {
    const lex = lexicon({
      concept: 'dog', kind: 'creature', head: ['dog'],
      terms: [
        { word: 'puppy', forms: ['puppy'], relation: 'hyponym', weight: 0.6 },
        { word: 'doggy', forms: ['doggy'], relation: 'derived', weight: 0.8 },
        { word: 'wolf', forms: ['wolf'], relation: 'related', weight: 0.4 },
        { word: 'k9', forms: ['k9'], relation: 'user', weight: 1 },
        { word: 'hound', forms: ['hound'], relation: 'synonym', weight: 0.8 },
        { word: 'dog', forms: ['dog'], relation: 'head', weight: 1 },
      ],
    });
    assert.deepEqual(slotTerms(lex), ['dog', 'dog', 'hound', 'puppy']);
    // Nothing usable: the head once.
    assert.deepEqual(slotTerms(lexicon({ concept: 'dog', head: ['dog'], terms: [{ word: 'doggy', forms: ['doggy'], relation: 'derived', weight: 0.8 }] })), ['dog']);
  });

  test('neutralTerms: the slot role picks the part of speech', () => {
    const lex = lexicon({
      neutral: [
        { word: 'tall', forms: ['tall', 'taller', 'tallest'], pos: 'adj' },
        { word: 'time', forms: ['time', 'times'], pos: 'noun' },
        { word: 'sit', forms: ['sit', 'sits', 'sat', 'sitting'], pos: 'verb' },
        { word: 'wait', forms: ['wait', 'waits', 'waited'], pos: 'verb' },
        { word: 'busy', forms: ['busy'], pos: 'adj' },
      ],
    });
    assert.deepEqual(neutralTerms(lex, 'adjective'), ['tall', 'busy']);
    for (const role of ['creature', 'object', 'mass', 'place', 'event'] as SlotRole[]) assert.deepEqual(neutralTerms(lex, role), ['time'], role);
    assert.deepEqual(neutralTerms(lex, 'gerund'), ['time', 'sitting', 'waiting']);
    // No word of the role's part of speech: all of them rather than none; duplicates once.
    const verbs = lexicon({ neutral: [{ word: 'read', forms: ['read', 'reading'], pos: 'verb' }, { word: 'reading', forms: ['reading'], pos: 'noun' }] });
    assert.deepEqual(neutralTerms(verbs, 'adjective'), ['read', 'reading']);
    assert.deepEqual(neutralTerms(verbs, 'gerund'), ['reading']);
  });

  test('real lexicons: noun roles get nouns, the adjective role adjectives', () => {
    const snow = buildLexicon('snow');
    assert.deepEqual(neutralTerms(snow, 'mass'), ['day', 'morning', 'evening', 'afternoon', 'ground', 'road']);
    const happy = buildLexicon('happy');
    assert.deepEqual(neutralTerms(happy, 'adjective'), ['tall', 'young', 'busy', 'ready', 'awake', 'little', 'old', 'late']);
  });
});

describe('pair source on a model', () => {
  let model: HookedModel;
  before(() => {
    model = openModel(sharedPath('models', 'tinystories-656k'), { threads: 1 });
  });
  after(async () => {
    await model.dispose();
  });

  test('pairs: the same frame with a concept term and with a neutral term, after a story context', async () => {
    // " cat" is 3 tokens for this model, "kitten", "kitty" and "cougar" 5: only the head is used.
    assert.deepEqual(slotTerms(cat, (w) => model.encode(` ${w}`).length - 1), ['cat', 'cat']);
    const items = await pairSourceItems(model, cat, { kind: 'pairs', count: 13 });
    assert.equal(items.length, 13);
    // Neutral (creature) terms: boy girl man woman friend kid teacher neighbor baby; item i takes (5i + ⌊i/12⌋) mod 9.
    const neutral = ['boy', 'kid', 'girl', 'teacher', 'man', 'neighbor', 'woman', 'baby', 'friend', 'boy', 'kid', 'girl', 'neighbor'];
    items.forEach((it, i) => {
      assert.equal(it.positive.prompt, STORY_CONTEXT[i % 4]);
      assert.equal(it.negative.prompt, it.positive.prompt);
      assert.equal(it.positive.completion, fillSlot(SENTENCES.creature[i % 12], 'cat'));
      assert.equal(it.negative.completion, it.positive.completion.replace(/\bcat\b/, neutral[i]), `item ${i}`);
    });
    assert.equal(items[0].positive.completion, 'Once upon a time, there was a cat.');
    assert.equal(items[4].negative.completion, 'A man came to play with Tim.');
    assert.equal(items[12].negative.completion, 'Once upon a time, there was a neighbor.');
  });

  test('pairs for a feeling: adjective frames, adjective neutrals, relatives in turn', async () => {
    // " happy" is 3 tokens, " glad" 4: glad is a usable relative.
    const items = await pairSourceItems(model, buildLexicon('happy'), { kind: 'pairs', count: 3 });
    assert.deepEqual(items.map((i) => [i.positive.completion, i.negative.completion]), [
      ['She was very happy.', 'She was very tall.'],
      ['He felt happy all day.', 'He felt little all day.'],
      ['Lily was so glad that morning.', 'Lily was so busy that morning.'],
    ]);
  });

  test('pairs with completion tokens read the frame and its continuation', async () => {
    const items = await pairSourceItems(model, cat, { kind: 'pairs', count: 2, completionTokens: 6, seed: 3 });
    const frames = [['Once upon a time, there was a cat.', 'Once upon a time, there was a boy.'], ['The cat lived near the woods.', 'The kid lived near the woods.']];
    items.forEach((it, i) => {
      assert.equal(it.positive.prompt, STORY_CONTEXT[i]);
      for (const [s, frame] of [[it.positive, frames[i][0]], [it.negative, frames[i][1]]] as const) {
        assert.ok(s.completion.startsWith(frame) && s.completion.length > frame.length, `${i}: ${s.completion}`);
      }
    });
  });

  test('continuations: the opening is the prompt, the model text the completion, one seed per item on both sides', async () => {
    const progress: Array<[number, number]> = [];
    const opts = { kind: 'continuations', count: 4, completionTokens: 10, seed: 5 } as const;
    const items = await pairSourceItems(model, cat, { ...opts, batchSize: 2, onProgress: (d, t) => progress.push([d, t]) });
    assert.deepEqual(progress, [[2, 4], [4, 4]]);
    const neutral = ['boy', 'kid', 'girl', 'teacher'];
    const noEnd = new Map(model.spec.eosTokenIds.map((id) => [id, -Infinity] as [number, number]));
    for (let i = 0; i < 4; i++) {
      const { positive, negative } = items[i];
      // The opening, then a cue that keeps the story going (a story model would end after a bare opening).
      const cue = CONTINUATION_CUES[i % CONTINUATION_CUES.length];
      assert.equal(positive.prompt, `${STORY_CONTEXT[i]} ${fillSlot(OPENINGS.creature[i], 'cat')} ${cue}`);
      assert.equal(negative.prompt, `${STORY_CONTEXT[i]} ${fillSlot(OPENINGS.creature[i], neutral[i])} ${cue}`);
      assert.ok(positive.completion.length > 0 && negative.completion.length > 0);
      // Item i samples with seed + i on both sides, whatever the batch.
      for (const s of [positive, negative]) {
        const alone = await generate(model, s.prompt, { maxTokens: 10, temperature: 0.8, topP: 0.95, seed: 5 + i, logitBias: noEnd });
        assert.equal(s.completion, alone.text, `item ${i}`);
      }
    }
    // Same seed, same items (whatever the batch size); another seed, other text.
    assert.deepEqual(await pairSourceItems(model, cat, opts), items);
    const other = await pairSourceItems(model, cat, { ...opts, seed: 6 });
    assert.deepEqual(other.map((i) => i.positive.prompt), items.map((i) => i.positive.prompt));
    assert.notDeepEqual(other, items);
  });

  test('bad requests', async () => {
    await assert.rejects(pairSourceItems(model, cat, { kind: 'pairs', count: 2, chat: true }), (e: Error) => e instanceof InvalidInputError && /no chat template/.test(e.message));
    await assert.rejects(pairSourceItems(model, cat, { kind: 'pairs', count: 0 }), InvalidInputError);
    await assert.rejects(pairSourceItems(model, cat, { kind: 'pairs', count: 1.5 }), InvalidInputError);
    const noNeutral = lexicon({ concept: 'x', kind: 'behaviour', head: ['x'], terms: [{ word: 'x', forms: ['x'], relation: 'user', weight: 1 }] });
    await assert.rejects(pairSourceItems(model, noNeutral, { kind: 'pairs', count: 1 }), /no neutral terms/);
  });
});

describe('presence scorer', () => {
  test('counts concept terms in the continuation only, never in the prompt', async () => {
    assert.ok(CONCEPT_METRICS.includes('presence'));
    const scorer = presenceScorer(cat);
    assert.equal(scorer.metric, 'presence');
    const out = (prompt: string, text: string) => ({ promptTokens: [1, 2], tokens: [3], text, output: `${prompt} ${text}` });
    assert.deepEqual(
      await scorer.score([
        out('A cat story:', 'The kitten slept.'), // 1, not 2
        out('The cat and the cats:', 'No animals here.'), // 0
        out('Hi.', 'Cats and a Kitty near the catalog.'), // 2: "catalog" is not a cat
        out('', ''),
      ]),
      [1, 0, 2, 0],
    );
  });
});
