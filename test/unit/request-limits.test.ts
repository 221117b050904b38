// The limits an infer request is held to, on plain data: their defaults, and that every one is checked
// before the work it would cost (shapes and the batch before any element is read).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeInferBody, decodeInferRequest, type DecodeLimits } from '../../server-image/src/protocol/request.ts';
import { InferenceError } from '../../server-image/src/protocol/errors.ts';
import { httpStatus } from '../../server-image/src/http/error-status.ts';
import { requestLimits } from '../../server-image/src/serving/request-limits.ts';
import { SERVE_OPTIONS } from '../../contract/settings/serve-options.ts';
import type { ModelSignature } from '../../server-image/src/model/signature.ts';

const signature: ModelSignature = {
  inputs: [{ name: 'a', datatype: 'FP32', shape: [-1, 4] }, { name: 'b', datatype: 'BYTES', shape: [-1, 1] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
  batchable: true,
};
const limits: DecodeLimits = { maxBatchSize: 8, maxParameters: 3, tensors: { maxElements: 40, maxBytesElements: 16, maxRank: 3 } };
const a = (rows: number, data: unknown = Array(rows * 4).fill(0)) => ({ name: 'a', datatype: 'FP32', shape: [rows, 4], data });
const b = (rows: number, data: unknown = Array(rows).fill('s')) => ({ name: 'b', datatype: 'BYTES', shape: [rows, 1], data });

function refusal(body: unknown): string {
  try {
    decodeInferRequest(body, undefined, signature, limits);
  } catch (error) {
    assert.ok(error instanceof InferenceError);
    assert.equal(httpStatus(error), 400);
    return error.message;
  }
  assert.fail('the request was accepted');
}

test('the batch size is checked before any element is read', () => {
  // Nine rows of garbage: the answer is about the batch, not element 0.
  assert.equal(refusal({ inputs: [a(9, 'garbage'), b(9, 'garbage')] }), "input 'a': batch of 9 rows exceeds the model's max_batch_size of 8");
});

test('every input shape is checked against the element limits before any input is decoded', () => {
  assert.equal(refusal({ inputs: [a(1, 'garbage'), b(17)] }), "input 'b': shape [17,1] has more than the limit of 16 BYTES elements");
  assert.equal(refusal({ inputs: [{ ...a(1), shape: [1, 4, 1, 1] }, b(1)] }), "input 'a': 'shape' has rank 4, over the limit of 3");
});

test('parameters objects are held to the key limit: the request, each input and each output', () => {
  const many = { p1: 1, p2: 2, p3: 3, p4: 4 };
  assert.equal(refusal({ parameters: many, inputs: [a(1), b(1)] }), "'parameters' has more than the limit of 3 keys");
  assert.equal(refusal({ inputs: [{ ...a(1), parameters: many }, b(1)] }), "input 'a': 'parameters' has more than the limit of 3 keys");
  assert.equal(refusal({ inputs: [a(1), b(1)], outputs: [{ name: 'y', parameters: many }] }), "output 'y': 'parameters' has more than the limit of 3 keys");
  assert.equal(decodeInferRequest({ parameters: { p1: 1, p2: 2, p3: 3 }, inputs: [a(1), b(1)] }, undefined, signature, limits).rows, 1);
});

test('a whole body that cannot be decoded is a 400 however it fails', () => {
  for (const body of ['{"inputs": [', '\u0000\u0001', '[]', 'null']) {
    assert.throws(() => decodeInferBody(Buffer.from(body), undefined, signature, limits), (error: unknown) => httpStatus(error) === 400);
  }
});

test('the byte budget defaults to half the container memory limit, 512 MiB when none is known, or the setting', () => {
  const defaults = Object.fromEntries(Object.entries(SERVE_OPTIONS).map(([k, v]) => [k, (v as { default?: unknown }).default])) as Parameters<typeof requestLimits>[0];
  assert.equal(requestLimits(defaults, 2 * 1024 ** 3).maxInflightBytes, 1024 ** 3);
  assert.equal(requestLimits(defaults, undefined).maxInflightBytes, 512 * 1024 ** 2);
  assert.equal(requestLimits({ ...defaults, maxInflightBytes: 1000 }, 2 * 1024 ** 3).maxInflightBytes, 1000);
  assert.deepEqual(requestLimits(defaults, undefined).decode, {
    tensors: { maxElements: 16 * 1024 * 1024, maxBytesElements: 1024 * 1024, maxRank: 32 },
    maxParameters: 128,
    allowNonFinite: false,
  });
});
