import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConceptDataset, dedupeItems, loadConceptDataset, saveConceptDataset, type ConceptItem } from '../src/concept/concept-data.js';
import { templateConceptData } from '../src/concept/template-source.js';
import { defaultTemplates, familyFor, fillTemplate } from '../src/concept/templates.js';
import { ModelFileError } from '../src/io/errors.js';
import { loadModel } from '../src/model/load.js';
import { generate } from '../src/decoding/generate.js';
import { HookedModel } from '../src/runtime/model.js';
import { pairsFromPrompted } from '../src/steering/contrast-pairs.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';

let model: HookedModel;
const dirs: string[] = [];
before(() => {
  model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
});
after(async () => {
  await model.dispose();
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

const item = (p: string, n: string): ConceptItem => ({ positive: { prompt: 'P.', completion: p }, negative: { prompt: 'N.', completion: n } });

describe('concept templates', () => {
  test('one word is a persona, a phrase is a topic; templates fill both sides', () => {
    assert.equal(familyFor('sad'), 'persona');
    assert.equal(familyFor("well-behaved"), 'persona');
    assert.equal(familyFor('talks about weddings'), 'topic');
    const [t] = defaultTemplates('sad', false);
    assert.deepEqual(fillTemplate(t, 'sad', 'happy'), { positive: 'She was very sad.', negative: 'She was very happy.' });
    assert.deepEqual(fillTemplate(t, 'sad'), { positive: 'She was very sad.', negative: 'She was there.' });
  });
});

describe('template source', () => {
  test('each pair is the model continuing one opening under both personas with the same seed', async () => {
    const data = await templateConceptData(model, { concept: 'sad', count: 6, completionTokens: 8, seed: 3, validationFraction: 0 });
    assert.equal(data.train.length + data.dropped.length, 6);
    const templates = defaultTemplates('sad', false);
    const first = data.train[0];
    assert.equal(first.positive.prompt, fillTemplate(templates[0], 'sad').positive);
    assert.equal(first.negative.prompt, fillTemplate(templates[0], 'sad').negative);
    // Independently: the positive completion is what generate writes after "persona opening" with seed 3 + 0.
    const opening = 'Once upon a time';
    assert.ok(first.positive.completion.startsWith(opening));
    const alone = await generate(model, `${first.positive.prompt} ${opening}`, { maxTokens: 8, temperature: 0.8, topP: 0.95, seed: 3 });
    assert.equal(first.positive.completion, opening + alone.text);
  });

  test('is deterministic under a seed and changes with it', async () => {
    const a = await templateConceptData(model, { concept: 'sad', count: 8, completionTokens: 6, seed: 11 });
    const b = await templateConceptData(model, { concept: 'sad', count: 8, completionTokens: 6, seed: 11 });
    const c = await templateConceptData(model, { concept: 'sad', count: 8, completionTokens: 6, seed: 12 });
    const strip = (d: typeof a) => ({ ...d, createdAt: '' });
    assert.deepEqual(strip(a), strip(b));
    assert.notDeepEqual(a.train.map((i) => i.positive.completion), c.train.map((i) => i.positive.completion));
    assert.ok(a.validation.length >= 1 && a.train.length + a.validation.length + a.dropped.length === 8);
  });

  test('refuses empty or identical concepts and bad counts', async () => {
    await assert.rejects(templateConceptData(model, { concept: ' ' }), /empty/);
    await assert.rejects(templateConceptData(model, { concept: 'Sad', neutral: 'sad' }), /same/);
    await assert.rejects(templateConceptData(model, { concept: 'sad', count: 1 }), /count/);
    await assert.rejects(templateConceptData(model, { concept: 'sad', chat: true }), /chat template/);
  });
});

describe('concept datasets', () => {
  test('dedupe drops case/punctuation duplicates and pairs with identical sides', () => {
    const { kept, dropped } = dedupeItems([item('A b.', 'c'), item('a B', 'C!'), item('same', 'same'), item('x', 'y')]);
    assert.deepEqual(kept.map((k) => k.positive.completion), ['A b.', 'same', 'x']);
    assert.deepEqual(dropped.map((d) => d.reason), ['duplicate']);
    // "P. same" vs "N. same" differ by their prompts, so that pair stays; without prompts it goes.
    const same = dedupeItems([{ positive: { prompt: '', completion: 'Same' }, negative: { prompt: '', completion: 'same.' } }]);
    assert.equal(same.kept.length, 0);
    assert.equal(same.dropped[0].reason, 'both sides are the same text');
  });

  test('save → load round-trips; a broken file names itself and loses nothing', () => {
    const dir = tempDir('concept');
    dirs.push(dir);
    const data = buildConceptDataset({ concept: 'sad', source: 'templates', generator: 'm', chat: false, seed: 1 }, [item('a', 'b'), item('c', 'd'), item('e', 'f')]);
    const file = path.join(dir, 'sad.data.json');
    saveConceptDataset(file, data);
    assert.deepEqual(loadConceptDataset(file), data);
    assert.deepEqual(fs.readdirSync(dir), ['sad.data.json'], 'no temporary file is left behind');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 50));
    assert.throws(() => loadConceptDataset(file), (e: unknown) => e instanceof ModelFileError && /not valid JSON/.test(e.message));
    fs.writeFileSync(file, JSON.stringify({ ...data, train: [] }));
    assert.throws(() => loadConceptDataset(file), /train/);
  });

  test('prompted pairs read the completion, not the persona', () => {
    const ds = pairsFromPrompted(model, [{ positive: { prompt: 'He felt sad.', completion: 'Tom ran home.' }, negative: { prompt: 'He was there.', completion: 'Tom ran home.' } }]);
    const p = ds.pairs[0].positive;
    assert.equal(p.text, 'He felt sad. Tom ran home.');
    assert.deepEqual(p.ids, model.encode('He felt sad. Tom ran home.'));
    const prefix = model.encode('He felt sad.');
    let common = 0;
    while (prefix[common] === p.ids[common]) common++;
    assert.equal(p.completionStart, common);
    assert.equal(ds.suggestedRead, 'mean');
  });
});
