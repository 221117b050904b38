// The work queue's contract: coalescing, one worker per key at a time, rate-limited retries, shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../operator/src/controller/work-queue.ts';

const options = { workers: 2, baseDelayMs: 5, maxDelayMs: 40 };
const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
/** Waits until `condition` holds (polling), so a loaded machine only makes the test slower, not wrong. */
async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await settle(2);
  }
}

test('adds of a waiting key coalesce into one run', async () => {
  const runs: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const queue = new WorkQueue(async (key) => {
    runs.push(key);
    if (key === 'blocker') await gate;
  }, { ...options, workers: 1 });
  queue.add('blocker');
  for (let i = 0; i < 5; i++) queue.add('ns/a');
  assert.equal(queue.depth, 1);
  release();
  await eventually(() => runs.length === 2);
  await settle();
  assert.deepEqual(runs, ['blocker', 'ns/a']);
});

test('a key is never processed twice at once; an add during processing runs it once more after', async () => {
  let running = 0;
  let maxConcurrent = 0;
  let runs = 0;
  const queue = new WorkQueue(async () => {
    running++;
    runs++;
    maxConcurrent = Math.max(maxConcurrent, running);
    await settle(10);
    running--;
  }, { ...options, workers: 4 });
  queue.add('ns/a');
  await settle(2);
  queue.add('ns/a');
  queue.add('ns/a');
  await eventually(() => runs === 2 && running === 0);
  await settle();
  assert.equal(maxConcurrent, 1);
  assert.equal(runs, 2);
});

test('failures retry with doubling backoff up to the maximum, and success forgets them', async () => {
  let attempts = 0;
  const delays: number[] = [];
  const queue = new WorkQueue(async () => {
    attempts++;
    if (attempts <= 4) throw new Error('conflict');
  }, options);
  queue.onError = (_key, _error, retryInMs) => delays.push(retryInMs);
  queue.add('ns/a');
  await eventually(() => attempts === 5);
  await settle();
  assert.equal(attempts, 5);
  assert.deepEqual(delays, [5, 10, 20, 40]);
  assert.equal(queue.backoff('ns/a'), 5, 'forgotten after success');
});

test('requeueAfter processes a key again later', async () => {
  let runs = 0;
  const queue = new WorkQueue(async () => {
    runs++;
    return runs === 1 ? { requeueAfterMs: 10 } : undefined;
  }, options);
  queue.add('ns/a');
  await eventually(() => runs === 2);
  await settle();
  assert.equal(runs, 2);
  await queue.shutdown();
});

test('shutdown waits for running handlers and drops what waits', async () => {
  const done: string[] = [];
  const queue = new WorkQueue(async (key) => {
    await settle(15);
    done.push(key);
  }, { ...options, workers: 1 });
  queue.add('first');
  queue.add('second');
  await queue.shutdown();
  assert.deepEqual(done, ['first']);
  queue.add('third');
  await settle(30);
  assert.deepEqual(done, ['first']);
});
