import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { checkCommandLine, commandLineLimit } from '../src/graph/create-session.js';
import { InvalidInputError } from '../src/io/errors.js';
import { deviceError } from '../src/runtime/device.js';
import { sharedPath } from '../src/util/shared-path.js';

/**
 * onnxruntime-node 1.30 dies of a stack overflow while it initialises when the process's command
 * line is long (~29 KB under Linux's default 8 MiB stack). The first session is checked instead.
 */

const MiB = 2 ** 20;

describe('a command line too long for ONNX Runtime', () => {
  test('the limit scales with the stack and stays under the measured crash', () => {
    // Measured with an 8 MiB stack: 28,000 bytes of argument start, 29,000 crash.
    assert.ok(commandLineLimit(8 * MiB) < 28_000 && commandLineLimit(8 * MiB) > 20_000, String(commandLineLimit(8 * MiB)));
    assert.equal(commandLineLimit(16 * MiB), 2 * commandLineLimit(8 * MiB));
    checkCommandLine(commandLineLimit(8 * MiB), 8 * MiB);
    assert.throws(() => checkCommandLine(40_000, 8 * MiB), (e: unknown) => e instanceof InvalidInputError && /40000 bytes/.test(e.message) && /--prompt-file/.test(e.message));
 
    // With --device cuda the refusal still reads as itself, not as a failed CUDA provider.
    const refusal = new InvalidInputError('command line too long');
    assert.equal(deviceError('cuda', refusal), refusal);
    assert.match(deviceError('cuda', new Error('libcudart.so: cannot open')).message, /CUDA provider/);
  });

  // Linux only: the check reads /proc, and the crash was measured there.
  test('a process with a 40 KB argument gets a clear error, not a segmentation fault; a short one runs', { skip: !fs.existsSync('/proc/self/limits') }, () => {
    const script = `
      const { loadModel } = await import('./src/model/load.ts');
      const { HookedModel } = await import('./src/runtime/model.ts');
      const m = new HookedModel(loadModel(${JSON.stringify(sharedPath('models', 'tinystories-656k'))}), { threads: 1 });
      try {
        const out = await m.forward({ tokens: [[1, 2, 3]], logits: 'argmax' });
        console.log('next token', out.argmax[0]);
      } catch (e) {
        console.log('refused:', e.message);
        process.exitCode = 3;
      }`;
    const run = (argBytes: number) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'x'.repeat(argBytes)], { encoding: 'utf8', cwd: process.cwd(), timeout: 120_000 });
    const long = run(40_000);
    assert.equal(long.signal, null, `killed by ${long.signal}: ${long.stderr}`);
    assert.equal(long.status, 3, long.stdout + long.stderr);
    assert.match(long.stdout, /refused: this process's command line is \d+ bytes/);
    const short = run(1_000);
    assert.equal(short.status, 0, short.stdout + short.stderr);
    assert.match(short.stdout, /next token \d+/);
  });
});
