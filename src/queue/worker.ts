/**
 * A worker: takes npad jobs off the queue one at a time and runs them (jobs.ts), on any number of machines. It
 * stops cleanly: the job it holds goes back to the queue (BullMQ moveToWait) for another worker, and a worker
 * killed outright loses nothing either: its job's lock runs out and BullMQ hands the job to another worker.
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { NpadConfigError, NpadInputError } from '../errors.js';
import { QUEUE_NAME, redisConnection, untilReady } from './connection.js';
import { invalidJob, userFailure, type NpadJobName, type NpadJobs } from './jobs.js';

/** What runs each kind of job. */
export type JobHandlers = { [N in NpadJobName]: (data: NpadJobs[N]['data']) => Promise<NpadJobs[N]['result']> };

export interface WorkerOptions {
  /**
   * Seconds a job's lock lasts without being renewed: a worker that dies (SIGKILL, a lost machine) gives its job
   * back after at most about twice this. Default 30 (BullMQ's); range 1–3600.
   */
  lockSeconds?: number;
  /** Where the worker says what it does (one line per job started and ended). Default: nothing. */
  log?: (line: string) => void;
}

/** A running worker. */
export interface NpadWorker {
  /** Stops taking jobs, gives the job in hand back to the queue, and closes; the caller then exits. */
  stop(): Promise<void>;
}

/** Times a job may be taken back from a worker that stopped answering before it counts as failed. */
const MAX_STALLED = 3;

/**
 * Starts a worker on the queue at `url`.
 * @throws NpadInputError when Redis does not answer
 */
export async function startWorker(url: string, handlers: JobHandlers, options: WorkerOptions = {}): Promise<NpadWorker> {
  const log = options.log ?? (() => {});
  const lockDuration = Math.round((options.lockSeconds ?? 30) * 1000);
  let stopping = false;
  let current: { job: Job; token: string | undefined } | null = null;
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string) => {
      const problem = invalidJob(job.name, job.data);
      if (problem) throw new UnrecoverableError(`job ${job.id} (${job.name}): ${problem}`);
      const name = job.name as NpadJobName;
      current = { job, token };
      const started = performance.now();
      log(`job ${job.id} (${name}) started`);
      try {
        const result = await (handlers[name] as (data: unknown) => Promise<unknown>)(job.data);
        log(`job ${job.id} (${name}) done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return result;
      } catch (e) {
        if (stopping) throw new WaitingError(); // stop() has put the job back already
        log(`job ${job.id} (${name}) failed: ${e instanceof Error ? e.message : String(e)}`);
        // A user's mistake (a missing folder, a model without thresholds) fails the same way on every worker.
        if (e instanceof NpadInputError || e instanceof NpadConfigError) throw new UnrecoverableError(userFailure(e.message));
        throw e;
      } finally {
        current = null;
      }
    },
    { connection: redisConnection(url), concurrency: 1, lockDuration, stalledInterval: lockDuration, maxStalledCount: MAX_STALLED, autorun: false },
  );
  worker.on('error', (e) => log(`queue connection: ${e.message}`));
  await untilReady(worker.waitUntilReady(), url, () => worker.close(true));
  void worker.run();
  return {
    async stop() {
      stopping = true;
      const holding = current as { job: Job; token: string | undefined } | null;
      if (holding) {
        await holding.job.moveToWait(holding.token).catch((e: unknown) => log(`could not give job ${holding.job.id} back: ${String(e)}; it returns when its lock runs out`));
        log(`job ${holding.job.id} given back to the queue`);
      }
      await worker.close(true);
    },
  };
}
