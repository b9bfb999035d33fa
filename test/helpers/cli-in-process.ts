import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Command } from 'commander';
import { cliFile, type CliResult } from './cli.js';

/**
 * The CLI without a process start: the commander program `steerer` builds (compiled beside the
 * tests under `npm test`, else the sources), parsed with the given arguments,
 * its stdout and stderr captured and its exit status read from `process.exitCode` /
 * `process.exit`, as a spawned `steerer` reports them. A process start costs a second or more
 * of module loading, and a CLI test file runs ten or more commands.
 *
 * What this cannot show, tests check on a real process (./cli.ts): the entry point itself, that
 * a command exits on its own (no timer left behind), signals, `serve`.
 *
 * - steererSyncIn: synchronous, like spawnSync, from a worker thread that loads the program once
 *   per test file (its own module instances, environment and standard streams);
 * - steererInProcess: asynchronous, on this thread, for tests whose process must keep serving
 *   (a fake endpoint the command calls) while the command runs;
 * - startCliServer: a separate process serving shell scripts (./cli-daemon.ts, ./cli-client.ts).
 */

type Write = typeof process.stdout.write;
type WriteCallback = (err?: Error | null) => void;
type Program = { buildProgram(): Command };

/** Thrown by the stand-in process.exit: ends the command where a real exit would. */
class ExitCalled extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

/** The module that builds the CLI's commander program (compiled or source, as ./cli.ts chooses). */
export function programFile(): string {
  return cliFile('program');
}

/** Replaces `stream.write` with one that collects text; bytes (the test runner's own reports) pass through. */
function capture(stream: NodeJS.WriteStream, into: string[]): () => void {
  const original = stream.write;
  const isTTY = Object.getOwnPropertyDescriptor(stream, 'isTTY');
  const write = (chunk: string | Uint8Array, encodingOrCb?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean => {
    if (typeof chunk !== 'string') return original.call(stream, chunk, encodingOrCb as BufferEncoding, cb);
    into.push(chunk);
    const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (done) process.nextTick(done);
    return true;
  };
  stream.write = write as Write;
  // A spawned command writes into pipes: no terminal, so no progress bars or colours.
  Object.defineProperty(stream, 'isTTY', { value: undefined, configurable: true, writable: true });
  return () => {
    stream.write = original;
    if (isTTY) Object.defineProperty(stream, 'isTTY', isTTY);
    else delete (stream as { isTTY?: boolean }).isTTY;
  };
}

/**
 * Runs one command of `program` in the current working directory with `env` added to the
 * environment, and gives back what it wrote and its exit status. One at a time per thread.
 */
export async function runCli(program: Promise<Program>, args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const savedExitCode = process.exitCode;
  const savedExit = process.exit;
  const savedEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const restoreOut = capture(process.stdout, out);
  const restoreErr = capture(process.stderr, err);
  let status: number;
  try {
    Object.assign(process.env, env);
    process.exitCode = undefined;
    process.exit = ((code?: number | string | null) => {
      throw new ExitCalled(Number(code ?? process.exitCode ?? 0));
    }) as typeof process.exit;
    try {
      const { buildProgram } = await program;
      await buildProgram().parseAsync(['node', 'steerer', ...args]);
      // What the command left queued (a last write, a stream's flush) runs before a process would exit.
      await new Promise((r) => setImmediate(r));
      status = Number(process.exitCode ?? 0);
    } catch (e) {
      if (e instanceof ExitCalled) status = e.code;
      else {
        // An error escaping the command: Node prints it and exits with 1.
        err.push(`${e instanceof Error ? e.stack : String(e)}\n`);
        status = 1;
      }
    }
  } finally {
    process.exit = savedExit;
    process.exitCode = savedExitCode;
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    restoreErr();
    restoreOut();
  }
  return { stdout: out.join(''), stderr: err.join(''), status };
}

let here: Promise<Program> | undefined;
let queue: Promise<unknown> = Promise.resolve();

/** Runs the CLI in `cwd` on this thread (with `env` added to the environment while it runs). */
export function steererInProcess(cwd: string, env: Readonly<Record<string, string>> = {}): (...args: string[]) => Promise<CliResult> {
  return (...args) => {
    const run = queue.then(async () => {
      here ??= import(programFile()) as Promise<Program>;
      const saved = process.cwd();
      process.chdir(cwd);
      try {
        return await runCli(here, args, env);
      } finally {
        process.chdir(saved);
      }
    });
    queue = run.catch(() => undefined);
    return run;
  };
}

interface CliWorker {
  run(cwd: string, args: readonly string[], env: Readonly<Record<string, string>>): CliResult;
}

let worker: CliWorker | undefined;

function startWorker(): CliWorker {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1: replies, port2 } = new MessageChannel();
  const workerData = { program: programFile(), flag, replies: port2 };
  // Compiled (npm test runs the tests as tsc emitted them), the worker is plain JavaScript. Run
  // through tsx, it is TypeScript, and worker threads do not inherit tsx's hooks (Node 20): it
  // registers them first.
  const compiled = import.meta.url.endsWith('.js');
  const w = compiled
    ? new Worker(new URL('./cli-worker.js', import.meta.url), { workerData, transferList: [port2] })
    : new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./cli-worker.ts', import.meta.url).href)}); })`, {
        eval: true,
        workerData,
        transferList: [port2],
      });
  w.unref();
  let failure: string | undefined;
  w.on('error', (e) => (failure = e.stack ?? String(e)));
  return {
    run(cwd, args, env) {
      const saved = process.cwd();
      Atomics.store(flag, 0, 0);
      // The worker shares this process's working directory; this thread waits while it runs.
      process.chdir(cwd);
      try {
        w.postMessage({ args, env });
        // Bounded, so a worker that died cannot hang the test file.
        if (Atomics.wait(flag, 0, 0, 10 * 60_000) === 'timed-out') throw new Error(`steerer ${args.join(' ')}: no reply from the CLI worker in 10 minutes${failure ? `: ${failure}` : ''}`);
      } finally {
        process.chdir(saved);
      }
      const reply = receiveMessageOnPort(replies);
      if (!reply) throw new Error('the CLI worker gave no reply');
      return reply.message as CliResult;
    },
  };
}

/** Runs the CLI in `cwd`, synchronously, in this process's CLI worker thread (with `env` added to its environment). */
export function steererSyncIn(cwd: string, env: Readonly<Record<string, string>> = {}): (...args: string[]) => CliResult {
  return (...args) => (worker ??= startWorker()).run(cwd, args, env);
}

/**
 * Starts ./cli-daemon.ts on a Unix socket in `dir` and gives the command line that runs
 * `steerer ARGS` through it (append the arguments): for shell scripts under test, where a
 * process start per command would cost more than most commands do.
 */
export async function startCliServer(dir: string): Promise<{ command: string[]; close(): void }> {
  const compiled = import.meta.url.endsWith('.js');
  const node = compiled ? [process.execPath] : [process.execPath, '--import', import.meta.resolve('tsx')];
  const file = (name: string): string => fileURLToPath(new URL(`./${name}${compiled ? '.js' : '.ts'}`, import.meta.url));
  const socket = path.join(dir, 'steerer-cli.sock');
  const child = spawn(node[0], [...node.slice(1), file('cli-daemon'), socket], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the CLI server exited (${code}) before it listened`)));
  });
  child.stdout.resume();
  return {
    command: [...node, file('cli-client'), socket],
    close: () => {
      child.stdin.end();
      child.kill();
    },
  };
}
