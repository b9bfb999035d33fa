import fs from 'node:fs';
import net from 'node:net';
import type { Command } from 'commander';
import type { CliResult } from './cli.js';
import { programFile, runCli } from './cli-in-process.js';

/**
 * A CLI server for shell scripts under test (test/readme.test.ts): one process that loads the
 * CLI's program once and runs each command ./cli-client.ts sends it, in the client's working
 * directory and environment, answering with what the command wrote and its exit status. A
 * command costs its work, not a process start (a second or more of module loading).
 *
 *   node cli-daemon.js SOCKET     prints "ready" once it listens; one command at a time
 */

interface DaemonRequest {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly args: string[];
}

const socket = process.argv[2];
const program = import(programFile()) as Promise<{ buildProgram(): Command }>;
let queue: Promise<unknown> = Promise.resolve();

async function serve(req: DaemonRequest): Promise<CliResult> {
  const savedCwd = process.cwd();
  const savedEnv = { ...process.env };
  try {
    process.chdir(req.cwd);
    for (const k of Object.keys(process.env)) if (!(k in req.env)) delete process.env[k];
    Object.assign(process.env, req.env);
    return await runCli(program, req.args, {});
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    process.chdir(savedCwd);
  }
}

const server = net.createServer({ allowHalfOpen: true }, (conn) => {
  let body = '';
  conn.setEncoding('utf8');
  conn.on('data', (d: string) => (body += d));
  conn.on('end', () => {
    const run = queue.then(() => serve(JSON.parse(body) as DaemonRequest));
    queue = run.catch(() => undefined);
    run.then(
      (reply) => conn.end(JSON.stringify(reply)),
      (e: unknown) => conn.end(JSON.stringify({ stdout: '', stderr: `cli-daemon: ${e instanceof Error ? e.stack : String(e)}\n`, status: 1 })),
    );
  });
});

fs.rmSync(socket, { force: true });
server.listen(socket, () => process.stdout.write('ready\n'));
// Ends with the test that started it: a closed stdin means the parent is gone.
process.stdin.resume();
process.stdin.on('end', () => server.close(() => process.exit(0)));
