import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';
import type { ServerUser } from './users.js';

/**
 * Who may talk to the server. Three checks run on every request, before routing matters:
 *
 * 1. The request target must be origin-form (`/path`). Absolute-form (`http://host/v1/...`)
 *    and asterisk-form targets are refused, so no spelling of a URL can differ between what
 *    the checks see and what the router matches.
 * 2. Without a token, the Host header must name a loopback host (or one the operator allowed):
 *    a web page cannot reach a token-less server on localhost through DNS rebinding.
 * 3. With a token, every route needs it except an explicit public list (/health, the studio's
 *    static files, the redirect at /). The decision uses the route Fastify actually matched,
 *    never the raw URL, so percent-encoding (`/%761/...`) cannot route around it; requests
 *    that match no route need the token too.
 *
 * With users (`--users`), each user's token counts as a token too, and the request is marked as
 * theirs (callerOf). A presented token is compared with every known one in constant time, as
 * SHA-256 digests of equal length, without stopping at a match: neither the time nor the
 * outcome says which token, or how long a token, came close.
 */

interface AccessOptions {
  /** When set, every non-public route needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Users, each with a token of their own; with any, every non-public route needs a token. */
  readonly users?: readonly ServerUser[];
  /** Extra Host names accepted (without port); only consulted when no token is set. */
  readonly allowedHosts?: readonly string[];
}

/** Routes anyone may reach, as Fastify reports the matched route pattern. */
const PUBLIC_ROUTES = new Set(['/health', '/', '/studio/', '/studio/*']);

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The host name of a Host header: brackets kept off IPv6 literals, port and case dropped. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** Whether a host name is loopback: localhost, *.localhost, 127.0.0.0/8 or ::1. */
function isLoopbackHost(name: string): boolean {
  if (LOOPBACK_HOSTS.has(name) || name.endsWith('.localhost')) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

/** Who sent each request: a user's name, or absent for the operator's --token (or no tokens at all). */
const callers = new WeakMap<FastifyRequest, string>();

/** The user who sent `req` (`--users`); undefined for the operator or a server without users. */
export function callerOf(req: FastifyRequest): string | undefined {
  return callers.get(req);
}

export function installAccessChecks(app: FastifyInstance, opts: AccessOptions): void {
  // Digests of "Bearer <token>", with the user each belongs to (undefined: the operator).
  const credentials: { digest: Buffer; user?: string }[] = [
    ...(opts.token ? [{ digest: digest(`Bearer ${opts.token}`) }] : []),
    ...(opts.users ?? []).map((u) => ({ digest: digest(`Bearer ${u.token}`), user: u.name })),
  ];
  const expected = credentials.length > 0;
  const allowed = new Set((opts.allowedHosts ?? []).map((h) => h.trim().toLowerCase()));
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const target = req.raw.url ?? '';
    if (!target.startsWith('/') || target.startsWith('//')) {
      throw new HttpError(400, 'the request target must be a path starting with "/" (absolute-form and "*" targets are refused)', 'invalid_request_target');
    }
    if (!expected) {
      const host = req.headers.host;
      const name = host === undefined ? undefined : hostName(host);
      if (name === undefined || !(isLoopbackHost(name) || allowed.has(name))) {
        throw new HttpError(403, `Host ${JSON.stringify(host ?? '')} is not accepted: without --token only loopback names (localhost, 127.0.0.1, [::1]) and --allowed-host names are served`, 'host_not_allowed');
      }
      return;
    }
    const route = req.routeOptions.url;
    if (route !== undefined && PUBLIC_ROUTES.has(route)) return;
    const given = digest(req.headers.authorization ?? '');
    let match: { user?: string } | undefined;
    for (const c of credentials) if (timingSafeEqual(given, c.digest) && match === undefined) match = c;
    if (match === undefined) {
      throw new HttpError(401, 'missing or wrong bearer token (send "Authorization: Bearer <token>")', 'invalid_token');
    }
    if (match.user !== undefined) callers.set(req, match.user);
  });
}
