/**
 * The coordinator's side: puts a list of jobs on the queue, waits for every one, and gives back their results in
 * the order of the list, whichever workers ran them and in whatever order they finished. It polls the jobs' states
 * rather than trusting a stream of events, so that a job Redis lost (a restart without its data) is noticed and
 * named instead of waited for.
 */
import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import { NpadInputError } from '../errors.js';
import { openQueue } from './connection.js';
import type { NpadJobName, NpadJobs } from './jobs.js';

/** A job's outcome: its result, or why it failed after its retries. */
export type JobOutcome<R> = { ok: true; result: R } | { ok: false; error: string };

export interface RunJobsOptions<R = unknown> {
  /** Called as jobs end: how many of the list have ended. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Called with each job's outcome in list order, as soon as it and every job before it have ended (so results
   * can be shown as they come, in order). A throw stops the run as a lost job does.
   */
  onOutcome?: (index: number, outcome: JobOutcome<R>) => void;
  /** Attempts per job before it counts as failed (a worker's crash, an internal error). Default 3. */
  attempts?: number;
  /** Milliseconds between polls of the jobs' states. Default 250. */
  pollMs?: number;
  /** Seconds Redis may stay unreachable before the run gives up. Default 60. */
  unreachableSeconds?: number;
}

/**
 * Runs `items` as jobs named `name` on the queue at `url` and resolves with their outcomes in order. A job that
 * fails (after `attempts`, or at once for a user's mistake) gives `{ ok: false }`; the others go on.
 * @throws NpadInputError when Redis cannot be reached, loses a job, or stays unreachable for too long
 */
export async function runJobs<N extends NpadJobName>(url: string, name: N, items: readonly NpadJobs[N]['data'][], options: RunJobsOptions<NpadJobs[N]['result']> = {}): Promise<JobOutcome<NpadJobs[N]['result']>[]> {
  const queue = await openQueue(url);
  try {
    const run = randomUUID();
    const ids = items.map((_, i) => `${run}-${i}`);
    const attempts = options.attempts ?? 3;
    // The coordinator removes each job once it has read it; these only clean up after a coordinator that died.
    const cleanup = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };
    await queue.addBulk(items.map((data, i) => ({ name, data, opts: { jobId: ids[i], attempts, backoff: { type: 'fixed', delay: 1000 }, ...cleanup } })));
    // Stopped by the user: the jobs no worker has taken yet are taken off the queue, so none works for nobody.
    const withdraw = (signal: NodeJS.Signals) => (): void => {
      void withdrawJobs(queue, ids).finally(() => process.kill(process.pid, signal));
    };
    const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => [signal, withdraw(signal)] as const);
    for (const [signal, handler] of handlers) process.once(signal, handler);
    try {
      return await waitForJobs<NpadJobs[N]['result']>(queue, ids, url, options);
    } catch (e) {
      await withdrawJobs(queue, ids); // the run is over: its jobs too
      throw e;
    } finally {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    }
  } finally {
    await queue.close();
  }
}

/** How many workers are listening on the queue at `url` now (at least 1: jobs wait for the first to come). */
export async function workerCount(url: string): Promise<number> {
  const queue = await openQueue(url);
  try {
    return Math.max(1, await queue.getWorkersCount());
  } finally {
    await queue.close();
  }
}

/** Polls the jobs `ids` until each has completed or failed; removes each from Redis once read. */
async function waitForJobs<R>(queue: Queue, ids: readonly string[], url: string, options: RunJobsOptions<R>): Promise<JobOutcome<R>[]> {
  const outcomes = new Array<JobOutcome<R> | undefined>(ids.length);
  let reported = 0; // outcomes before this index have gone to onOutcome
  const pending = new Set(ids.keys());
  const pollMs = options.pollMs ?? 250;
  const unreachableMs = (options.unreachableSeconds ?? 60) * 1000;
  let lastAnswer = performance.now();
  while (pending.size > 0) {
    await new Promise((r) => setTimeout(r, pollMs));
    let jobs: (Job | undefined)[];
    try {
      jobs = await withTimeout(Promise.all([...pending].map((i) => queue.getJob(ids[i]!))), pollMs * 8);
      lastAnswer = performance.now();
    } catch {
      if (performance.now() - lastAnswer > unreachableMs) {
        throw new NpadInputError(`--queue ${url}: Redis has not answered for ${Math.round(unreachableMs / 1000)} s; ${pending.size} of ${ids.length} jobs unfinished`);
      }
      continue;
    }
    const indices = [...pending];
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      const job = jobs[k];
      if (job === undefined) {
        throw new NpadInputError(
          `--queue ${url}: job ${ids[i]} is gone from Redis (restarted without its data, or flushed); ${pending.size} of ${ids.length} jobs unfinished, nothing was written: run the command again`,
        );
      }
      if (job.finishedOn === undefined) continue;
      const state = await job.getState();
      if (state === 'completed') outcomes[i] = { ok: true, result: job.returnvalue as R };
      else if (state === 'failed') outcomes[i] = { ok: false, error: job.failedReason };
      else continue; // failed once and waiting for another attempt
      pending.delete(i);
      await job.remove().catch(() => {}); // read: Redis need not keep it
      options.onProgress?.(ids.length - pending.size, ids.length);
    }
    for (; reported < ids.length && outcomes[reported] !== undefined; reported++) options.onOutcome?.(reported, outcomes[reported]!);
  }
  return outcomes as JobOutcome<R>[];
}

/**
 * Takes the jobs `ids` off the queue where no worker holds them (a held one finishes, and Redis drops it after a
 * day), giving up after 2 s when Redis does not answer.
 */
async function withdrawJobs(queue: Queue, ids: readonly string[]): Promise<void> {
  await withTimeout(Promise.all(ids.map((id) => queue.remove(id).catch(() => 0))), 2000).catch(() => {});
}

/** `p`, or a rejection after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]).finally(() => clearTimeout(timer));
}
