// The drift monitor without a server: rows are counted into the baseline's bins after the request, only
// for requests that succeeded; the window forgets rows older than its length; the prediction logger's
// queue is bounded and a failing sink is counted and backed off. Plain tensors, a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DriftMonitor, MAX_PENDING_ROWS, windowPsi } from '../../server-image/src/monitoring/drift-monitor.ts';
import { BASELINE_FORMAT, type Baseline } from '../../server-image/src/monitoring/baseline.ts';
import { PredictionLogger, type PredictionRecord } from '../../server-image/src/monitoring/prediction-log.ts';
import type { InferenceRequest } from '../../server-image/src/protocol/request.ts';
import type { ModelSignature } from '../../server-image/src/model/signature.ts';
import type { Tensor } from '../../server-image/src/protocol/datatypes.ts';
import { internal } from '../../server-image/src/protocol/errors.ts';

const signature: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
  outputs: [{ name: 'p', datatype: 'FP32', shape: [-1, 2] }],
  batchable: true,
};

const baseline: Baseline = {
  format: BASELINE_FORMAT,
  createdAt: '2026-12-01T00:00:00Z',
  source: { model: 'm', modelSha256: 'a'.repeat(64), data: 'd', rows: 100 },
  inputs: [{ name: 'x[0]', tensor: 'x', index: 0, kind: 'quantiles', bins: { edges: [0], frequencies: [0.5, 0.5] }, min: -1, max: 1, missing: 0 }],
  outputs: [{ name: 'p', tensor: 'p', kind: 'classes', frequencies: [0.5, 0.5] }],
};

function request(values: number[]): InferenceRequest {
  return {
    parameters: {}, inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length, 1], data: new Float32Array(values) }],
    outputs: [{ name: 'p', binary: false }], rows: values.length, priority: 0, timeoutUs: 0, batchKey: '1',
  };
}

/** Outputs whose top class is class 1 for every row. */
const classOne = (rows: number): Map<string, Tensor> => new Map([['p', { name: 'p', datatype: 'FP32', shape: [rows, 2], data: new Float32Array(rows * 2).map((_, i) => (i % 2 === 1 ? 0.9 : 0.1)) }]]);

test('rows are binned after the request, only for requests that succeeded, from values copied before compute', async () => {
  const monitor = new DriftMonitor(baseline, signature, { windowSeconds: 60, minRows: 1, sampleRate: 1 }, () => 0);
  const ok = request([-0.5, 0.5, 2]);
  const okKept = monitor.started(ok);
  // The model worker takes the buffer: what the monitor kept at the start is what counts.
  (ok.inputs[0].data as Float32Array).fill(-0.5);
  monitor.finished(ok, classOne(3), undefined, 0, okKept);
  const failed = request([-0.5]);
  const failedKept = monitor.started(failed);
  monitor.finished(failed, undefined, internal('boom'), 0, failedKept);
  assert.equal(monitor.rows, 0, 'binned later, not in the request');
  await nextTurn();
  assert.equal(monitor.rows, 3);
  assert.deepEqual(Array.from(monitor.inputs[0].totals), [1, 2]);
  assert.equal(monitor.inputs[0].outOfRange, 1);
  assert.deepEqual(Array.from(monitor.outputs[0].totals), [0, 3]);
});

test('the window PSI rises with a shifted batch and forgets it once the window has passed', async () => {
  let now = 0;
  const monitor = new DriftMonitor(baseline, signature, { windowSeconds: 10, minRows: 4, sampleRate: 1 }, () => now);
  const feed = async (values: number[]) => {
    const r = request(values);
    const rKept = monitor.started(r);
    monitor.finished(r, classOne(values.length), undefined, 0, rKept);
    await nextTurn();
  };
  await feed([-0.5, 0.5, -0.5]);
  assert.equal(windowPsi(monitor.inputs[0], 4), undefined, 'fewer rows than driftMinRows: no PSI');
  await feed([0.5]);
  assert.equal(windowPsi(monitor.inputs[0], 4), 0);
  now = 5_000;
  await feed([0.7, 0.8, 0.9, 0.6]);
  assert.ok(windowPsi(monitor.inputs[0], 4)! > 0.1);
  now = 12_000; // the first rows are older than the window now; only the shifted ones are left
  monitor.advance();
  assert.deepEqual(Array.from(monitor.inputs[0].windowCounts()), [0, 4]);
  now = 30_000;
  monitor.advance();
  assert.equal(windowPsi(monitor.inputs[0], 1), undefined);
  assert.deepEqual(Array.from(monitor.inputs[0].totals), [2, 6], 'the counters keep everything');
});

test('a sample rate counts that share of requests, chosen at the start', async () => {
  const draws = [0.1, 0.7, 0.3, 0.9];
  const monitor = new DriftMonitor(baseline, signature, { windowSeconds: 10, minRows: 1, sampleRate: 0.5 }, () => 0, () => draws.shift()!);
  for (let i = 0; i < 4; i++) {
    const r = request([0.5]);
    const rKept = monitor.started(r);
    monitor.finished(r, classOne(1), undefined, 0, rKept);
  }
  await nextTurn();
  assert.equal(monitor.rows, 2);
});

test('the rows-per-second budget counts at most that many rows a second, leaves the rest uncounted and refills with time', async () => {
  let now = 0;
  const monitor = new DriftMonitor(baseline, signature, { windowSeconds: 10, minRows: 1, sampleRate: 1, maxRowsPerSecond: 100 }, () => now);
  const send = (requests: number) => {
    for (let i = 0; i < requests; i++) {
      const r = request(new Array(10).fill(0.5));
      monitor.finished(r, classOne(10), undefined, 0, monitor.started(r));
    }
  };
  send(30);
  await nextTurn();
  assert.equal(monitor.rows, 100, 'a second\'s budget at once');
  assert.equal(monitor.skippedRows, 200);
  now += 500;
  send(30);
  await nextTurn();
  assert.equal(monitor.rows, 150, 'half a second refills half of it');
  now += 60_000;
  send(30);
  await nextTurn();
  assert.equal(monitor.rows, 250, 'a long quiet spell refills one second\'s worth, no more');
  const unlimited = new DriftMonitor(baseline, signature, { windowSeconds: 10, minRows: 1, sampleRate: 1, maxRowsPerSecond: 0 }, () => 0);
  for (let i = 0; i < 30; i++) {
    const r = request(new Array(10).fill(0.5));
    unlimited.finished(r, classOne(10), undefined, 0, unlimited.started(r));
  }
  await nextTurn();
  assert.equal(unlimited.rows, 300, '0: every row');
});

test('rows past the pending bound are dropped and counted, never held', () => {
  const monitor = new DriftMonitor(baseline, signature, { windowSeconds: 10, minRows: 1, sampleRate: 1 }, () => 0);
  const big = request(new Array(MAX_PENDING_ROWS + 1).fill(0));
  const bigKept = monitor.started(big);
  monitor.finished(big, classOne(MAX_PENDING_ROWS + 1), undefined, 0, bigKept);
  assert.equal(monitor.droppedRows, MAX_PENDING_ROWS + 1);
});

test('the prediction queue drops past its record bound; a failing sink is counted and backed off', async () => {
  const calls: number[] = [];
  let fail = true;
  const sink = {
    async send(records: PredictionRecord[]) {
      calls.push(records.length);
      return fail ? records.length : 0;
    },
  };
  const logger = new PredictionLogger('m', '1', { sampleRate: 1, inputElements: 1, queueSize: 2, queueBytes: 1 << 20 }, sink);
  const predict = () => {
    const r = request([0.25, 0.5]);
    const rKept = logger.started(r);
    logger.finished(r, classOne(2), undefined, 0, rKept);
  };
  predict(); // handed to the sink at once, which fails it
  await nextTurn();
  predict();
  predict();
  predict(); // the sink is backed off: two wait, the third finds the queue full
  assert.equal(logger.dropped.queue_full, 1);
  assert.equal(logger.dropped.sink_error, 1);
  assert.equal(calls.length, 1, 'no call while backing off');
  fail = false;
  await logger.flush(5_000);
  assert.deepEqual(calls, [1, 2]);
  assert.equal(logger.sent, 2);
});

test('the prediction log keeps at most maxPerSecond records a second, the rest dropped as budget, and refills with time', async () => {
  let now = 0;
  const records: PredictionRecord[] = [];
  const sink = { async send(batch: PredictionRecord[]) { records.push(...batch); return 0; } };
  const logger = new PredictionLogger('m', '1', { sampleRate: 1, maxPerSecond: 3, inputElements: 1, queueSize: 100, queueBytes: 1 << 20 }, sink, Math.random, () => now);
  const predict = (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = request([0.5]);
      logger.finished(r, classOne(1), undefined, 0, logger.started(r));
    }
  };
  predict(10);
  now += 1000;
  predict(10);
  await logger.flush(5_000);
  assert.equal(records.length, 6);
  assert.equal(logger.dropped.budget, 14);
});

test('sampling, input truncation and left-out inputs', () => {
  const records: PredictionRecord[] = [];
  const sink = { async send(batch: PredictionRecord[]) { records.push(...batch); return 0; } };
  const never = new PredictionLogger('m', '1', { sampleRate: 0, inputElements: 10, queueSize: 10, queueBytes: 1 << 20 }, sink);
  const r1 = request([1, 2, 3]);
  const r1Kept = never.started(r1);
  never.finished(r1, classOne(3), undefined, 0, r1Kept);
  assert.equal(never.queuedRecords + records.length, 0);

  const cut = new PredictionLogger('m', '1', { sampleRate: 1, inputElements: 2, queueSize: 10, queueBytes: 1 << 20 }, sink);
  const r2 = { ...request([1, 2, 3]), id: 'req-7' };
  const r2Kept = cut.started(r2);
  cut.finished(r2, classOne(3), undefined, 0, r2Kept);
  const left = new PredictionLogger('m', '1', { sampleRate: 1, inputElements: 0, queueSize: 10, queueBytes: 1 << 20 }, sink);
  const r3 = request([1]);
  const r3Kept = left.started(r3);
  left.finished(r3, classOne(1), undefined, 0, r3Kept);
  assert.equal(records[0].id, 'req-7');
  assert.deepEqual(records[0].inputs[0].data, [1, 2]);
  assert.deepEqual(records[0].inputs[0].parameters, { modelship_truncated_from: 3 });
  assert.equal(records[0].outputs[0].data.length, 6);
  assert.deepEqual(records[1].inputs, []);
  assert.match(records[1].id, /^[0-9a-f-]{36}$/);
});

test('the queue counts a BYTES record by its strings, so large strings meet the byte bound', () => {
  // Room for one record of a 300 KB string (600 KB as JS strings), not two; the sink never answers.
  const hanging = { send: () => new Promise<number>(() => undefined) };
  const logger = new PredictionLogger('m', '1', { sampleRate: 1, inputElements: 10, queueSize: 10, queueBytes: 1 << 20 }, hanging);
  const big = (): InferenceRequest => ({
    parameters: {}, inputs: [{ name: 's', datatype: 'BYTES', shape: [1, 1], data: ['x'.repeat(300_000)] }],
    outputs: [{ name: 'p', binary: false }], rows: 1, priority: 0, timeoutUs: 0, batchKey: '1',
  });
  for (let i = 0; i < 3; i++) {
    const r = big();
    const rKept = logger.started(r);
    logger.finished(r, classOne(1), undefined, 0, rKept);
  }
  // The first went to the (hanging) sink, the second waits, the third does not fit the bytes left.
  assert.equal(logger.queuedRecords, 1);
  assert.equal(logger.dropped.queue_full, 1);
});
