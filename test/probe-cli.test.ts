import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { loadProbe } from '../src/probes/probe-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import type { CliResult } from './helpers/cli.js';
import { steererSyncIn } from './helpers/cli-in-process.js';

const MODEL = sharedPath('models', 'tinystories-656k');
const EMOTIONS = sharedPath('data', 'repe', 'emotions');

interface LayerRow {
  layer: number;
  metrics: { n: number; accuracy?: number; auroc?: number; r2?: number };
}

/**
 * A fresh folder, removed when the test ends, and the CLI run inside it. It holds sadness.jsonl:
 * a regression set, how sad a sentence is, 0 (happy scenario) or 1 (sad scenario), as JSONL values.
 */
function workspace(t: TestContext): { tmp: string; steerer: (...args: string[]) => CliResult } {
  const tmp = tempDir('probe-cli');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const sad = JSON.parse(fs.readFileSync(path.join(EMOTIONS, 'sadness.json'), 'utf8')) as string[];
  const happy = JSON.parse(fs.readFileSync(path.join(EMOTIONS, 'happiness.json'), 'utf8')) as string[];
  const lines = sad.slice(0, 40).flatMap((s, i) => [JSON.stringify({ text: s, value: 1 }), JSON.stringify({ text: happy[i], value: 0 })]);
  fs.writeFileSync(path.join(tmp, 'sadness.jsonl'), `${lines.join('\n')}\n`);
  return { tmp, steerer: steererSyncIn(tmp) };
}

describe('steerer probe', () => {
  test('train on --class files: table, probe file, JSON/HTML report; then eval', (t) => {
    const { tmp, steerer } = workspace(t);
    const classes = ['--class', `happy=${path.join(EMOTIONS, 'happiness.json')}`, '--class', `sad=${path.join(EMOTIONS, 'sadness.json')}`];
    const r = steerer('probe', 'train', '-m', MODEL, ...classes, '--limit', '60', '--positions', 'mean', '-o', 'out/emotion.safetensors', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /happy vs sad, 120 examples, resid_post \(mean\), 5-fold/);
    assert.match(r.stdout, /layer +n +accuracy +AUROC/);
    assert.match(r.stdout, /^ +[01]\* +120 +0\.\d{3} +0\.\d{3}$/m, r.stdout);
    const probe = loadProbe(path.join(tmp, 'out', 'emotion.safetensors'));
    assert.deepEqual(probe.classes, ['happy', 'sad']);
    assert.deepEqual([...probe.layers.keys()], [0, 1]);
    assert.equal(probe.metrics?.get(0)?.n, 120);
    const report = JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'emotion.report.json'), 'utf8')) as { perLayer: LayerRow[]; bestLayer: number; folds: number };
    assert.equal(report.perLayer.length, 2);
    assert.equal(report.folds, 5);
    const html = fs.readFileSync(path.join(tmp, 'out', 'emotion.report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /Cross-validated accuracy and AUROC by layer/);

    // The saved probe, read back by `eval`, fits its own training sentences better than the held-out folds.
    const cv = report.perLayer;
    const e = steerer('probe', 'eval', '-m', MODEL, '--probe', 'out/emotion.safetensors', ...classes, '--limit', '60', '--json');
    assert.equal(e.status, 0, e.stderr);
    const ev = JSON.parse(e.stdout) as { perLayer: LayerRow[]; examples: number };
    assert.equal(ev.examples, 120);
    assert.deepEqual(ev.perLayer.map((l) => l.layer), [0, 1]);
    ev.perLayer.forEach((l, i) => {
      assert.equal(l.metrics.n, 120);
      assert.ok(l.metrics.accuracy! > 0.8 && l.metrics.accuracy! > cv[i].metrics.accuracy!, e.stdout);
      assert.ok(l.metrics.auroc! > 0.85, e.stdout);
    });

    // New sentences (items 100-129 of each file), as plain text files; the table form.
    for (const [name, file] of [['happy', 'happiness.json'], ['sad', 'sadness.json']]) {
      const items = JSON.parse(fs.readFileSync(path.join(EMOTIONS, file), 'utf8')) as string[];
      fs.writeFileSync(path.join(tmp, `${name}-new.txt`), `${items.slice(100, 130).join('\n')}\n`);
    }
    const fresh = steerer('probe', 'eval', '-m', MODEL, '--probe', 'out/emotion.safetensors', '--class', 'happy=happy-new.txt', '--class', 'sad=sad-new.txt');
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, /60 examples/);
    assert.match(fresh.stdout, /^ +[01][* ] +60 +[01]\.\d{3} +[01]\.\d{3}$/m, fresh.stdout);
  });

  test('train a regression probe from JSONL values (--json, --layers, --no-report)', (t) => {
    const { tmp, steerer } = workspace(t);
    const r = steerer('probe', 'train', '-m', MODEL, '--data', 'sadness.jsonl', '--layers', '1', '--folds', '4', '--positions', 'mean', '-o', 'reg.safetensors', '--no-report', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { task: string; folds: number; bestLayer: number; perLayer: LayerRow[] };
    assert.equal(out.task, 'regression');
    assert.equal(out.folds, 4);
    assert.equal(out.bestLayer, 1);
    assert.equal(out.perLayer[0].metrics.n, 80);
    assert.equal(typeof out.perLayer[0].metrics.r2, 'number');
    assert.equal(fs.existsSync(path.join(tmp, 'reg.report.json')), false);
    assert.equal(loadProbe(path.join(tmp, 'reg.safetensors')).task, 'regression');
  });

  test('one-line errors: no data, both sources, one class, a file that is not a probe', (t) => {
    const { tmp, steerer } = workspace(t);
    fs.writeFileSync(path.join(tmp, 'happy.txt'), 'A happy day.\nThey laughed and played.\n');
    const none = steerer('probe', 'train', '-m', MODEL, '-o', 'x.safetensors');
    assert.equal(none.status, 1);
    assert.match(none.stderr, /^steerer: give either --data FILE or --class NAME=FILE/);
    const one = steerer('probe', 'train', '-m', MODEL, '--class', 'a=happy.txt', '-o', 'x.safetensors');
    assert.equal(one.status, 1);
    assert.match(one.stderr, /only one class \("a"\)/);
    fs.writeFileSync(path.join(tmp, 'junk.safetensors'), 'not a safetensors file at all');
    const junk = steerer('probe', 'eval', '-m', MODEL, '--probe', 'junk.safetensors', '--data', 'sadness.jsonl');
    assert.equal(junk.status, 1);
    assert.match(junk.stderr, /^steerer: not a probe file: .*junk\.safetensors/);
    assert.equal(junk.stderr.trim().split('\n').length, 1);
  });
});
