import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { parseSteerShorthand } from '../src/steering/resolve.js';
import { parseLayerList, splitFileNumber } from '../src/steering/shorthand.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { steererSyncIn } from './helpers/cli-in-process.js';

const layers = (text: string): number[] => parseLayerList(text, { limit: 8, flag: '--layers', outOfRange: (l) => `layer ${l} does not exist` });

describe('command-line shorthand', () => {
  test('layer lists: N, N-M, comma lists, sorted without repeats; bad text and unknown layers refused', () => {
    assert.deepEqual(layers('3'), [3]);
    assert.deepEqual(layers('5, 2-3,3'), [2, 3, 5]);
    assert.deepEqual(layers('4-1'), [1, 2, 3, 4]);
    assert.throws(() => layers('two'), /--layers expects N, N-M or a comma list/);
    assert.throws(() => layers('1-'), InvalidInputError);
    // Bounded before the range is spelled out.
    assert.throws(() => layers('0-1000000000'), /layer 1000000000 does not exist/);
  });

  test('FILE[:number]: the number is split off, paths with colons stay paths', () => {
    assert.deepEqual(splitFileNumber('sad.safetensors'), { file: 'sad.safetensors' });
    assert.deepEqual(splitFileNumber('sad.safetensors:4'), { file: 'sad.safetensors', number: '4' });
    assert.deepEqual(splitFileNumber('dir/sad.safetensors:-1.5e-1'), { file: 'dir/sad.safetensors', number: '-1.5e-1' });
    assert.deepEqual(splitFileNumber('C:\\vectors\\sad.safetensors'), { file: 'C:\\vectors\\sad.safetensors' });
    assert.deepEqual(splitFileNumber('C:\\vectors\\sad.safetensors:2'), { file: 'C:\\vectors\\sad.safetensors', number: '2' });
  });

  test('FILE:NaN, FILE:inf and FILE:word say the number is wrong, not that the file is missing', () => {
    for (const term of ['sad.safetensors:NaN', 'sad.safetensors:inf', 'sad.safetensors:-Infinity', 'sad.safetensors:strong', 'sad.safetensors:', 'plain:nan']) {
      assert.throws(() => splitFileNumber(term), (e: unknown) => e instanceof InvalidInputError && /must be a finite number/.test(e.message), term);
    }
    assert.throws(() => parseSteerShorthand('sad.safetensors:NaN@1'), /must be a finite number, got "NaN"/);
  });

  test('--steer FILE:c@layers becomes one intervention of the spec', () => {
    const iv = parseSteerShorthand('sad.safetensors:4@0-1');
    assert.equal(iv.vector, 'sad.safetensors');
    assert.equal(iv.coefficient, 4);
    assert.deepEqual(iv.layers, [0, 1]);
    assert.equal(parseSteerShorthand('sad.safetensors@all').layers, 'all');
  });
});

describe('generate: bad numbers are one line naming the flag, before anything prints', () => {
  const steerer = steererSyncIn(packageRoot());
  const model = sharedPath('models', 'tinystories-656k');
  for (const [args, message] of [
    [['--top-p', '7'], /^steerer: --top-p must be in \(0, 1\]/],
    [['--temperature', '-1'], /^steerer: --temperature must be a finite number ≥ 0/],
    [['--steer', 'sad.safetensors:NaN'], /^steerer: "sad\.safetensors:NaN": the number after "sad\.safetensors:" must be a finite number, got "NaN"/],
  ] as const) {
    test(args.join(' '), () => {
      const r = steerer('generate', '-m', model, '-p', 'Once upon a time', '-n', '4', ...args);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '', 'the prompt is not echoed first');
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }
});
