// The tensor codec on plain data: every size is checked before the work it costs, nothing recurses on
// client data, and messages quote client values only in short excerpts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_CODEC_LIMITS, TensorCodecError, checkedElementCount, decodeBinaryStrings, decodeBinaryTensor,
  decodeJsonTensor, encodeBinaryStrings, flattenJsonData, parseShape, type CodecLimits,
} from '../../server-image/src/protocol/tensor-codec.ts';
import { quoteValue } from '../../server-image/src/excerpt.ts';

const limits: CodecLimits = { maxElements: 1000, maxBytesElements: 10, maxRank: 4 };

function bytesElements(...strings: string[]): Buffer {
  return Buffer.concat(strings.flatMap((s) => {
    const bytes = Buffer.from(s, 'utf8');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(bytes.length);
    return [prefix, bytes];
  }));
}

test('nested JSON data 200,000 levels deep is refused as a codec error, not a stack overflow', () => {
  let deep: unknown = [];
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.throws(() => decodeJsonTensor({ datatype: 'FP32', shape: [1, 1] }, deep, limits), (error: unknown) =>
    error instanceof TensorCodecError && /element 0 \(an array of 1 elements\) is not a number for FP32/.test(error.message));
  assert.throws(() => parseShape(Array(200_000).fill(1), limits), /'shape' has rank 200000, over the limit of 4/);
});

test('nested JSON data is flattened row-major when it matches the shape, and refused where it does not', () => {
  assert.deepEqual(flattenJsonData([[1, 2, 3], [4, 5, 6]], [2, 3]), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(flattenJsonData([[[1], [2]], [[3], [4]]], [2, 2, 1]), [1, 2, 3, 4]);
  assert.deepEqual(flattenJsonData([1, 2, 3, 4], [2, 2]), [1, 2, 3, 4], 'flat data is taken as it is');
  assert.throws(() => flattenJsonData([[1, 2], [3]], [2, 2]), /nested 'data' does not match shape \[2,2\] at depth 1/);
  assert.throws(() => flattenJsonData([[1, 2]], [2, 2]), /at depth 0/);
  assert.throws(() => flattenJsonData('x'.repeat(10_000), [1]), /'data' must be an array, got "x{120}"… \(10000 characters\)/);
});

test('JSON elements are checked against the datatype and copied into its typed array', () => {
  assert.deepEqual(decodeJsonTensor({ datatype: 'INT32', shape: [2] }, [7, -3], limits), new Int32Array([7, -3]));
  assert.deepEqual(decodeJsonTensor({ datatype: 'BOOL', shape: [2] }, [true, false], limits), new Uint8Array([1, 0]));
  assert.deepEqual(decodeJsonTensor({ datatype: 'INT64', shape: [1] }, [5], limits), new BigInt64Array([5n]));
  assert.deepEqual(decodeJsonTensor({ datatype: 'BYTES', shape: [2] }, ['a', 'b'], limits), ['a', 'b']);
  assert.throws(() => decodeJsonTensor({ datatype: 'UINT8', shape: [1] }, [256], limits), /element 0 \(256\) is out of range \[0, 255\] for UINT8/);
  assert.throws(() => decodeJsonTensor({ datatype: 'FP32', shape: [1] }, [1e39], limits), /is not a finite number in range for FP32/);
  assert.throws(() => decodeJsonTensor({ datatype: 'FP32', shape: [3] }, [1, 2], limits), /shape \[3\] needs 3 elements but 'data' has 2/);
  assert.throws(() => decodeJsonTensor({ datatype: 'BYTES', shape: [1] }, ['a\0b'], limits, { noNul: true }), /contains a NUL byte/);
});

test('a bad 20 MB string comes back as a short excerpt with its length', () => {
  const huge = 'x'.repeat(20_000_000);
  let message = '';
  try {
    decodeJsonTensor({ datatype: 'FP32', shape: [1] }, [huge], limits);
  } catch (error) {
    message = (error as Error).message;
  }
  assert.match(message, /element 0 \("x{120}"… \(20000000 characters\)\) is not a number for FP32/);
  assert.ok(message.length < 200, `message of ${message.length} characters`);
  assert.equal(quoteValue({ a: 1 }), 'an object');
  assert.equal(quoteValue('short'), '"short"');
});

test('element counts are checked from the shape before any element is read, without overflowing', () => {
  assert.equal(checkedElementCount({ datatype: 'FP32', shape: [10, 100] }, limits), 1000);
  assert.equal(checkedElementCount({ datatype: 'FP32', shape: [1e15, 0] }, limits), 0);
  assert.throws(() => checkedElementCount({ datatype: 'FP32', shape: [1e15, 1e15] }, limits), /shape \[1000000000000000,1000000000000000\] has more than the limit of 1000 elements/);
  assert.throws(() => checkedElementCount({ datatype: 'BYTES', shape: [11] }, limits), /more than the limit of 10 BYTES elements/);
  // A huge JSON array against a small shape is refused by its length, not walked.
  assert.throws(() => decodeJsonTensor({ datatype: 'FP32', shape: [2000] }, [], limits), /more than the limit of 1000 elements/);
});

test('binary numbers must be exactly count x element size bytes: a 3-byte FP32 tensor is a codec error', () => {
  assert.throws(() => decodeBinaryTensor({ datatype: 'FP32', shape: [1] }, new Uint8Array(3), limits),
    (error: unknown) => error instanceof TensorCodecError && /binary_data_size 3 does not match 1 FP32 elements \(4 bytes\)/.test(error.message));
  // An unaligned region (offset 1 in its buffer) is copied into an aligned array.
  const region = new Uint8Array(9).subarray(1);
  new DataView(region.buffer, 1).setFloat32(0, 1.5, true);
  new DataView(region.buffer, 1).setFloat32(4, -2, true);
  assert.deepEqual(decodeBinaryTensor({ datatype: 'FP32', shape: [2] }, region, limits), new Float32Array([1.5, -2]));
  const nan = new Uint8Array(new Float32Array([NaN]).buffer);
  assert.ok(Number.isNaN((decodeBinaryTensor({ datatype: 'FP32', shape: [1] }, nan, limits) as Float32Array)[0]), 'NaN passes unless finite is asked for');
  assert.throws(() => decodeBinaryTensor({ datatype: 'FP32', shape: [1] }, nan, limits, { finite: true }), /element 0 is NaN/);
});

test('binary BYTES are read element by element with count and length checks', () => {
  assert.deepEqual(decodeBinaryStrings(bytesElements('ab', '', 'ü'), 3), ['ab', '', 'ü']);
  assert.throws(() => decodeBinaryStrings(bytesElements('a', 'b'), 3), /binary data holds 2 BYTES elements, the shape needs 3/);
  assert.throws(() => decodeBinaryStrings(bytesElements('a', 'b', 'c'), 2), /more than the 2 BYTES elements the shape needs \(5 bytes left over\)/);
  assert.throws(() => decodeBinaryStrings(Buffer.from([1, 0]), 1), /truncated BYTES length prefix at byte 0/);
  const lying = Buffer.alloc(6);
  lying.writeUInt32LE(1000);
  assert.throws(() => decodeBinaryStrings(lying, 1), /BYTES element 0 claims 1000 bytes, only 2 remain/);
  assert.throws(() => decodeBinaryStrings(Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from([0xff])]), 1), /BYTES element 0 is not valid UTF-8/);
  // 8 million empty strings against a shape past the limit: refused from the shape, before reading one.
  const eightMillion = Buffer.alloc(8_000_000 * 4);
  assert.throws(() => decodeBinaryTensor({ datatype: 'BYTES', shape: [8_000_000] }, eightMillion, DEFAULT_CODEC_LIMITS), /more than the limit of 1048576 BYTES elements/);
});

test('the codec decodes answers too: outputs from JSON and from the binary extension agree', () => {
  const head = { datatype: 'FP16' as const, shape: [1, 2] };
  const fromJson = decodeJsonTensor(head, [[0.5, -1]], limits) as Uint16Array;
  const fromBinary = decodeBinaryTensor(head, new Uint8Array(new Float16Array([0.5, -1]).buffer), limits) as Uint16Array;
  assert.deepEqual(fromJson, fromBinary);
});

test('BYTES elements encode to length-prefixed UTF-8 and decode back, multi-byte characters and empty strings included', () => {
  const strings = ['', 'ab', 'ü€😀', 'c'];
  const bytes = encodeBinaryStrings(strings);
  assert.equal(bytes.length, 4 * 4 + 0 + 2 + (2 + 3 + 4) + 1);
  assert.equal(bytes.readUInt32LE(4), 2, 'the second prefix is the second string\'s length');
  assert.deepEqual(decodeBinaryStrings(bytes, strings.length), strings);
});
