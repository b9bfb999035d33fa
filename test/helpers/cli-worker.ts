import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Command } from 'commander';
import { runCli } from './cli-in-process.js';

/**
 * The worker thread behind steererSyncIn (./cli-in-process.ts): loads the CLI's program once,
 * then runs one command per request in the working directory the requesting thread set, and
 * replies on `replies`, raising `flag` for the thread that waits on it.
 */

const { program, flag, replies } = workerData as { program: string; flag: Int32Array; replies: MessagePort };
const loaded = import(program) as Promise<{ buildProgram(): Command }>;

parentPort!.on('message', (req: { args: string[]; env: Record<string, string> }) => {
  void runCli(loaded, req.args, req.env).then((reply) => {
    replies.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
