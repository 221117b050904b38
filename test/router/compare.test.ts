// The router's pure parts: comparing two answers (JSON and binary, every failure a result), picking a
// version by weight ranges, and the sticky hash's spread and stability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareResponses, decodeInferResponse } from '../../server-image/src/router/compare.ts';
import { cumulativeBounds, defaultVersion, pickAt, stickyPoint } from '../../server-image/src/router/pick.ts';
import { encodeInferResponse } from '../../server-image/src/protocol/response.ts';
import type { Tensor } from '../../server-image/src/protocol/datatypes.ts';

/** An answer as the model server encodes it, with every output binary or every output JSON. */
function answer(tensors: Tensor[], binary: boolean) {
  const encoded = encodeInferResponse({ modelName: 'm', modelVersion: '1', requested: tensors.map((t) => ({ name: t.name, binary })) }, new Map(tensors.map((t) => [t.name, t])));
  return { body: encoded.body, headerLength: encoded.headers['inference-header-content-length'] };
}
const fp32 = (name: string, shape: number[], values: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: new Float32Array(values) });

test('JSON and binary answers decode to the same numbers', () => {
  const tensors: Tensor[] = [fp32('p', [2, 3], [0.5, -1, 2, 3, 0, 1]), { name: 'ids', datatype: 'INT64', shape: [2], data: new BigInt64Array([7n, -9n]) }, { name: 'h', datatype: 'FP16', shape: [1], data: new Uint16Array([0x3c00]) }];
  for (const binary of [false, true]) {
    const decoded = decodeInferResponse(answer(tensors, binary).body, answer(tensors, binary).headerLength);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.outputs.map((o) => [o.name, [...o.values!]]), [['p', [0.5, -1, 2, 3, 0, 1]], ['ids', [7, -9]], ['h', [1]]]);
  }
});

test('differences: largest absolute and relative, and top-1 agreement per row of a classifier output', () => {
  const primary = answer([fp32('p', [3, 3], [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4])], false);
  const shadow = answer([fp32('p', [3, 3], [0.6, 0.3, 0.1, 0.1, 0.4, 0.5, 0.3, 0.3, 0.4])], true);
  const c = compareResponses(primary, shadow);
  assert.equal(c.result, 'compared');
  if (c.result !== 'compared') return;
  assert.ok(Math.abs(c.maxAbsDiff - 0.4) < 1e-6, String(c.maxAbsDiff));
  assert.ok(Math.abs(c.maxRelDiff - 0.8) < 1e-6, String(c.maxRelDiff)); // (0.5 - 0.1) / 0.5
  assert.equal(c.top1Rows, 3);
  assert.equal(c.top1Agreements, 2);
});

test('outputs that are not classifier-like give no top-1 rows; NaN on one side is an infinite difference', () => {
  const c = compareResponses(answer([fp32('y', [4], [1, 2, 3, 4])], false), answer([fp32('y', [4], [1, 2, 3, NaN])], false));
  // JSON cannot carry NaN: the server writes null, which decodes as NaN again; binary carries it.
  const b = compareResponses(answer([fp32('y', [2, 1], [1, 2])], true), answer([fp32('y', [2, 1], [1, NaN])], true));
  assert.ok(c.result === 'compared' && c.maxAbsDiff === Infinity);
  assert.ok(b.result === 'compared' && b.maxAbsDiff === Infinity && b.top1Rows === 0);
});

test('different output names or shapes are a mismatch; an undecodable shadow body is invalid, an undecodable primary skipped; each with the reason', () => {
  const base = answer([fp32('p', [1, 2], [1, 2])], false);
  const renamed = compareResponses(base, answer([fp32('q', [1, 2], [1, 2])], false));
  assert.deepEqual(renamed, { result: 'mismatch', reason: 'outputs differ: [p] vs [q]' });
  const reshaped = compareResponses(base, answer([fp32('p', [2, 1], [1, 2])], false));
  assert.deepEqual(reshaped, { result: 'mismatch', reason: "output 'p': shape [1,2] vs [2,1]" });
  assert.equal(compareResponses(base, { body: Buffer.from('{"outputs": ['), headerLength: undefined }).result, 'invalid');
  const lying = compareResponses(base, { body: Buffer.from('{"outputs":[{"name":"p","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":800}}]}'), headerLength: undefined });
  assert.deepEqual(lying, { result: 'invalid', reason: "shadow response: output 'p': binary_data_size 800 exceeds the body" });
  assert.equal(compareResponses({ body: Buffer.from('[]'), headerLength: undefined }, base).result, 'skipped', 'an undecodable primary says nothing of the shadow');
});

test('weights are consecutive ranges in listed order; weight 0 gets nothing', () => {
  const versions = [{ name: 'c', url: 'http://c', weight: 20 }, { name: 'z', url: 'http://z', weight: 0 }, { name: 's', url: 'http://s', weight: 80 }];
  const bounds = cumulativeBounds(versions);
  assert.deepEqual(bounds, [0.2, 0.2, 1]);
  assert.equal(pickAt(versions, bounds, 0)?.name, 'c');
  assert.equal(pickAt(versions, bounds, 0.1999)?.name, 'c');
  assert.equal(pickAt(versions, bounds, 0.2)?.name, 's');
  assert.equal(pickAt(versions, bounds, 0.99999)?.name, 's');
  assert.equal(defaultVersion({ versions })?.name, 's');
  assert.equal(defaultVersion({ versions: [{ name: 'a', url: 'http://a', weight: 50 }, { name: 'b', url: 'http://b', weight: 50 }] })?.name, 'a');
  assert.equal(pickAt([], [], 0.5), undefined);
});

test('sticky points are stable, in [0, 1), and spread evenly even for values that differ in one character', () => {
  assert.equal(stickyPoint('user-42'), stickyPoint('user-42'));
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const p = stickyPoint(`user-${i}`);
    assert.ok(p >= 0 && p < 1);
    buckets[Math.floor(p * 10)]++;
  }
  // 1000 expected per tenth; 4 standard deviations of a binomial(10000, 0.1) is 120.
  for (const count of buckets) assert.ok(Math.abs(count - 1000) <= 120, `tenths: ${buckets}`);
});
