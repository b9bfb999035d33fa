import path from 'node:path';
import { Command, Option } from 'commander';
import { oldSpelling } from '../flag-aliases.js';
import { DEFAULT_LIMITS } from '../../server/context.js';
import { InvalidInputError } from '../../io/errors.js';
import { readUsersFile } from '../../server/users.js';
import { deviceOption, modelOption, parseIntStrict, runAction, runtimeFromOptions, threadsOption } from '../common.js';

interface ServeFlags {
  model: string;
  threads?: string;
  device?: string;
  port: string;
  host: string;
  dataDir: string;
  token?: string;
  users?: string;
  allowedHost: string[];
  maxTokens: string;
  maxPromptChars?: string;
  maxBatch: string;
  bodyLimit: string;
  judgeUrl?: string;
  judgeName: string;
  log?: boolean;
}

const judgeNameOption = new Option('--judge-name <name>', 'with --judge-url: the model name to ask for').default('default');

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve a model: OpenAI-compatible API with per-request steering, vector registry, jobs, and the web studio')
    .addOption(modelOption)
    .option('--port <n>', 'port (0 = any free port)', '8080')
    .option('--host <addr>', 'address to bind; anything but loopback exposes the model to the network', '127.0.0.1')
    .option('--data-dir <dir>', 'database, vectors/, saes/, probes/, models/ and indexes/ (for GET /v1/vectors/NAME/explain) live here', '.steerer')
    .option('--token <token>', 'require "Authorization: Bearer <token>" on /v1 (default: $STEERER_API_TOKEN)')
    .option('--users <file>', 'JSON list of {"name", "token"}: each user has a token and a vector library of their own beside the shared one')
    .option('--allowed-host <name...>', 'without --token, Host names served besides loopback ones (DNS-rebinding guard)', [])
    .option('--max-tokens <n>', 'new tokens per completion at most', String(DEFAULT_LIMITS.maxTokens))
    .option('--max-prompt-chars <n>', 'characters of prompt text per request at most (default: context length × 16, at most 262144)')
    .option('--max-batch <n>', 'compatible requests decoded together at most', String(DEFAULT_LIMITS.maxBatch))
    .option('--body-limit <mib>', 'largest request body in MiB', String(DEFAULT_LIMITS.bodyBytes / 2 ** 20))
    .option('--judge-url <url>', 'OpenAI-compatible endpoint that judges ratings (key from STEERER_API_KEY); default: the served model')
    .addOption(judgeNameOption)
    // Renamed: elsewhere --judge-model is a local model path, --judge-name the endpoint's model name.
    .addOption(oldSpelling('--judge-model', judgeNameOption))
    .option('--log', 'log every request (JSON lines on stdout)')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .action(
      runAction(async (flags: ServeFlags) => {
        const token = flags.token ?? (process.env.STEERER_API_TOKEN || undefined);
        // Every flag is checked before the model loads and the data directory is created.
        const bodyMiB = Number(flags.bodyLimit);
        if (!Number.isFinite(bodyMiB) || bodyMiB <= 0) throw new InvalidInputError(`--body-limit must be a positive number of MiB, got "${flags.bodyLimit}"`);
        const port = parseIntStrict(flags.port, '--port');
        if (port > 65535) throw new InvalidInputError(`--port must be at most 65535, got ${port}`);
        const { threads, device } = runtimeFromOptions(flags);
        const limits = {
          maxTokens: parseIntStrict(flags.maxTokens, '--max-tokens', 1),
          maxBatch: parseIntStrict(flags.maxBatch, '--max-batch', 1),
          bodyBytes: Math.round(bodyMiB * 2 ** 20),
          ...(flags.maxPromptChars === undefined ? {} : { maxPromptChars: parseIntStrict(flags.maxPromptChars, '--max-prompt-chars', 1) }),
        };
        for (const h of flags.allowedHost) {
          if (!/^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:]+\]?$/.test(h)) throw new InvalidInputError(`--allowed-host takes host names without port or scheme, got "${h}"`);
        }
        // Only names are ever printed: tokens are secrets (users.ts).
        const users = flags.users === undefined ? undefined : readUsersFile(flags.users, { operatorToken: token });
        // Loaded here, not at the top: fastify costs every other command ~0.3 s of start-up.
        const { createServer } = await import('../../server/app.js');
        const server = await createServer({
          modelPath: flags.model,
          dataDir: path.resolve(flags.dataDir),
          token,
          users,
          allowedHosts: flags.allowedHost.map((h) => h.replace(/^\[|\]$/g, '')),
          threads,
          device,
          limits,
          judge: flags.judgeUrl ? { url: flags.judgeUrl, model: flags.judgeName, apiKey: process.env.STEERER_API_KEY } : undefined,
          logger: flags.log,
        });
        const address = await server.listen(port, flags.host);
        if (!['127.0.0.1', 'localhost', '::1'].includes(flags.host) && !token && !users) {
          process.stderr.write(`steerer: warning: listening on ${flags.host} without --token: anyone who can reach this address can use the model\n`);
        }
        process.stderr.write(`steerer: serving ${server.ctx.modelId} at ${address} (studio: ${address}/studio/, data: ${path.resolve(flags.dataDir)}${token ? ', token required' : ''}${users ? `, ${users.length} user${users.length === 1 ? '' : 's'}: ${users.map((u) => u.name).join(', ')}` : ''})\n`);
        const stop = (): void => {
          process.stderr.write('steerer: shutting down\n');
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
    );
}
