import net from 'node:net';

/**
 * `steerer ARGS` for shell scripts under test, run by ./cli-daemon.ts:
 *
 *   node cli-client.js SOCKET ARGS...
 *
 * sends the arguments with this process's working directory and environment, writes back what
 * the command wrote to stdout and stderr, and exits with its status. Imports nothing else, so it
 * starts in a few tens of milliseconds.
 */

// As the CLI's entry point does: a closed pipe (`... | head`) ends the program quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const [socket, ...args] = process.argv.slice(2);
const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
const conn = net.createConnection(socket, () => conn.end(JSON.stringify({ cwd: process.cwd(), env, args })));
let reply = '';
conn.setEncoding('utf8');
conn.on('data', (d: string) => (reply += d));
conn.on('error', (e) => {
  process.stderr.write(`steerer (test CLI client): no CLI server at ${socket}: ${e.message}\n`);
  process.exitCode = 1;
});
conn.on('end', () => {
  const r = JSON.parse(reply) as { stdout: string; stderr: string; status: number | null };
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.status ?? 1;
});
