import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InvalidInputError } from '../io/errors.js';

/**
 * Where ONNX Runtime computes. The CPU is the default and what the tests cover; 'cuda' selects
 * ONNX Runtime's CUDA execution provider (nodes it cannot run stay on the CPU), which
 * onnxruntime-node only has when it was installed with its CUDA binaries.
 */
export const DEVICES = ['cpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];

/** The execution providers for `device`, in ONNX Runtime's order of preference. */
export function executionProviders(device: Device): string[] {
  return device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}

const INSTALL_HINT =
  'reinstall it with its CUDA 12 provider (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install, on a machine that can download it) and a CUDA 12 driver, or use --device cpu';

/**
 * Checks `device` before any session is made, so a missing provider is one line that says what
 * to do instead of ONNX Runtime's library-loading trace.
 */
export function checkDevice(device: unknown): Device {
  if (!DEVICES.includes(device as Device)) throw new InvalidInputError(`device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(device)}`);
  if (device === 'cpu') return device;
  if (process.platform === 'darwin') throw new InvalidInputError('--device cuda: ONNX Runtime has no CUDA provider on macOS; use --device cpu');
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  const dir = bindingDir();
  if (!dir || !fs.existsSync(path.join(dir, lib))) {
    throw new InvalidInputError(`--device cuda: the installed onnxruntime-node has no CUDA provider (${lib} is missing${dir ? ` from ${dir}` : ''}): ${INSTALL_HINT}`);
  }
  return 'cuda';
}

/** A session that failed on the CUDA provider, said in one line. */
export function deviceError(device: Device, err: unknown): Error {
  // A refusal of our own (the command-line check of ../graph/create-session.ts) is not the provider's failure.
  if (device !== 'cuda' || err instanceof InvalidInputError) return err instanceof Error ? err : new Error(String(err));
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300);
  return new InvalidInputError(`--device cuda: ONNX Runtime could not start its CUDA provider (${first}): ${INSTALL_HINT}`, { cause: err });
}

/** The folder holding onnxruntime-node's native libraries for this platform. */
function bindingDir(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    const root = path.resolve(path.dirname(main), '..');
    const bin = path.join(root, 'bin');
    for (const napi of fs.readdirSync(bin)) {
      const dir = path.join(bin, napi, process.platform, process.arch);
      if (fs.existsSync(dir)) return dir;
    }
  } catch {
    // Not found: reported as a missing provider.
  }
  return undefined;
}
