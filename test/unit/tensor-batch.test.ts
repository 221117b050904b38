// Concatenation of requests into a batch and the exact split of outputs back, for numbers and strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBatch, splitBatch } from '../../server-image/src/batching/tensor-batch.ts';
import type { Tensor } from '../../server-image/src/protocol/datatypes.ts';

const t = (name: string, shape: number[], data: Tensor['data'], datatype: Tensor['datatype'] = 'FP32'): Tensor => ({ name, datatype, shape, data });

test('concatenates every input along the batch dimension, in request order', () => {
  const batch = concatBatch([
    [t('a', [1, 2], new Float32Array([1, 2])), t('s', [1, 1], ['x'], 'BYTES')],
    [t('a', [2, 2], new Float32Array([3, 4, 5, 6])), t('s', [2, 1], ['y', 'z'], 'BYTES')],
  ]);
  assert.deepEqual(batch[0].shape, [3, 2]);
  assert.deepEqual(Array.from(batch[0].data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(batch[1], t('s', [3, 1], ['x', 'y', 'z'], 'BYTES'));
});

test('a single request is passed through without copying', () => {
  const inputs = [t('a', [1, 2], new Float32Array([1, 2]))];
  assert.equal(concatBatch([inputs]), inputs);
});

test('splits outputs back by the rows each request contributed', () => {
  const parts = splitBatch([t('y', [3, 2], new BigInt64Array([1n, 2n, 3n, 4n, 5n, 6n]), 'INT64'), t('w', [3], ['p', 'q', 'r'], 'BYTES')], [1, 2]);
  assert.deepEqual(parts[0].get('y')!.shape, [1, 2]);
  assert.deepEqual(Array.from(parts[0].get('y')!.data as BigInt64Array), [1n, 2n]);
  assert.deepEqual(Array.from(parts[1].get('y')!.data as BigInt64Array), [3n, 4n, 5n, 6n]);
  assert.deepEqual(parts[1].get('w')!.data, ['q', 'r']);
});

test('an output without the batch rows is a server error, not a silent mix-up', () => {
  assert.throws(() => splitBatch([t('y', [2, 2], new Float32Array(4))], [1, 2]), /model output 'y' has 2 rows for a batch of 3/);
});
