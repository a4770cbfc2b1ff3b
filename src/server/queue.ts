/**
 * A bounded FIFO queue for inference. The CNN already uses every core, so running many images at once only
 * makes each slower and memory grow; the queue runs a few (default one) at a time, holds a bounded number
 * waiting, and refuses the rest at once so that a client can retry later instead of waiting unboundedly.
 */

/** Thrown by {@link InferenceQueue.run} when the waiting line is full. */
export class QueueFullError extends Error {
  /** @param retryAfterSeconds a guess at when a slot frees up (whole seconds, at least 1) */
  constructor(readonly retryAfterSeconds: number) {
    super(`the inference queue is full; retry in about ${retryAfterSeconds} s`);
    this.name = 'QueueFullError';
  }
}

interface Waiting {
  start: () => void;
  cancel: (reason: unknown) => void;
}

/** Runs tasks at most `concurrency` at a time with at most `maxWaiting` more waiting. */
export class InferenceQueue {
  private running = 0;
  private readonly waiting: Waiting[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  /** Moving average of task durations, for Retry-After; a guess of 1 s before the first task. */
  private meanTaskMs = 1000;

  /**
   * @param concurrency tasks run at once (positive integer)
   * @param maxWaiting tasks that may wait for a slot (non-negative integer); more are refused
   */
  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`queue concurrency must be a positive integer, got ${concurrency}`);
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new RangeError(`queue length must be a non-negative integer, got ${maxWaiting}`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `task` when a slot is free.
   * @param signal aborting it while the task waits removes the task from the line (a running task cannot be
   *   interrupted: onnxruntime has no cancellation, so it finishes and its result is dropped by the caller)
   * @throws QueueFullError at once when `maxWaiting` tasks already wait; the signal's reason when aborted
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) {
      return Promise.reject(new QueueFullError(this.retryAfterSeconds()));
    }
    return new Promise<T>((resolve, reject) => {
      const execute = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.running++;
        const started = performance.now();
        task()
          .then(resolve, reject)
          .finally(() => {
            this.meanTaskMs = 0.8 * this.meanTaskMs + 0.2 * (performance.now() - started);
            this.running--;
            this.next();
          });
      };
      const entry: Waiting = { start: execute, cancel: reject };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          reject(signal!.reason);
          this.notifyIfIdle();
        }
      };
      if (this.running < this.concurrency) {
        execute();
      } else {
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(entry);
      }
    });
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Seconds until a new task would probably start: the work ahead of it over the slots. */
  retryAfterSeconds(): number {
    const ahead = this.running + this.waiting.length;
    return Math.max(1, Math.ceil((this.meanTaskMs * ahead) / this.concurrency / 1000));
  }

  private next(): void {
    const entry = this.waiting.shift();
    if (entry) entry.start();
    else this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.running === 0 && this.waiting.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
