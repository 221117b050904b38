// The batcher's policy, with a scripted executor in place of the worker pool: when batches are formed,
// which requests go together, in which order, and what leaves the queue without being computed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatchExecutor, type BatchPhases, type BatchTrace, type BatcherObserver, type BatcherOptions } from '../../server-image/src/batching/dynamic-batcher.ts';
import type { InferenceRequest } from '../../server-image/src/protocol/request.ts';
import type { Tensor } from '../../server-image/src/protocol/datatypes.ts';
import { InferenceError } from '../../server-image/src/protocol/errors.ts';

/** Runs nothing until told to: each call is recorded and finished by `complete()`. */
class ScriptedExecutor implements BatchExecutor {
  calls: Array<{ inputs: Tensor[]; finish(): void }> = [];
  private busy = 0;
  private readonly workers: number;
  constructor(workers: number) {
    this.workers = workers;
  }
  idleCount() {
    return this.workers - this.busy;
  }
  busyCount() {
    return this.busy;
  }
  run(inputs: Tensor[]): Promise<Tensor[]> {
    this.busy++;
    return new Promise((resolve) => {
      this.calls.push({
        inputs,
        finish: () => {
          this.busy--;
          // Echo the input as the output, so each request must get its own rows back.
          resolve([{ ...inputs[0], name: 'y' }]);
        },
      });
    });
  }
  /** Rows of each batch, as the values of the first column. */
  batches(): number[][] {
    return this.calls.map((c) => Array.from(c.inputs[0].data as Float32Array));
  }
}

const quietObserver: BatcherObserver = { queueChanged() {}, requestDequeued() {}, requestDropped() {}, batchFinished() {} };

function request(values: number[], extra: Partial<InferenceRequest> = {}): InferenceRequest {
  return {
    parameters: {},
    inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length, 1], data: new Float32Array(values) }],
    outputs: [{ name: 'y', binary: false }],
    rows: values.length,
    priority: 0,
    timeoutUs: 0,
    batchKey: '1',
    ...extra,
  };
}

const options = (o: Partial<BatcherOptions> = {}): BatcherOptions => ({
  maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 100, defaultTimeoutMs: 0, priorityLevels: 3, defaultPriorityLevel: 2, ...o,
});
const tick = () => new Promise((r) => setImmediate(r));
const rowsOf = async (p: Promise<Map<string, Tensor>>) => Array.from((await p).get('y')!.data as Float32Array);

test('an idle worker takes a request at once: a quiet server adds no waiting', () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options({ maxQueueDelayMs: 50 }), exec, quietObserver);
  batcher.submit(request([1]));
  assert.equal(exec.calls.length, 1, 'dispatched synchronously');
});

test('requests that arrive while the worker is busy form one batch, and each gets its own rows', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options(), exec, quietObserver);
  const first = batcher.submit(request([1]));
  const a = batcher.submit(request([2, 3]));
  const b = batcher.submit(request([4]));
  const c = batcher.submit(request([5, 6, 7]));
  exec.calls[0].finish();
  await tick();
  assert.deepEqual(exec.batches(), [[1], [2, 3, 4, 5, 6, 7]]);
  exec.calls[1].finish();
  assert.deepEqual(await rowsOf(first.result), [1]);
  assert.deepEqual(await rowsOf(a.result), [2, 3]);
  assert.deepEqual(await rowsOf(b.result), [4]);
  assert.deepEqual(await rowsOf(c.result), [5, 6, 7]);
});

test('a batch never exceeds max batch size and stops at the first request that does not fit', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options({ maxBatchSize: 4 }), exec, quietObserver);
  batcher.submit(request([0]));
  for (const values of [[1, 1], [2, 2, 2], [3]]) batcher.submit(request(values));
  exec.calls[0].finish();
  await tick();
  // [1,1] fits; [2,2,2] would make 5 rows, so the batch closes rather than letting [3] overtake it.
  assert.deepEqual(exec.batches()[1], [1, 1]);
  exec.calls[1].finish();
  await tick();
  assert.deepEqual(exec.batches()[2], [2, 2, 2, 3]);
});

test('requests of different non-batch shapes are never batched together', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options(), exec, quietObserver);
  batcher.submit(request([0]));
  batcher.submit(request([1], { batchKey: 'a' }));
  batcher.submit(request([2], { batchKey: 'b' }));
  batcher.submit(request([3], { batchKey: 'a' }));
  exec.calls[0].finish();
  await tick();
  assert.deepEqual(exec.batches()[1], [1, 3]);
  exec.calls[1].finish();
  await tick();
  assert.deepEqual(exec.batches()[2], [2]);
});

test('max batch size 0 runs every request on its own', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options({ maxBatchSize: 0 }), exec, quietObserver);
  batcher.submit(request([0]));
  batcher.submit(request([1, 1]));
  batcher.submit(request([2]));
  exec.calls[0].finish();
  await tick();
  exec.calls[1].finish();
  await tick();
  assert.deepEqual(exec.batches(), [[0], [1, 1], [2]]);
});

test('higher priority levels go first; priority 0 means the default level', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options({ maxBatchSize: 1 }), exec, quietObserver);
  batcher.submit(request([0]));
  batcher.submit(request([30], { priority: 3 }));
  batcher.submit(request([20]));
  batcher.submit(request([10], { priority: 1 }));
  batcher.submit(request([21], { priority: 2 }));
  for (let i = 0; i < 5; i++) {
    exec.calls[i].finish();
    await tick();
  }
  assert.deepEqual(exec.batches().flat(), [0, 10, 20, 21, 30]);
});

test('with a queue delay, an idle worker holds a partial batch only while others compute', async () => {
  const exec = new ScriptedExecutor(2);
  const batcher = new DynamicBatcher(options({ maxQueueDelayMs: 30, maxBatchSize: 4 }), exec, quietObserver);
  batcher.submit(request([1])); // worker A, at once: nothing else is running
  batcher.submit(request([2])); // worker B is idle, but A is busy: hold for more
  assert.equal(exec.calls.length, 1);
  batcher.submit(request([3]));
  batcher.submit(request([4, 4])); // 4 rows waiting: a full batch goes at once
  assert.equal(exec.calls.length, 2);
  assert.deepEqual(exec.batches()[1], [2, 3, 4, 4]);
  batcher.submit(request([5]));
  exec.calls[0].finish(); // A is idle again while B computes: [5] is held for company
  await tick();
  assert.equal(exec.calls.length, 2);
  await new Promise((r) => setTimeout(r, 60)); // the delay passes: the partial batch goes
  assert.deepEqual(exec.batches()[2], [5]);
});

test('queue timeouts, disconnects and a full queue remove requests before they are computed', async () => {
  const exec = new ScriptedExecutor(1);
  const dropped: string[] = [];
  const observer = { ...quietObserver, requestDropped: (reason: string) => dropped.push(reason) };
  const batcher = new DynamicBatcher(options({ maxQueueSize: 2, defaultTimeoutMs: 20 }), exec, observer);
  batcher.submit(request([0]));
  const timedOut = batcher.submit(request([1]));
  const cancelled = batcher.submit(request([2], { timeoutUs: 10_000_000 }));
  assert.throws(() => batcher.submit(request([3])), /inference queue is full \(max_queue_size 2\)/);
  cancelled.cancel();
  await assert.rejects(cancelled.result, /client closed the request/);
  await assert.rejects(timedOut.result, /request timed out after 20 ms in the queue/);
  assert.equal(batcher.queued, 0);
  exec.calls[0].finish();
  await tick();
  assert.equal(exec.calls.length, 1, 'nothing else was computed');
  assert.deepEqual(dropped.sort(), ['cancelled', 'rejected', 'timeout']);
  await batcher.whenIdle();
});

test('failQueued answers everything waiting and whenIdle resolves once the running batch is done', async () => {
  const exec = new ScriptedExecutor(1);
  const batcher = new DynamicBatcher(options(), exec, quietObserver);
  const running = batcher.submit(request([0]));
  const waiting = batcher.submit(request([1]));
  let idle = false;
  void batcher.whenIdle().then(() => (idle = true));
  batcher.failQueued(new InferenceError('unavailable', 'going away'));
  await assert.rejects(waiting.result, /going away/);
  await tick();
  assert.equal(idle, false);
  exec.calls[0].finish();
  assert.deepEqual(await rowsOf(running.result), [0]);
  await tick();
  assert.equal(idle, true);
});

test("a request's trace gets its own queue wait and the phases of the batch it ran in, which the observer sees once per batch", async () => {
  const exec = new ScriptedExecutor(1);
  const finished: Array<{ rows: number; phases: BatchPhases }> = [];
  const observer: BatcherObserver = { ...quietObserver, batchFinished: (rows, _requests, phases, ok) => ok && finished.push({ rows, phases }) };
  const batcher = new DynamicBatcher(options(), exec, observer);
  const traces: BatchTrace[] = [{ queueSeconds: -1 }, { queueSeconds: -1 }, { queueSeconds: -1 }];
  const first = batcher.submit(request([1]), traces[0]);
  const second = batcher.submit(request([2]), traces[1]);
  const third = batcher.submit(request([3, 4]), traces[2]);
  await new Promise((r) => setTimeout(r, 20));
  exec.calls[0].finish();
  await first.result;
  exec.calls[1].finish();
  await Promise.all([second.result, third.result]);
  assert.deepEqual(finished.map((f) => f.rows), [1, 3]);
  // Lower bounds only: the second waited at least the 20 ms the first ran; the first was dispatched at once.
  assert.ok(traces[1].queueSeconds >= 0.015, 'waited while the first batch ran');
  assert.ok(traces[0].queueSeconds >= 0 && traces[0].queueSeconds < traces[1].queueSeconds);
  assert.equal(traces[0].batch, finished[0].phases);
  assert.equal(traces[1].batch, finished[1].phases);
  assert.equal(traces[2].batch, finished[1].phases, 'requests of one batch share its phases');
  assert.ok(finished[1].phases.infer >= 0 && finished[1].phases.assemble >= 0 && finished[1].phases.split >= 0);
});

test('a request cancelled while its batch computes fails as cancelled once the batch is done; the others in it get their rows', async () => {
  const exec = new ScriptedExecutor(1);
  const dropped: string[] = [];
  const batcher = new DynamicBatcher(options(), exec, { ...quietObserver, requestDropped: (reason) => dropped.push(reason) });
  const busy = batcher.submit(request([0]));
  const gone = batcher.submit(request([1]));
  const kept = batcher.submit(request([2]));
  exec.calls[0].finish();
  await busy.result;
  gone.cancel();
  exec.calls[1].finish();
  await assert.rejects(gone.result, /client closed the request/);
  assert.deepEqual(await rowsOf(kept.result), [2]);
  assert.deepEqual(dropped, ['cancelled']);
  await batcher.whenIdle();
});
