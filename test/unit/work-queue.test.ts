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

/** Runs what the event loop has ready (handlers, their awaits) without letting mocked time pass. */
const drain = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('a key keeps one delayed re-queue, and the earliest deadline wins', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const runs: number[] = [];
  const queue = new WorkQueue(async () => {
    runs.push(Date.now());
  }, options);
  queue.addAfter('ns/a', 5_000);
  queue.addAfter('ns/a', 1_000);
  queue.addAfter('ns/a', 3_000);
  for (let i = 0; i < 40; i++) queue.addAfter('ns/a', 2_000 + i);
  assert.equal(queue.waiting, 1);
  t.mock.timers.tick(999);
  await drain();
  assert.deepEqual(runs, []);
  t.mock.timers.tick(1);
  await drain();
  assert.deepEqual(runs, [1_000]);
  t.mock.timers.tick(10_000);
  await drain();
  assert.deepEqual(runs, [1_000], 'the later deadlines were dropped, not kept as extra runs');
  assert.equal(queue.waiting, 0);
});

test('periodic resyncs stay one per key however many events ran the key', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let runs = 0;
  const queue = new WorkQueue(async () => {
    runs++;
    return { requeueAfterMs: 2_000 };
  }, options);
  for (let i = 0; i < 40; i++) {
    queue.add('ns/a');
    await drain();
  }
  assert.equal(runs, 40);
  assert.equal(queue.waiting, 1);
  runs = 0;
  for (let s = 0; s < 10; s++) {
    t.mock.timers.tick(1_000);
    await drain();
  }
  assert.equal(runs, 5, 'one resync every 2 s');
  await queue.shutdown();
});

test('a failing key waits out its backoff even when events add it again', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const runs: number[] = [];
  const queue = new WorkQueue(async () => {
    runs.push(Date.now());
    throw new Error('refused');
  }, { workers: 1, baseDelayMs: 100, maxDelayMs: 10_000 });
  queue.add('ns/a');
  await drain();
  // A watch event after each failure (the status write it caused, say) must not retry it early.
  for (let ms = 0; ms < 1_600; ms += 10) {
    queue.add('ns/a');
    t.mock.timers.tick(10);
    await drain();
  }
  assert.deepEqual(runs, [0, 100, 300, 700, 1_500], 'retries at 100, 200, 400, 800 ms after each failure');
  assert.equal(queue.backoff('ns/a'), 3_200, 'the backoff is kept until a success');
  await queue.shutdown();
});

test('forget ends a backoff: the next add runs at once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let runs = 0;
  const queue = new WorkQueue(async () => {
    runs++;
    throw new Error('refused');
  }, { workers: 1, baseDelayMs: 1_000, maxDelayMs: 10_000 });
  queue.add('ns/a');
  await drain();
  queue.add('ns/a');
  await drain();
  assert.equal(runs, 1);
  queue.forget('ns/a');
  queue.add('ns/a');
  await drain();
  assert.equal(runs, 2);
  assert.equal(queue.backoff('ns/a'), 2_000);
  await queue.shutdown();
});
