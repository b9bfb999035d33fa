import fs from 'node:fs';
import { Option } from 'commander';
import cliProgress from 'cli-progress';
import { InvalidInputError, ModelFileError, SteererError } from '../io/errors.js';
import { checkDevice, DEVICES, type Device } from '../runtime/device.js';
import { openModel } from '../runtime/open-model.js';
import type { HookedModel } from '../runtime/model.js';
import { parseLayerList } from '../steering/shorthand.js';

/** Options every model-using command takes. */
export const modelOption = new Option('-m, --model <path>', 'model: Hugging Face directory, .gguf file, or llama2.c .bin').makeOptionMandatory();
export const threadsOption = new Option('-t, --threads <n>', 'ONNX Runtime threads (default: $STEERER_THREADS, else all cores)');
export const deviceOption = new Option('--device <name>', 'where ONNX Runtime computes: cpu, or cuda (needs onnxruntime-node installed with its CUDA provider)')
  .choices(DEVICES)
  .default('cpu');
export const jsonOption = new Option('--json', 'print machine-readable JSON');

/** What --threads and --device say, checked. */
export function runtimeFromOptions(opts: { threads?: string; device?: string }): { threads?: number; device: Device } {
  return {
    threads: opts.threads === undefined ? undefined : parseIntStrict(opts.threads, '--threads', 1),
    device: checkDevice(opts.device ?? 'cpu'),
  };
}

export function openFromOptions(opts: { model: string; threads?: string; device?: string }): HookedModel {
  return openModel(opts.model, runtimeFromOptions(opts));
}

export function parseIntStrict(value: string, flag: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidInputError(`${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function parseNumber(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidInputError(`${flag} must be a finite number, got "${value}"`);
  return n;
}

/** Layers as "3", "2,5,7", "4-8" or "all". */
export function parseLayers(value: string, numLayers: number, flag = '--layers'): number[] {
  if (value.trim() === 'all') return Array.from({ length: numLayers }, (_, i) => i);
  return parseLayerList(value, { limit: numLayers, flag, alsoAccepted: '"all"', outOfRange: (l) => `layer ${l} does not exist: the model has layers 0..${numLayers - 1}` });
}

/** Progress on stderr: a bar on a terminal, periodic lines when piped; silent with --json. */
export function progressBar(label: string, total: number, quiet = false): { update(done: number): void; stop(): void } {
  if (quiet) return { update() {}, stop() {} };
  if (!process.stderr.isTTY) return progressLines(label, total);
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}

/** Seconds between progress lines when stderr is a log, not a terminal. */
const LINE_EVERY_S = 10;

/**
 * Piped progress (a log, CI): a plain line at most every 10 s as work advances, and one at the
 * end. Written from update() itself, with no timer, so a command that fails midway still exits.
 */
function progressLines(label: string, total: number): { update(done: number): void; stop(): void } {
  const started = performance.now();
  let lastLine = started;
  let done = 0;
  const line = (): void => {
    const elapsed = (performance.now() - started) / 1000;
    const eta = done > 0 && done < total ? ` | ETA ${Math.round((elapsed * (total - done)) / done)}s` : '';
    process.stderr.write(`${label}: ${total > 0 ? Math.floor((100 * done) / total) : 100}% | ${done}/${total}${eta} | ${elapsed.toFixed(0)}s\n`);
    lastLine = performance.now();
  };
  return {
    update: (d) => {
      done = d;
      if ((performance.now() - lastLine) / 1000 >= LINE_EVERY_S) line();
    },
    stop: () => line(),
  };
}

/** Runs a command body; user-facing errors become one line on stderr and exit code 1. */
export function runAction<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      const debug = process.env.STEERER_DEBUG === '1';
      if (e instanceof SteererError) {
        process.stderr.write(`steerer: ${e.message}\n`);
        if (debug) process.stderr.write(`${e.stack}\n`);
        process.exitCode = 1;
      } else {
        const msg = e instanceof Error ? e.message : String(e);
        process.stderr.write(`steerer: internal error: ${msg.split('\n')[0]} (set STEERER_DEBUG=1 for details)\n`);
        if (debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
        process.exitCode = 2;
      }
    }
  };
}

export function readTextFile(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidInputError(`${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/**
 * Runs `read` so that a file it cannot use is reported with the flag that named it
 * (`--positive sad.txt: no such file`), not only by path: `files` pairs flags with their files.
 */
export function withFileFlags<T>(files: ReadonlyArray<readonly [flag: string, file: string | undefined]>, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof ModelFileError)) throw e;
    const named = files.find(([, file]) => file !== undefined && file === e.file);
    if (named === undefined) throw e;
    const missing = (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    // `--class sad=` + file reads as typed: `--class sad=sad.txt`.
    const typed = named[0].endsWith('=') ? `${named[0]}${e.file}` : `${named[0]} ${e.file}`;
    throw new InvalidInputError(`${typed}: ${missing ? 'no such file' : e.problem}`, { cause: e });
  }
}
