/**
 * Errors the server answers with, and the JSON shape of every answer: `{ "error": { "status", "code",
 * "message" } }` for failures. A request can never make the server print a stack trace or crash; a failure
 * that is not the client's fault becomes a 500 whose message says so without internals.
 */
import type { ServerResponse } from 'node:http';

/** A failure to report to the client with an HTTP status, a stable machine-readable code and a sentence. */
export class HttpError extends Error {
  /**
   * @param status HTTP status code (4xx: the request's fault; 5xx: the server's state)
   * @param code short stable identifier, e.g. `body_too_large`
   * @param message what went wrong, for a person
   * @param headers extra response headers (e.g. `Retry-After`, `Allow`)
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Writes `value` as a JSON response (nothing if the response has already started or the client left). */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify(value) + '\n');
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** Writes an HttpError as `{ error: { status, code, message } }`. */
export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: { status: error.status, code: error.code, message: error.message } }, error.headers);
}
