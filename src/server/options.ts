/** The server's limits, with defaults sized for one inspection camera per server on an ordinary machine. */
import { NpadConfigError } from '../errors.js';

/** Limits and sizes of an {@link InspectionServer}; every field has a default. */
export interface ServerOptions {
  /** Largest request body in bytes (413 above). Default 32 MiB. */
  maxBodyBytes: number;
  /** Largest image, width × height, checked from its header before decoding (413 above). Default 40 MP. */
  maxImagePixels: number;
  /** Milliseconds a request may take from arrival to answer, queueing included (504 after). Default 30 s. */
  requestTimeoutMs: number;
  /** Images scored at once (the CNN already uses every core, so 1 is usually fastest). Default 1. */
  concurrency: number;
  /** Requests that may wait for inference; more get 503 with Retry-After. Default 16. */
  maxQueue: number;
  /** Milliseconds a shutdown waits for requests in flight before closing their connections. Default 60 s. */
  shutdownGraceMs: number;
  /** One line per event (shutdown, internal errors), e.g. `(line) => process.stderr.write(line + '\n')`; default silent. */
  log: (line: string) => void;
  /** One line per request answered (method, path, status, milliseconds); default silent. */
  accessLog: (line: string) => void;
  /** Connections open at once; more are closed as they arrive (idle sockets cannot starve the server). Default 128. */
  maxConnections: number;
  /** Upload bytes held at once across all requests (503 past it), bounding memory under a burst. Default 256 MiB. */
  maxBytesInFlight: number;
  /** Bearer token every request but the health probes and the page needs (./access.ts); default null: none. */
  token: string | null;
  /** Host names the server answers to; default null: localhost names on a loopback address, any otherwise. */
  allowedHosts: readonly string[] | null;
  /** Web origins whose pages may call the API (CORS); default none: cross-origin browser requests are refused. */
  corsOrigins: readonly string[];
}

/** The defaults of {@link ServerOptions}. */
export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = {
  maxBodyBytes: 32 * 1024 * 1024,
  maxImagePixels: 40_000_000,
  requestTimeoutMs: 30_000,
  concurrency: 1,
  maxQueue: 16,
  shutdownGraceMs: 60_000,
  log: () => {},
  accessLog: () => {},
  maxConnections: 128,
  maxBytesInFlight: 256 * 1024 * 1024,
  token: null,
  allowedHosts: null,
  corsOrigins: [],
};

/**
 * Fills in defaults and checks every limit.
 * @throws NpadConfigError naming the option and the bad value
 */
/** Longest timeout the server accepts: a day (Node's timers overflow past 2^31 − 1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 86_400_000;

export function resolveServerOptions(input: Partial<ServerOptions> = {}): ServerOptions {
  const o: ServerOptions = { ...DEFAULT_SERVER_OPTIONS, ...input };
  const positiveInteger = (key: keyof ServerOptions, min = 1, max = Number.MAX_SAFE_INTEGER): void => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new NpadConfigError(`server option ${key} must be an integer from ${min} to ${max}, got ${String(v)}`);
    }
  };
  positiveInteger('maxBodyBytes');
  positiveInteger('maxImagePixels');
  // Node's timers hold at most 2^31 − 1 ms; past that they fire at once.
  positiveInteger('requestTimeoutMs', 1, MAX_TIMEOUT_MS);
  positiveInteger('concurrency');
  positiveInteger('maxQueue', 0);
  positiveInteger('maxConnections');
  positiveInteger('maxBytesInFlight');
  positiveInteger('shutdownGraceMs', 0, MAX_TIMEOUT_MS);
  if (typeof o.log !== 'function' || typeof o.accessLog !== 'function') throw new NpadConfigError('server options log and accessLog must be functions');
  if (o.token !== null && (typeof o.token !== 'string' || o.token.length < 16)) throw new NpadConfigError('server option token must be at least 16 characters (a random one: openssl rand -hex 32)');
  for (const origin of o.corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) throw new NpadConfigError(`server option corsOrigins: ${JSON.stringify(origin)} is not an origin like https://example.com`);
  }
  return o;
}
