/**
 * Who may call the server: checked on every request before it is routed (docs/security.md has the threat model).
 *
 * - **Token.** With a token set (`--token`, env NPAD_TOKEN), every request but the health probes (/healthz, /readyz,
 *   /v2/health/*) and the page itself needs `Authorization: Bearer <token>`: 401 otherwise. Compared in constant time.
 * - **Host.** A request whose Host header is not an allowed name is refused (421): a web page on another site
 *   cannot reach a server on this machine or network by pointing its own name at it (DNS rebinding). Allowed: the
 *   listed names; without a list, localhost names for a server on a loopback address, and any for one on all
 *   interfaces.
 * - **Origin.** A browser request from another site (an `Origin` that is not the server's own) is refused (403)
 *   unless that origin is listed (`--cors`), so no other page can post images or read results; listed origins get
 *   the CORS headers and preflight answers they need.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './httpError.js';

/** What the access checks are configured with. */
export interface AccessOptions {
  /** The bearer token every request but the health probes and the page needs; null: none. */
  token: string | null;
  /** Host names (no port) the server answers to; null: localhost names on loopback, any on other addresses. */
  allowedHosts: readonly string[] | null;
  /** Origins (scheme://host[:port]) whose browser pages may call the API; others are refused. */
  corsOrigins: readonly string[];
}

/** Paths open without a token: the probes a load balancer or orchestrator calls, and the page (it asks for the token). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready', '/', '/index.html']);

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

/** True for an address only this machine can reach. */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address.startsWith('127.') || address === '::1';
}

/** The host name of a Host header, without its port (IPv6 literals keep their brackets). */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d+$/, '');
}

/** Compares secrets in constant time (hashing first, so lengths leak nothing). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Checks a request; answers a CORS preflight itself.
 * @param listenAddress the address the server listens on (for the default host list)
 * @returns true when the request was answered here (a preflight), false when it may be routed
 * @throws HttpError 421 for a host not allowed, 403 for a foreign origin, 401 without the token
 */
export function checkAccess(req: IncomingMessage, res: ServerResponse, o: AccessOptions, listenAddress: string): boolean {
  const host = hostName(req.headers.host ?? '');
  const allowed = o.allowedHosts ?? (isLoopback(listenAddress) ? LOOPBACK_NAMES : null);
  if (allowed && !allowed.includes(host)) {
    throw new HttpError(421, 'host_not_allowed', `this server does not answer to the host ${JSON.stringify(host)} (allowed: ${allowed.join(', ')}; --allowed-hosts adds names)`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = [`http://${req.headers.host ?? ''}`, `https://${req.headers.host ?? ''}`];
    const listed = o.corsOrigins.includes(origin);
    if (!own.includes(origin) && !listed) {
      throw new HttpError(403, 'cross_origin', `requests from the web origin ${JSON.stringify(origin)} are refused (--cors ORIGIN allows one)`);
    }
    if (listed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, POST',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type',
          'Access-Control-Max-Age': '600',
        });
        res.end();
        return true;
      }
    }
  }
  const path = (req.url ?? '/').split('?')[0]!;
  if (o.token !== null && !OPEN_PATHS.has(path)) {
    const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (given === undefined || !sameSecret(given, o.token)) {
      throw new HttpError(401, 'unauthorized', 'this server needs a token: send the header Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
  }
  return false;
}
