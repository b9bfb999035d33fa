import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileDecoding, DecodingSchema } from '../src/decoding/decoding-spec.js';
import { generate } from '../src/decoding/generate.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { sharedPath } from '../src/util/shared-path.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';

const MODEL = sharedPath('models', 'tinystories-656k');
const tmp = tempDir('decoding-cli');
const steerer = steererSyncIn(tmp);
let model: HookedModel;
before(() => {
  model = new HookedModel(loadModel(MODEL), { threads: 1 });
});
after(async () => {
  await model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const json = (stdout: string): { text: string; tokens: number[]; selection?: { scores: number[]; chosen: number } } => JSON.parse(stdout.trim().split('\n').at(-1)!);

describe('steerer generate with decode-time steering', () => {
  test('--ban keeps a word out; --cfg gives what the library gives for the same spec', async () => {
    const common = ['generate', '-m', MODEL, '-p', 'Once upon a time', '-n', '40', '--temp', '0', '--threads', '1', '--json'];
    const plain = steerer(...common);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(json(plain.stdout).text, /Lily/);
    const banned = steerer(...common, '--ban', 'Lily');
    assert.equal(banned.status, 0, banned.stderr);
    assert.doesNotMatch(json(banned.stdout).text, /Lily/);

    const cfg = steerer(...common, '--cfg', '1.5', '--negative-prompt', 'A happy day.');
    assert.equal(cfg.status, 0, cfg.stderr);
    const decoding = compileDecoding(DecodingSchema.parse({ cfg: { scale: 1.5, negativePrompt: 'A happy day.' } }), model, {});
    const lib = await generate(model, 'Once upon a time', { temperature: 0, maxTokens: 40, decoding });
    assert.deepEqual(json(cfg.stdout).tokens, lib.tokens);
  });

  test('a spec file decoding section and the equivalent flags give the same text', () => {
    fs.writeFileSync(path.join(tmp, 'spec.json'), JSON.stringify({ decoding: { processors: [{ type: 'bias', text: 'dog', bias: 8 }], select: { candidates: 3 } } }));
    const common = ['generate', '-m', MODEL, '-p', 'Tom had a', '-n', '24', '--temp', '1', '--seed', '4', '--threads', '1', '--json'];
    const fromSpec = steerer(...common, '--steer-spec', 'spec.json');
    const fromFlags = steerer(...common, '--bias', 'dog=8', '--best-of', '3');
    assert.equal(fromSpec.status, 0, fromSpec.stderr);
    assert.equal(fromFlags.status, 0, fromFlags.stderr);
    assert.deepEqual(json(fromSpec.stdout), json(fromFlags.stdout));
    assert.equal(json(fromFlags.stdout).selection?.scores.length, 3);
    assert.match(json(fromFlags.stdout).text, /dog/);
  });

  test('bad decoding flags fail with a clear message and exit code', () => {
    const base = ['generate', '-m', MODEL, '-p', 'Hi', '-n', '4', '--threads', '1'];
    const cases: [string[], RegExp][] = [
      [['--guide', sharedPath('models', 'stories260k')], /--guide expects EXPERT,BASE/],
      [['--guide', `${sharedPath('models', 'stories260k')},${sharedPath('models', 'stories260k')}`], /does not share the main model's vocabulary/],
      [['--every', '4'], /--every needs --best-of/],
      [['--bias', 'sad'], /--bias expects TEXT=VALUE/],
      [['--contrast', 'NaN'], /--contrast must be a finite number/],
      [['--rerank', '4'], /need --probe FILE/],
      [['--contrast', '2', '--plausibility', '3'], /decoding \(from the flags\) is invalid: decoding\.contrast\.plausibility/],
    ];
    for (const [flags, message] of cases) {
      const r = steerer(...base, ...flags);
      assert.notEqual(r.status, 0, flags.join(' '));
      assert.match(r.stderr, message, flags.join(' '));
    }
  });
});
