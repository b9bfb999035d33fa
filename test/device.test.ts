import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidInputError } from '../src/io/errors.js';
import { checkDevice, executionProviders } from '../src/runtime/device.js';
import { defaultThreads } from '../src/graph/session-options.js';
import os from 'node:os';
import { openModel } from '../src/runtime/open-model.js';
import { createServer } from '../src/server/app.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';

/** Whether this onnxruntime-node install has its CUDA provider library (CI's does not: it is never downloaded). */
function cudaProviderInstalled(): boolean {
  const bin = path.resolve(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
  return fs.readdirSync(bin).some((napi) => fs.existsSync(path.join(bin, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')));
}

describe('--device', () => {
  test('cpu is the default and the only provider it asks for; an unknown device is refused', () => {
    assert.equal(checkDevice('cpu'), 'cpu');
    assert.deepEqual(executionProviders('cpu'), ['cpu']);
    assert.deepEqual(executionProviders('cuda'), ['cuda', 'cpu']);
    assert.throws(() => checkDevice('tpu'), (e: unknown) => e instanceof InvalidInputError && /device must be one of cpu, cuda, got "tpu"/.test(e.message));
  });

  test('cuda without the CUDA provider is a one-line error before anything loads, in the library, the CLI and the server', { skip: cudaProviderInstalled() && 'this install has the CUDA provider' }, async () => {
    const missing = /--device cuda: the installed onnxruntime-node has no CUDA provider .*ONNXRUNTIME_NODE_INSTALL=cuda12.*--device cpu/;
    assert.throws(() => checkDevice('cuda'), missing);
    // Refused before the weights are read: a path that does not exist is never looked at.
    assert.throws(() => openModel('/nonexistent/model.gguf', { device: 'cuda' }), missing);
    const dataDir = tempDir('device-server');
    await assert.rejects(createServer({ modelPath: sharedPath('models', 'tinystories-656k'), dataDir, device: 'cuda' }), missing);
    fs.rmSync(dataDir, { recursive: true, force: true });

    const steerer = steererSyncIn(packageRoot());
    const r = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once', '-n', '4', '--device', 'cuda');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, missing);
    const bad = steerer('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once', '--device', 'gpu');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--device.*gpu.*(cpu, cuda|Allowed choices)/);
  });

  test('--device cpu runs as before', () => {
    const r = steererSyncIn(packageRoot())('generate', '-m', sharedPath('models', 'tinystories-656k'), '-p', 'Once upon a time', '-n', '8', '--temp', '0', '--device', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 'Once upon a time'.length);
  });
});

test('STEERER_THREADS sets the default thread count; a bad value is a clear error', () => {
  const saved = process.env.STEERER_THREADS;
  try {
    process.env.STEERER_THREADS = '3';
    assert.equal(defaultThreads(), 3);
    delete process.env.STEERER_THREADS;
    assert.equal(defaultThreads(), os.availableParallelism());
    for (const bad of ['0', '-2', '1.5', 'two', '99999']) {
      process.env.STEERER_THREADS = bad;
      assert.throws(() => defaultThreads(), (e: unknown) => e instanceof InvalidInputError && /STEERER_THREADS must be a positive integer/.test(e.message), bad);
    }
  } finally {
    if (saved === undefined) delete process.env.STEERER_THREADS;
    else process.env.STEERER_THREADS = saved;
  }
});
