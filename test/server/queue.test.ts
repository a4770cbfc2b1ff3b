/** The inference queue: order, the concurrency bound, refusal when full, cancellation of waiting tasks. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { InferenceQueue, QueueFullError } from '../../src/server/queue.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('runs tasks in arrival order, never more than the concurrency at once', async () => {
  const queue = new InferenceQueue(2, 10);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const task = (i: number) => async (): Promise<number> => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await tick(10);
    running--;
    return i * 10;
  };
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => queue.run(task(i))));
  assert.deepEqual(results, [0, 10, 20, 30, 40, 50]);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(most, 2);
  await queue.idle();
  assert.equal(queue.active + queue.queued, 0);
});

test('refuses at once when the waiting line is full, with a Retry-After guess', async () => {
  const queue = new InferenceQueue(1, 1);
  const slow = (): Promise<void> => tick(30);
  const first = queue.run(slow);
  const second = queue.run(slow);
  await assert.rejects(queue.run(slow), (e: unknown) => e instanceof QueueFullError && e.retryAfterSeconds >= 1);
  await Promise.all([first, second]);
  await queue.run(slow); // room again
});

test('an aborted waiting task leaves the line and never runs; a failing task frees its slot', async () => {
  const queue = new InferenceQueue(1, 5);
  let ran = false;
  const blocker = queue.run(() => tick(30));
  const controller = new AbortController();
  const waiting = queue.run(async () => void (ran = true), controller.signal);
  assert.equal(queue.queued, 1);
  controller.abort(new Error('client left'));
  await assert.rejects(waiting, /client left/);
  assert.equal(queue.queued, 0);
  await blocker;
  assert.equal(ran, false);
  await assert.rejects(queue.run(() => Promise.reject(new Error('model failed'))), /model failed/);
  assert.equal(await queue.run(async () => 'next'), 'next');
  await assert.rejects(queue.run(async () => 1, AbortSignal.abort(new Error('already'))), /already/);
});

test('checks its sizes', () => {
  assert.throws(() => new InferenceQueue(0, 1), /concurrency must be a positive integer, got 0/);
  assert.throws(() => new InferenceQueue(1, 1.5), /queue length must be a non-negative integer, got 1.5/);
});
