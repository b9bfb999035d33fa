import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Command } from 'commander';
import type { CliResult } from './cli.js';
import { runCli } from './cli-in-process.js';

/**
 * The worker thread behind steererSyncIn (./cli-in-process.ts): loads the CLI's program once,
 * then runs one command per request in the working directory the requesting thread set, and
 * replies on `replies`, raising `flag` for the thread that waits on it.
 */

const { program, flag, replies } = workerData as { program: string; flag: Int32Array; replies: MessagePort };
const loaded = import(program) as Promise<{ buildProgram(): Command }>;

parentPort!.on('message', (req: { args: string[]; env: Record<string, string> }) => {
  // A program that fails to load (a syntax error mid-edit) answers every command with the error:
  // the requesting thread is blocked waiting and cannot see the worker's 'error' event.
  const failed = (e: unknown): CliResult => ({ stdout: '', stderr: `CLI worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`, status: 1 });
  void runCli(loaded, req.args, req.env).then((reply) => reply, failed).then((reply) => {
    replies.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
