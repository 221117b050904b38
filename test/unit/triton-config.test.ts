// Triton's model configuration as rendered for a served model: batching knobs, dims without the batch
// dimension, and the instance group for CPU and for a GPU (which our machines cannot run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServedModel } from '../../server-image/src/serving/served-model.ts';
import { ServerMetrics } from '../../server-image/src/observability/metrics.ts';
import type { WorkerPool } from '../../server-image/src/runtime/worker-pool.ts';
import type { ModelSignature } from '../../server-image/src/model/signature.ts';

const signature: ModelSignature = {
  inputs: [{ name: 'tokens', datatype: 'INT64', shape: [-1, 128] }],
  outputs: [{ name: 'scores', datatype: 'FP16', shape: [-1, 2] }],
  batchable: true,
};
// Only the signature of the pool is read when rendering; nothing runs.
const pool = { signature } as unknown as WorkerPool;
const batching = { maxBatchSize: 16, maxQueueDelayMs: 0.5, maxQueueSize: 10, defaultTimeoutMs: 250, priorityLevels: 3, defaultPriorityLevel: 2 };

test('a GPU model renders KIND_GPU on its device, with the batching policy in Triton units', () => {
  const model = new ServedModel({ name: 'm', version: '2', pool, batching, metrics: new ServerMetrics('m', '2'), instances: { count: 2, gpu: 1 } });
  const config = model.tritonConfig() as Record<string, any>;
  assert.deepEqual(config.instance_group, [{ name: 'm', kind: 'KIND_GPU', count: 2, gpus: [1] }]);
  assert.deepEqual(config.input, [{ name: 'tokens', data_type: 'TYPE_INT64', dims: [128] }]);
  assert.deepEqual(config.output, [{ name: 'scores', data_type: 'TYPE_FP16', dims: [2] }]);
  assert.equal(config.max_batch_size, 16);
  assert.equal(config.dynamic_batching.max_queue_delay_microseconds, 500);
  assert.equal(config.dynamic_batching.default_queue_policy.default_timeout_microseconds, 250000);
});

test('a model without a batch dimension renders max_batch_size 0 and its full dims', () => {
  const fixed = { signature: { ...signature, batchable: false, inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3] }] } } as unknown as WorkerPool;
  const model = new ServedModel({ name: 'f', version: '1', pool: fixed, batching, metrics: new ServerMetrics('f', '1'), instances: { count: 1 } });
  const config = model.tritonConfig() as Record<string, any>;
  assert.equal(config.max_batch_size, 0);
  assert.equal(config.dynamic_batching, undefined);
  assert.deepEqual(config.input[0].dims, [2, 3]);
});
