import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { GgufFile } from '../src/io/gguf.js';
import { loadVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import type { CliResult } from './helpers/cli.js';
import { steererSyncIn } from './helpers/cli-in-process.js';

const MODEL = sharedPath('models', 'tinystories-656k');

/** A fresh folder holding sad.jsonl (12 sad/happy pairs), removed when the test ends, and the CLI run inside it. */
function workspace(t: TestContext): { tmp: string; steerer: (...args: string[]) => CliResult } {
  const tmp = tempDir('vector-cli');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const subjects = ['Lily', 'Tom', 'Ben', 'Sue', 'The dog', 'Mia'];
  const sad = ['was very sad. She cried because her toy was broken.', 'felt alone and sad. Nobody wanted to play.'];
  const happy = ['was very happy. She laughed because her toy was fun.', 'felt happy and loved. Everyone wanted to play.'];
  const lines = subjects.flatMap((s) => sad.map((t, k) => JSON.stringify({ positive: `${s} ${t}`, negative: `${s} ${happy[k]}` })));
  fs.writeFileSync(path.join(tmp, 'sad.jsonl'), `${lines.join('\n')}\n`);
  return { tmp, steerer: steererSyncIn(tmp) };
}

describe('steerer vector and steered generation', () => {
  test('create → info → steer → compare → export, end to end', (t) => {
    const { tmp, steerer } = workspace(t);
    const created = steerer('vector', 'create', '-m', MODEL, '--pairs', 'sad.jsonl', '--positions', 'mean', '-o', 'sad.safetensors', '--json');
    assert.equal(created.status, 0, created.stderr);
    const v = loadVector(path.join(tmp, 'sad.safetensors'));
    assert.deepEqual([...v.directions.keys()], [0, 1]);
    assert.equal(v.meta.dataset?.size, 12);
    assert.equal(v.meta.diagnostics?.length, 2);

    const info = steerer('vector', 'info', 'sad.safetensors', '--svg', 'sad.svg', '--json');
    assert.equal(info.status, 0, info.stderr);
    assert.deepEqual(JSON.parse(info.stdout).layers, [0, 1]);
    assert.match(fs.readFileSync(path.join(tmp, 'sad.svg'), 'utf8'), /^<svg[\s\S]*held-out AUROC[\s\S]*<\/svg>$/);

    const args = ['generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '30', '--temp', '0', '--json'];
    const base = JSON.parse(steerer(...args).stdout).text as string;
    const zero = JSON.parse(steerer(...args, '--steer', 'sad.safetensors:0@1').stdout).text as string;
    const steered = JSON.parse(steerer(...args, '--steer', 'sad.safetensors:3@1').stdout).text as string;
    assert.equal(zero, base, 'coefficient 0 changes nothing');
    assert.notEqual(steered, base);

    fs.writeFileSync(path.join(tmp, 'spec.json'), JSON.stringify({ interventions: [{ vector: 'sad.safetensors', layers: [1], coefficient: 3 }] }));
    const bySpec = JSON.parse(steerer(...args, '--steer-spec', 'spec.json').stdout).text as string;
    assert.equal(bySpec, steered, '--steer-spec and --steer say the same thing');

    const compared = JSON.parse(steerer(...args, '--steer', 'sad.safetensors:3@1', '--compare').stdout) as { base: string; steered: string };
    assert.equal(compared.base, base);
    assert.equal(compared.steered, steered);

    const exported = steerer('vector', 'export', 'sad.safetensors', '--format', 'gguf', '-o', 'sad.gguf', '--drop-layer0');
    assert.equal(exported.status, 0, exported.stderr);
    const gguf = GgufFile.open(path.join(tmp, 'sad.gguf'));
    assert.equal(gguf.getString('general.architecture'), 'controlvector');
    assert.deepEqual([...gguf.tensors.keys()], ['direction.1']);
    assert.deepEqual(Array.from(gguf.readF32('direction.1')), Array.from(v.directions.get(1)!));
    gguf.close();
  });

  test('combine and compare vectors', (t) => {
    const { tmp, steerer } = workspace(t);
    assert.equal(steerer('vector', 'create', '-m', MODEL, '--pairs', 'sad.jsonl', '-o', 'a.safetensors').status, 0);
    const combined = steerer('vector', 'combine', 'a.safetensors:2', 'a.safetensors:-1', '-o', 'c.safetensors');
    assert.equal(combined.status, 0, combined.stderr);
    const a = loadVector(path.join(tmp, 'a.safetensors'));
    const c = loadVector(path.join(tmp, 'c.safetensors'));
    c.directions.get(1)!.forEach((x, i) => assert.ok(Math.abs(x - a.directions.get(1)![i]) < 1e-5));
    const cmp = JSON.parse(steerer('vector', 'compare', 'a.safetensors', 'c.safetensors', '--layer', '1', '--json').stdout) as { matrix: number[][] };
    assert.ok(Math.abs(cmp.matrix[0][1] - 1) < 1e-6);
  });

  test('steering errors are one clear line', (t) => {
    const { tmp, steerer } = workspace(t);
    assert.equal(steerer('vector', 'create', '-m', MODEL, '--pairs', 'sad.jsonl', '-o', 'sad.safetensors').status, 0);
    const cases: [string[], RegExp][] = [
      [['--steer', 'missing.safetensors:2@1'], /missing\.safetensors not found/],
      [['--steer', 'sad.safetensors:2@7'], /layer 7 does not exist/],
      [['--steer-spec', 'nope.json'], /no such file/],
      [['--compare'], /--compare needs --steer/],
    ];
    fs.writeFileSync(path.join(tmp, 'bad-spec.json'), JSON.stringify({ interventions: [{ vector: 'sad.safetensors', coefficient: 'lots' }] }));
    cases.push([['--steer-spec', 'bad-spec.json'], /interventions\.0\.coefficient/]);
    for (const [extra, pattern] of cases) {
      const r = steerer('generate', '-m', MODEL, '-p', 'Hi', '-n', '5', ...extra);
      assert.equal(r.status, 1, `${extra.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, pattern);
    }
    // A vector made for another hidden size.
    const other = steerer('vector', 'create', '-m', sharedPath('models', 'stories260k'), '--pairs', 'sad.jsonl', '-o', 'small.safetensors');
    assert.equal(other.status, 0, other.stderr);
    const r = steerer('generate', '-m', MODEL, '-p', 'Hi', '--steer', 'small.safetensors:1@1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /hidden size 64 but the model's is 128/);
  });
});
