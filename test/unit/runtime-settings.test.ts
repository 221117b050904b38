// Rendering of ONNX Runtime session settings, the CUDA path included (it cannot run on our machines, so
// what it would hand to ORT is checked here), and the warm-up plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionOptions, warmupBatchSizes } from '../../server-image/src/runtime/session-options.ts';
import { defaultIntraOpThreads } from '../../server-image/src/server.ts';

test('CPU sessions use the CPU provider with the given threads', () => {
  const o = sessionOptions({ executionProvider: 'cpu', deviceId: 0, intraOpThreads: 3, intraOpSpinning: false });
  assert.deepEqual(o.executionProviders, ['cpu']);
  assert.deepEqual(o.extra, { session: { intra_op: { allow_spinning: '0' } } });
  assert.equal(o.intraOpNumThreads, 3);
  assert.equal(o.interOpNumThreads, 1);
  assert.equal(o.graphOptimizationLevel, 'all');
});

test('CUDA sessions put the CUDA provider on the requested device first, CPU as fallback for unsupported ops', () => {
  const o = sessionOptions({ executionProvider: 'cuda', deviceId: 2, intraOpThreads: 0, intraOpSpinning: true });
  assert.deepEqual(o.executionProviders, [{ name: 'cuda', deviceId: 2 }, 'cpu']);
  assert.equal('intraOpNumThreads' in o, false, '0 leaves the choice to ORT');
  assert.deepEqual(o.extra, { session: { intra_op: { allow_spinning: '1' } } });
});

test('warm-up covers powers of two up to the max batch size, and the max itself', () => {
  assert.deepEqual(warmupBatchSizes(64), [1, 2, 4, 8, 16, 32, 64]);
  assert.deepEqual(warmupBatchSizes(48), [1, 2, 4, 8, 16, 32, 48]);
  assert.deepEqual(warmupBatchSizes(1), [1]);
  assert.deepEqual(warmupBatchSizes(0), [1]);
});

test('threads default to the cores but one shared among the instances, at least one each', () => {
  assert.equal(defaultIntraOpThreads(1, 8), 7);
  assert.equal(defaultIntraOpThreads(3, 8), 2);
  assert.equal(defaultIntraOpThreads(1, 2), 1);
  assert.equal(defaultIntraOpThreads(4, 2), 1);
});
