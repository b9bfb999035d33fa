import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { ActivationStore } from '../src/sae/activation-store.js';
import { loadFeatureIndex } from '../src/sae/feature-index.js';
import { loadSae } from '../src/sae/load-sae.js';
import { loadVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import type { CliResult } from './helpers/cli.js';
import { steererSyncIn } from './helpers/cli-in-process.js';

const MODEL = sharedPath('models', 'tinystories-656k');

/** A fresh folder with the corpus and text files, removed when the test ends, and the CLI run inside it. */
function workspace(t: TestContext): { tmp: string; steerer: (...args: string[]) => CliResult } {
  const tmp = tempDir('sae-cli');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const names = ['Lily', 'Tom', 'Ben', 'Sue', 'Mia', 'Max'];
  const stories = names.flatMap((n) => [
    `${n} had a red ball. ${n} played with the ball in the park every day. One day the ball rolled away and ${n} was sad.`,
    `${n} and the dog went to the store. They bought milk and bread. Then they went home and ate lunch together.`,
    `Once upon a time, ${n} found a shiny box. Inside the box was a tiny bird. The bird sang a happy song.`,
  ]);
  fs.writeFileSync(path.join(tmp, 'corpus.jsonl'), `${stories.map((text) => JSON.stringify({ text })).join('\n')}\n`);
  fs.writeFileSync(path.join(tmp, 'sad.txt'), 'She was very sad and cried.\nHe felt sad and alone.\nThe sad girl cried all day.\n');
  fs.writeFileSync(path.join(tmp, 'plain.txt'), 'She went to the park.\nHe ate his lunch.\nThe girl played all day.\n');
  fs.writeFileSync(
    path.join(tmp, 'pairs.jsonl'),
    `${names.map((n) => JSON.stringify({ positive: `${n} was very sad. ${n} cried.`, negative: `${n} was very happy. ${n} laughed.` })).join('\n')}\n`,
  );
  return { tmp, steerer: steererSyncIn(tmp) };
}

describe('steerer sae', () => {
  test('collect → train → features → search → card → filter, end to end', (ctx) => {
    const { tmp, steerer } = workspace(ctx);
    const collected = steerer('sae', 'collect', '-m', MODEL, '--hook', 'blocks.1.hook_resid_post', '--corpus', 'corpus.jsonl', '-o', 'store', '--context', '24', '--shard-rows', '150', '--threads', '1', '--json');
    assert.equal(collected.status, 0, collected.stderr);
    const summary = JSON.parse(collected.stdout) as { rows: number; shards: number; complete: boolean };
    const store = ActivationStore.open(path.join(tmp, 'store'));
    assert.equal(summary.rows, store.rows);
    assert.ok(summary.shards >= 2 && summary.complete);

    const trained = steerer('sae', 'train', '--store', 'store', '-o', 'l1.safetensors', '-m', MODEL, '--width', '64', '--k', '4', '--batch-size', '64', '--tokens', '6400', '--lr', '0.01', '--threads', '1', '--json');
    assert.equal(trained.status, 0, trained.stderr);
    const t = JSON.parse(trained.stdout) as { steps: number; heldOut: { fvu: number; l0: number }; modelEval: { ceLossRecovered: number; tokens: number } };
    assert.equal(t.steps, 100);
    assert.ok(t.heldOut.l0 <= 4);
    assert.ok(t.heldOut.fvu < 1, `held-out FVU ${t.heldOut.fvu}`);
    assert.ok(t.modelEval.ceLossRecovered > 0, `CE loss recovered ${t.modelEval.ceLossRecovered}`);
    const sae = loadSae(path.join(tmp, 'l1.safetensors'));
    assert.deepEqual(sae.cfg.hook, { layer: 1, site: 'resid_post' });
    assert.equal(sae.cfg.training?.steps, 100);
    assert.ok(fs.existsSync(path.join(tmp, 'l1.report.html')));
    assert.ok(!fs.existsSync(path.join(tmp, 'l1.ckpt.safetensors')), 'the checkpoint is removed once the SAE is saved');

    const indexed = steerer('sae', 'features', '--sae', 'l1.safetensors', '-m', MODEL, '--store', 'store', '-o', 'index.json', '--html', 'cards.html', '--top', '3', '--json');
    assert.equal(indexed.status, 0, indexed.stderr);
    const index = loadFeatureIndex(path.join(tmp, 'index.json'));
    assert.equal(index.rows, store.rows);
    assert.match(fs.readFileSync(path.join(tmp, 'cards.html'), 'utf8'), /<svg/);

    const perToken = steerer('sae', 'features', '--sae', 'l1.safetensors', '-m', MODEL, '--text', 'Lily was sad.', '--json');
    assert.equal(perToken.status, 0, perToken.stderr);
    const rows = JSON.parse(perToken.stdout) as { token: string; features: { feature: number; activation: number }[] }[];
    // BOS, then the text's tokens (SentencePiece marks the first word with a leading space).
    assert.equal(rows.slice(1).map((r) => r.token).join('').trimStart(), 'Lily was sad.');
    assert.ok(rows.every((r) => r.features.length <= 4));

    const search = steerer('sae', 'search', '--sae', 'l1.safetensors', '-m', MODEL, '--positive', 'sad.txt', '--negative', 'plain.txt', '--top', '3', '--json');
    assert.equal(search.status, 0, search.stderr);
    const found = JSON.parse(search.stdout) as { feature: number; score: number }[];
    assert.equal(found.length, 3);
    assert.ok(found[0].score >= found[1].score);

    const card = steerer('sae', 'card', String(found[0].feature), '--sae', 'l1.safetensors', '-m', MODEL, '--index', 'index.json');
    assert.equal(card.status, 0, card.stderr);
    assert.match(card.stdout, new RegExp(`feature ${found[0].feature}`, 'i'));

    assert.equal(steerer('vector', 'create', '-m', MODEL, '--pairs', 'pairs.jsonl', '--read', 'mean', '-o', 'sad.safetensors').status, 0);
    const filtered = steerer('sae', 'filter', '--sae', 'l1.safetensors', '-m', MODEL, '--vector', 'sad.safetensors', '--store', 'store', '-o', 'sad-filtered.safetensors', '--top-k', '8', '--json');
    assert.equal(filtered.status, 0, filtered.stderr);
    const f = JSON.parse(filtered.stdout) as { features: unknown[]; cosine: number };
    assert.equal(f.features.length, 8);
    const v = loadVector(path.join(tmp, 'sad-filtered.safetensors'));
    assert.deepEqual([...v.directions.keys()], [1]);
    const norm = (a: Float32Array): number => Math.hypot(...a);
    assert.ok(Math.abs(norm(v.directions.get(1)!) - norm(loadVector(path.join(tmp, 'sad.safetensors')).directions.get(1)!)) < 1e-3);
  });

  test('bad input is one clear line and exit code 1', (ctx) => {
    const { steerer } = workspace(ctx);
    const both = steerer('sae', 'collect', '-m', MODEL, '--hook', 'blocks.1.hook_resid_post', '--corpus', 'corpus.jsonl', '--generate', '3', '-o', 'x');
    assert.equal(both.status, 1);
    assert.match(both.stderr, /exactly one of --corpus or --generate/);
    const hook = steerer('sae', 'collect', '-m', MODEL, '--hook', 'blocks.7.hook_resid_post', '--corpus', 'corpus.jsonl', '-o', 'x');
    assert.equal(hook.status, 1);
    assert.match(hook.stderr, /layer 7 does not exist/);
    const noStore = steerer('sae', 'train', '--store', 'nowhere', '-o', 'y.safetensors');
    assert.equal(noStore.status, 1);
    assert.match(noStore.stderr, /nowhere/);
    // Neither file exists here: the SAE is read first, and the error names it.
    const noSae = steerer('sae', 'card', '1', '--sae', 'missing.safetensors', '-m', MODEL, '--index', 'index.json');
    assert.equal(noSae.status, 1);
    assert.match(noSae.stderr, /missing\.safetensors/);
  });
});
