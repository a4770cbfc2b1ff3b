/**
 * The Redis a queue of npad jobs lives on (BullMQ): its URL as the user gives it (`--queue redis://HOST:PORT[/DB]`,
 * with `user:password@` when the server asks for them), checked, and the connection options BullMQ takes.
 */
import type { ConnectionOptions, Queue } from 'bullmq';
import { NpadInputError } from '../errors.js';

/** The one queue every npad job goes through; the job's name says what it is (jobs.ts). */
export const QUEUE_NAME = 'npad';

/** How long a coordinator or worker waits for Redis to answer at start before giving up. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * BullMQ's connection options for `url`, `redis://[user:password@]host[:port][/db]` (port 6379, db 0 by default).
 * @throws NpadInputError naming the URL and what is wrong with it
 */
export function redisConnection(url: string): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NpadInputError(`--queue ${url}: not a URL; expected redis://HOST:PORT, e.g. redis://127.0.0.1:6379`);
  }
  if (parsed.protocol !== 'redis:') throw new NpadInputError(`--queue ${url}: expected a redis:// URL (got ${parsed.protocol})`);
  if (parsed.hostname === '') throw new NpadInputError(`--queue ${url}: no host`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new NpadInputError(`--queue ${url}: database ${dbText} is not a number from 0 to 15`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    // BullMQ's blocking commands need it; a worker waits on Redis indefinitely and reconnects by itself.
    maxRetriesPerRequest: null,
  };
}

/**
 * The queue at `url`, once Redis answers.
 * @throws NpadInputError when Redis does not answer within CONNECT_TIMEOUT_MS
 */
export async function openQueue(url: string): Promise<Queue> {
  // Loaded here, not with the module: bullmq is some 170 modules, which a command without --queue does not need.
  const { Queue } = await import('bullmq');
  const queue = new Queue(QUEUE_NAME, { connection: redisConnection(url) });
  queue.on('error', () => {}); // reconnects are ioredis's business; a lost job is found by polling (coordinator.ts)
  await untilReady(queue.waitUntilReady(), url, () => queue.close());
  return queue;
}

/** Waits for `ready`, or throws an NpadInputError naming `url` after CONNECT_TIMEOUT_MS (closing with `close`). */
export async function untilReady(ready: Promise<unknown>, url: string, close: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NpadInputError(`--queue ${url}: Redis does not answer (waited ${CONNECT_TIMEOUT_MS / 1000} s): is redis-server running there?`)), CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (e) {
    await close().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
