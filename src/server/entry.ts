import type { ServerOptions, SteererServer } from './app.js';

export type { ServerOptions, SteererServer } from './app.js';

/**
 * Builds the HTTP server (see app.ts). Its modules (Fastify, SQLite, the routes and their
 * schemas, ~16 MB resident) load on the first call, so that importing the library to run a
 * model does not hold them.
 */
export async function createServer(opts: ServerOptions): Promise<SteererServer> {
  const app = await import('./app.js');
  return app.createServer(opts);
}
