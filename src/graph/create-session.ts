import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';

/**
 * Every ONNX Runtime session of the library is created here, so that the first one, which
 * initialises ONNX Runtime, is checked against a crash of onnxruntime-node 1.30: on Linux its
 * initialisation overflows the main thread's stack when the process's command line is long,
 * and the process dies of a segmentation fault without a word (measured with the default
 * 8 MiB stack: a 28,000-byte argument passes, 29,000 bytes crash; the stack it takes grows with
 * the command line, about 290 bytes of stack per byte). A prompt passed on the command line
 * (`--prompt "$(cat story.txt)"`) is enough. The check refuses such a process with a clear
 * error instead, before anything is loaded.
 */

/** Stack bytes per command-line byte that ONNX Runtime's initialisation is allowed (measured ~290, with a margin). */
const STACK_PER_BYTE = 350;

/** The longest command line ONNX Runtime can take with a main-thread stack of `stackBytes` (Infinity: unlimited). */
export function commandLineLimit(stackBytes: number): number {
  return Math.floor(stackBytes / STACK_PER_BYTE);
}

/** Throws when a command line of `bytes` would crash ONNX Runtime's initialisation under a `stackBytes` stack. */
export function checkCommandLine(bytes: number, stackBytes: number): void {
  const limit = commandLineLimit(stackBytes);
  if (bytes <= limit) return;
  throw new InvalidInputError(
    `this process's command line is ${bytes} bytes, and ONNX Runtime 1.30 crashes while it starts when the command line is ` +
      `longer than about ${limit} bytes with a stack limit of ${(stackBytes / 2 ** 20).toFixed(0)} MiB: pass long text in a file ` +
      '(e.g. --prompt-file instead of --prompt), or raise the stack limit (ulimit -s)',
  );
}

/** The soft stack limit from /proc/self/limits (Infinity: unlimited); undefined where that file is missing. */
function stackLimitBytes(): number | undefined {
  try {
    const m = /^Max stack size\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

let checked = false;

function checkOnce(): void {
  if (checked) return;
  const stack = stackLimitBytes();
  if (stack !== undefined && Number.isFinite(stack)) {
    // NUL-separated argv of this process, as ONNX Runtime sees it.
    checkCommandLine(fs.readFileSync('/proc/self/cmdline').length, stack);
  }
  checked = true;
}

/** ort.InferenceSession.create, after the command-line check above. */
export function createSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  try {
    checkOnce();
  } catch (e) {
    return Promise.reject(e);
  }
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}
