import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import { cliArgs } from './helpers/cli.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { maxAbsDiff } from './helpers/reference-forward.js';

const tmp = tempDir('cli');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The CLI as a process: the entry point itself (`steerer` as installed), end to end. */
function spawned(...args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [...cliArgs(), ...args], {
    encoding: 'utf8',
    cwd: packageRoot(),
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** The same commands without a process start each (./helpers/cli-in-process.ts). */
const steerer = steererSyncIn(packageRoot());

describe('steerer CLI', () => {
  test('greedy generation from stories260K reproduces its documented output exactly', () => {
    const r = spawned('generate', '--model', sharedPath('models', 'stories260k'), '--max-tokens', '256', '--temperature', '0', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, fs.readFileSync(sharedPath('models', 'stories260k', 'GREEDY_SAMPLE.txt'), 'utf8'));
  });

  test('TinyStories writes a story that continues the prompt; seeded sampling is reproducible', () => {
    const greedy = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once upon a time', '-n', '60', '--temp', '0', '--json');
    assert.equal(greedy.status, 0, greedy.stderr);
    const g = JSON.parse(greedy.stdout) as { text: string; tokens: number[] };
    assert.ok(g.tokens.length > 20 && /[a-z]+ [a-z]+/.test(g.text));
    const a = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once upon a time', '-n', '40', '--temp', '1', '--seed', '7', '--json');
    const b = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once upon a time', '-n', '40', '--temp', '1', '--seed', '7', '--json');
    const c = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once upon a time', '-n', '40', '--temp', '1', '--seed', '8', '--json');
    assert.equal(JSON.parse(a.stdout).text, JSON.parse(b.stdout).text);
    assert.notEqual(JSON.parse(a.stdout).text, JSON.parse(c.stdout).text);
  });

  test('perplexity of the model\'s own greedy story is low, of shuffled words high', () => {
    const story = fs.readFileSync(sharedPath('models', 'stories260k', 'GREEDY_SAMPLE.txt'), 'utf8');
    const shuffled = story.split(' ').map((w, i, all) => all[(i * 7919) % all.length]).join(' ');
    fs.writeFileSync(path.join(tmp, 'story.txt'), story);
    fs.writeFileSync(path.join(tmp, 'shuffled.txt'), shuffled);
    const ppl = (f: string): number => {
      const r = steerer('perplexity', '-m', sharedPath('models', 'tinystories-656k'), '-f', path.join(tmp, f), '--json');
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout).perplexity as number;
    };
    const real = ppl('story.txt');
    const noise = ppl('shuffled.txt');
    assert.ok(real > 1 && real < 20, `story perplexity ${real}`);
    assert.ok(noise > 3 * real, `shuffled ${noise} vs story ${real}`);
  });

  test('activations are written as safetensors with prompt and token metadata', async () => {
    const prompts = path.join(tmp, 'prompts.txt');
    fs.writeFileSync(prompts, 'The cat sat.\nA happy dog ran to the park.\n');
    const out = path.join(tmp, 'acts.safetensors');
    const r = steerer('activations', '-m', sharedPath('models', 'tinystories-656k'), '--layers', '0-1', '--site', 'resid_post', '--prompts', prompts, '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    const st = SafetensorsFile.open(out);
    const ids = JSON.parse(st.metadata.token_ids) as number[][];
    assert.deepEqual(JSON.parse(st.metadata.prompts), ['The cat sat.', 'A happy dog ran to the park.']);
    const rows = ids[0].length + ids[1].length;
    assert.deepEqual(st.entries.get('blocks.1.hook_resid_post')!.shape, [rows, 128]);
    // Rows equal a direct forward's capture of the second prompt.
    const model = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
    const direct = await model.forward({ tokens: [ids[1]], hooks: [{ kind: 'capture', at: 'blocks.1.hook_resid_post' }], logits: 'none' });
    const fileRows = st.readF32('blocks.1.hook_resid_post').subarray(ids[0].length * 128);
    const want = direct.captures.get('blocks.1.hook_resid_post')!.data;
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // Batched (padded) and single forwards block their matmuls differently: equal to float32 rounding.
    assert.ok(maxAbsDiff(fileRows, want) / scale < 1e-5);
    st.close();
    await model.dispose();
  });

  test('inspect reports the architecture', () => {
    const r = steerer('inspect', '-m', sharedPath('models', 'stories260k'), '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.spec.numLayers, 5);
    assert.equal(info.spec.hiddenSize, 64);
    assert.equal(info.format, 'llama2c');
  });

  test('errors are one line naming the file, with a non-zero exit', () => {
    const bad = path.join(tmp, 'bad.gguf');
    fs.writeFileSync(bad, Buffer.from('GGUF\x03\x00\x00\x00garbage'));
    const cases = [
      spawned('generate', '-m', bad),
      spawned('generate', '-m', path.join(tmp, 'missing-dir')),
      spawned('generate', '-m', sharedPath('models', 'tinystories-656k'), '--temp', 'hot'),
      spawned('activations', '-m', sharedPath('models', 'tinystories-656k'), '--layer', '9', '--prompts', 'x', '--out', 'y'),
    ];
    for (const r of cases) {
      assert.notEqual(r.status, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^steerer: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.match(cases[0].stderr, /bad\.gguf/);
    assert.match(cases[2].stderr, /--temperature must be a finite number, got "hot"/);
    assert.match(cases[3].stderr, /layer 9 does not exist/);
  });

  test('the real TinyStories model gives the same logits from HF safetensors and from GGUF', async () => {
    const hf = new HookedModel(loadModel(sharedPath('models', 'tinystories-656k')), { threads: 1 });
    const file = path.join(tmp, 'tinystories.gguf');
    const tokenizerJson = JSON.parse(fs.readFileSync(sharedPath('models', 'tinystories-656k', 'tokenizer.json'), 'utf8'));
    // TinyStories' vocabulary has no <0xNN> byte tokens, which llama.cpp needs: refused unless asked.
    assert.throws(() => writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson }), /byte tokens/);
    assert.ok(!fs.existsSync(file));
    writeModelGguf(file, hf.spec, hf.weights, { tokenizerJson, name: 'tinystories-656k', allowMissingByteTokens: true });
    const gg = new HookedModel(loadModel(file), { threads: 1 });
    const ids = hf.encode('Once upon a time, there was a big red ball.');
    assert.deepEqual(gg.encode('Once upon a time, there was a big red ball.'), ids);
    const a = (await hf.forward({ tokens: [ids], logits: 'all' })).logits!;
    const b = (await gg.forward({ tokens: [ids], logits: 'all' })).logits!;
    assert.ok(maxAbsDiff(a, b) < 1e-4);
    await hf.dispose();
    await gg.dispose();
  });
});
