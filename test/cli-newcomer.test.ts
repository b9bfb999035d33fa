import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { saveSae } from '../src/sae/sae-file.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import type { CliResult } from './helpers/cli.js';
import { steererInProcess, steererSyncIn } from './helpers/cli-in-process.js';
import { saveVector } from '../src/steering/vector-file.js';
import { losslessSae } from './helpers/sae.js';

/** Issue 17's newcomer slips, through the real CLI: flag spellings, file errors, best-of scores, what steering was applied. */

const MODEL = sharedPath('models', 'tinystories-656k');
const EMOTIONS = sharedPath('data', 'repe', 'emotions');

/** A fresh folder for one test, removed when it ends, and the CLI run inside it. */
function inTempDir(t: { after(fn: () => void): void }, name: string): { dir: string; steerer: (...args: string[]) => CliResult } {
  const dir = tempDir(name);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, steerer: steererSyncIn(dir) };
}

/** The CLI in this process, without a process start per command (./helpers/cli-in-process.ts). */
function steererAsync(cwd: string, ...args: string[]): Promise<CliResult> {
  return steererInProcess(cwd)(...args);
}

const ok = (r: CliResult): CliResult => {
  assert.equal(r.status, 0, r.stderr);
  return r;
};

/** A vector recorded as made on TinyStories, with directions at both its layers. */
function writeVector(file: string): void {
  const direction = (seed: number): Float32Array => Float32Array.from({ length: 128 }, (_, i) => Math.sin(seed * 7 + i * 0.37));
  saveVector(file, {
    directions: new Map([[0, direction(1)], [1, direction(2)]]),
    meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'LlamaForCausalLM', hiddenSize: 128, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString() },
  });
}

describe('newcomer CLI', () => {
  test("llama.cpp's spellings (--temp, -n, --repeat-penalty, -f, -t threads) give the same text as ours", async (t) => {
    const { dir, steerer } = inTempDir(t, 'aliases');
    fs.writeFileSync(path.join(dir, 'prompt.txt'), 'Once upon a time');
    const ours = ok(steerer('generate', '-m', MODEL, '--prompt-file', 'prompt.txt', '--temperature', '0', '--max-tokens', '12', '--repetition-penalty', '1.3', '--threads', '1', '--json'));
    const theirs = ok(steerer('generate', '-m', MODEL, '-f', 'prompt.txt', '--temp', '0', '-n', '12', '--repeat-penalty', '1.3', '-t', '1', '--json'));
    const parsed = (r: CliResult): { text: string; steering: unknown[] } => JSON.parse(r.stdout) as { text: string; steering: unknown[] };
    assert.ok(parsed(ours).text.length > 10);
    assert.equal(parsed(theirs).text, parsed(ours).text);
    // Unsteered, the JSON says so with an empty list.
    assert.deepEqual(parsed(ours).steering, []);
    // -t is the thread count now: a temperature there is an error naming --threads.
    const [hot, both] = await Promise.all([
      steererAsync(dir, 'generate', '-m', MODEL, '-p', 'Once', '-t', '0.7'),
      steererAsync(dir, 'generate', '-m', MODEL, '-p', 'Once', '-f', 'prompt.txt'),
    ]);
    assert.equal(hot.status, 1);
    assert.match(hot.stderr, /^steerer: --threads must be an integer >= 1, got "0\.7"\n$/);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /give --prompt or --prompt-file, not both/);
  });

  test('renamed flags keep working under their old names (activations --layer)', async (t) => {
    const { dir } = inTempDir(t, 'renamed');
    fs.writeFileSync(path.join(dir, 'prompts.txt'), 'The cat sat.\nA dog ran.\n');
    const runs = await Promise.all([
      steererAsync(dir, 'activations', '-m', MODEL, '--layers', '0-1', '--prompts', 'prompts.txt', '-o', 'new.safetensors', '--json'),
      steererAsync(dir, 'activations', '-m', MODEL, '--layer', '0-1', '--prompts', 'prompts.txt', '-o', 'old.safetensors', '--json'),
    ]);
    runs.forEach(ok);
    const read = (f: string): Float32Array => {
      const st = SafetensorsFile.open(path.join(dir, f));
      try {
        return st.readF32('blocks.1.hook_resid_post');
      } finally {
        st.close();
      }
    };
    assert.deepEqual(read('old.safetensors'), read('new.safetensors'));
  });

  test('a missing file is reported with the flag that named it', async (t) => {
    const { dir } = inTempDir(t, 'file-flags');
    fs.writeFileSync(path.join(dir, 'neutral.txt'), 'Tom walked to the shop.\nThe sun was up.\n');
    saveSae(path.join(dir, 'l1.safetensors'), losslessSae(128, { layer: 1, site: 'resid_post' }));
    const cases: [string[], RegExp][] = [
      [['vector', 'create', '-m', MODEL, '--positive', 'missing.txt', '--negative', 'neutral.txt', '-o', 'v.safetensors'], /^steerer: --positive missing\.txt: no such file\n$/],
      [['vector', 'create', '-m', MODEL, '--positive', 'neutral.txt', '--negative', 'gone.txt', '-o', 'v.safetensors'], /^steerer: --negative gone\.txt: no such file\n$/],
      [['sae', 'search', '--sae', 'l1.safetensors', '-m', MODEL, '--positive', 'missing.txt', '--negative', 'neutral.txt'], /^steerer: --positive missing\.txt: no such file\n$/],
      [['probe', 'train', '-m', MODEL, '--class', 'sad=missing.txt', '--class', 'plain=neutral.txt', '-o', 'p.safetensors'], /^steerer: --class sad=missing\.txt: no such file\n$/],
      [['eval', '-m', MODEL, '--vector', 'missing.safetensors'], /^steerer: --vector missing\.safetensors: no such file\n$/],
    ];
    const results = await Promise.all(cases.map(([args]) => steererAsync(dir, ...args)));
    cases.forEach(([args, want], i) => {
      assert.equal(results[i].status, 1, `${args.join(' ')}: ${results[i].stderr}`);
      assert.match(results[i].stderr, want, args.join(' '));
    });
    assert.ok(!fs.existsSync(path.join(dir, 'v.safetensors')));
  });

  test('--best-of prints every candidate\'s score and what scored it, on stderr', async (t) => {
    const { dir } = inTempDir(t, 'best-of');
    const base = ['generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '8', '--seed', '3', '--best-of', '3'];
    const [json, plain] = (await Promise.all([steererAsync(dir, ...base, '--json'), steererAsync(dir, ...base)])).map(ok);
    const { selection } = JSON.parse(json.stdout) as { selection: { scores: number[]; chosen: number; by: string } };
    assert.equal(selection.scores.length, 3);
    assert.match(selection.by, /log-probability .* unsteered model/);
    const lines = json.stderr.split('\n').filter((l) => l.startsWith('best-of-3'));
    assert.equal(lines.length, 3, json.stderr);
    lines.forEach((line, j) => {
      assert.match(line, new RegExp(`^best-of-3: candidate ${j + 1} scored (-?[\\d.e-]+) by mean log-probability of its tokens under the unsteered model`));
      const score = Number(/scored (\S+)/.exec(line)![1]);
      assert.ok(Math.abs(score - selection.scores[j]) <= 1e-4 * Math.max(1, Math.abs(score)), `${score} vs ${selection.scores[j]}`);
      assert.equal(line.endsWith('← kept'), j === selection.chosen, line);
    });
    // Without --json the text is stdout and the scores still come on stderr.
    assert.equal(plain.stderr.split('\n').filter((l) => /^best-of-3: candidate \d scored/.test(l)).length, 3, plain.stderr);
    assert.doesNotMatch(plain.stdout, /best-of/);
  });

  test('--best-of --by probe names the probe, its class and its layer', (t) => {
    const { steerer } = inTempDir(t, 'best-of-probe');
    const classes = ['--class', `happy=${path.join(EMOTIONS, 'happiness.json')}`, '--class', `sad=${path.join(EMOTIONS, 'sadness.json')}`];
    ok(steerer('probe', 'train', '-m', MODEL, ...classes, '--limit', '16', '--folds', '2', '-o', 'mood.safetensors', '--no-report', '-t', '1'));
    const r = ok(steerer('generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '6', '--seed', '1', '--best-of', '2', '--by', 'probe', '--probe', 'mood.safetensors', '--probe-class', 'sad', '--probe-layer', '1', '--every', '3'));
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('best-of-2'));
    assert.equal(lines.length, 2, r.stderr);
    for (const line of lines) assert.match(line, /^best-of-2 \(re-selected every 3 tokens, last round\): candidate [12] scored \S+ by probe mood\.safetensors \(class sad\) at layer 1/);
  });

  test('--compare and --json state the coefficient and layers of every intervention', async (t) => {
    const { dir } = inTempDir(t, 'compare');
    writeVector(path.join(dir, 'sad.safetensors'));
    saveSae(path.join(dir, 'l0.safetensors'), losslessSae(128, { layer: 0, site: 'resid_post' }));
    fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify({ interventions: [{ sae: 'l0.safetensors', features: [3, 5], operator: 'clamp', coefficient: 2.5 }] }));
    const common = ['generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '6', '--temp', '0', '--steer', 'sad.safetensors:3@1', '--steer-spec', 'spec.json'];

    const [side, comparedRun, singleRun] = (await Promise.all([
      steererAsync(dir, ...common, '--compare'),
      steererAsync(dir, ...common, '--compare', '--json'),
      steererAsync(dir, ...common, '--json'),
    ])).map(ok);
    assert.match(side.stdout, /^steering: sad\.safetensors at layer 1, coefficient 3\nsteering: l0\.safetensors features 3,5 at layer 0, clamp coefficient 2\.5\n/);
    assert.match(side.stdout, /base +\| steered|--- base ---/);

    type Applied = { kind: string; vector?: string; sae?: string; features?: number[]; layers: number[]; coefficient: number; operator: string };
    const compared = JSON.parse(comparedRun.stdout) as { steering: Applied[]; base: string; steered: string };
    const single = JSON.parse(singleRun.stdout) as { steering: Applied[] };
    for (const steering of [compared.steering, single.steering]) {
      assert.deepEqual(
        steering.map((s) => [s.kind, s.vector ?? s.sae, s.layers, s.coefficient, s.operator]),
        [
          ['vector', 'sad.safetensors', [1], 3, 'add'],
          ['features', 'l0.safetensors', [0], 2.5, 'clamp'],
        ],
      );
    }
    assert.deepEqual(compared.steering[1].features, [3, 5]);
  });
});
