// The response cache's pure parts on plain data: the in-process store's TTL and byte bound, row keys
// (canonical over how the client wrote the values, apart for anything that can change the answer), the
// stored form of an answer (anything but an intact answer for its own key reads as a miss), and the
// assembly of a batched answer from cached and computed rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ENTRY_OVERHEAD_BYTES, MemoryStore } from '../../server-image/src/cache/memory.ts';
import { rowKeys, type CacheIdentity } from '../../server-image/src/cache/row-keys.ts';
import { decodeRow, encodeRow, type RowExpectation } from '../../server-image/src/cache/row-codec.ts';
import { ResponseCache } from '../../server-image/src/cache/response-cache.ts';
import { FailureBackoff, reconnectDelayMs } from '../../server-image/src/cache/redis.ts';
import { CacheStoreError, type CacheStore } from '../../server-image/src/cache/store.ts';
import { CacheMetrics } from '../../server-image/src/cache/metrics.ts';
import { decodeInferBody, decodeInferRequest, type DecodeLimits, type InferenceRequest } from '../../server-image/src/protocol/request.ts';
import type { Tensor } from '../../server-image/src/protocol/datatypes.ts';
import type { ModelSignature } from '../../server-image/src/model/signature.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import client from 'prom-client';

function recorder() {
  const events = { evicted: { size: 0, expired: 0 }, errors: [] as string[] };
  return {
    events,
    sink: {
      error: (kind: string) => void events.errors.push(kind),
      evicted: (reason: 'size' | 'expired', count: number) => void (events.evicted[reason] += count),
    },
  };
}

const value = (bytes: number, fill = 1) => Buffer.alloc(bytes, fill);

describe('in-process store', () => {
  test('an answer is served until its TTL and is gone after it', () => {
    let now = 1000;
    const { events, sink } = recorder();
    const store = new MemoryStore({ maxBytes: 10_000, ttlMs: 500, now: () => now }, sink);
    store.set('k', value(10));
    now = 1499;
    assert.deepEqual(store.get('k'), value(10));
    now = 1500;
    assert.equal(store.get('k'), undefined);
    assert.equal(events.evicted.expired, 1);
    assert.equal(store.bytes, 0);
  });

  test('past the byte bound the least recently used answers go first, and a read counts as a use', () => {
    const entry = 1 + 100 + ENTRY_OVERHEAD_BYTES;
    const { events, sink } = recorder();
    const store = new MemoryStore({ maxBytes: 3 * entry, ttlMs: 60_000, now: () => 0 }, sink);
    store.set('a', value(100));
    store.set('b', value(100));
    store.set('c', value(100));
    store.get('a');
    store.set('d', value(100));
    assert.equal(store.get('b'), undefined, 'b was the least recently used');
    assert.ok(store.get('a') && store.get('c') && store.get('d'));
    assert.equal(events.evicted.size, 1);
    assert.equal(store.bytes, 3 * entry);
  });

  test('bytes are counted per entry with keys and overhead, a replaced key counted once, and an entry over the bound not kept', () => {
    const { sink } = recorder();
    const store = new MemoryStore({ maxBytes: 1000, ttlMs: 60_000, now: () => 0 }, sink);
    store.set('key', value(10));
    store.set('key', value(20));
    assert.equal(store.bytes, 3 + 20 + ENTRY_OVERHEAD_BYTES);
    store.set('big', value(1000));
    assert.equal(store.get('big'), undefined);
    assert.equal(store.size, 1, 'the entry that could never fit evicted nothing');
  });

  test('many tiny answers cannot exceed the bound', () => {
    const { sink } = recorder();
    const store = new MemoryStore({ maxBytes: 10_000, ttlMs: 60_000, now: () => 0 }, sink);
    for (let i = 0; i < 5000; i++) store.set(`k${i}`, value(1));
    assert.ok(store.bytes <= 10_000);
    assert.ok(store.size < 100);
  });
});

const signature: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }, { name: 's', datatype: 'BYTES', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }, { name: 'z', datatype: 'INT64', shape: [-1, 1] }],
  batchable: true,
};
const limits: DecodeLimits = { maxBatchSize: 64, maxParameters: 16, tensors: { maxElements: 1 << 20, maxBytesElements: 1 << 16, maxRank: 8 } };
const identity: CacheIdentity = { name: 'm', version: '1', sha256: 'a'.repeat(64) };
const decode = (body: unknown) => decodeInferRequest(body, undefined, signature, limits);
const request = (x: unknown, s: unknown, rows: number, extra: Record<string, unknown> = {}) => decode({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, 3], data: x }, { name: 's', datatype: 'BYTES', shape: [rows, 2], data: s }],
  ...extra,
});

describe('row keys', () => {
  test('nested or flat JSON, other spellings of the same numbers, and binary tensors give the same key', () => {
    const nested = rowKeys(identity, request([[0.5, 1, -2]], [['a', 'b']], 1), true).keys;
    const flat = rowKeys(identity, request([5e-1, 1.0, -2e0], ['a', 'b'], 1), true).keys;
    const { body, headers } = encodeBinaryRequest({ inputs: [
      { name: 'x', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.5, 1, -2]) },
      { name: 's', datatype: 'BYTES', shape: [1, 2], data: ['a', 'b'] },
    ] });
    const binary = rowKeys(identity, decodeInferBody(body, headers['inference-header-content-length'], signature, limits), true).keys;
    assert.deepEqual(flat, nested);
    assert.deepEqual(binary, nested);
  });

  test('a row of a batch has the key it has when sent alone', () => {
    const batch = rowKeys(identity, request([1, 2, 3, 4, 5, 6], ['a', 'b', 'c', 'd'], 2), true).keys;
    const second = rowKeys(identity, request([4, 5, 6], ['c', 'd'], 1), true).keys;
    assert.equal(batch.length, 2);
    assert.notEqual(batch[0], batch[1]);
    assert.equal(batch[1], second[0]);
  });

  test('another model name, version, file, requested outputs or input bytes never share a key', () => {
    const base = request([1, 2, 3], ['ab', 'c'], 1);
    const key = (id: CacheIdentity, req: InferenceRequest = base) => rowKeys(id, req, true).keys[0];
    const keys = [
      key(identity),
      key({ ...identity, name: 'other' }),
      key({ ...identity, version: '2' }),
      key({ ...identity, sha256: 'b'.repeat(64) }),
      key(identity, request([1, 2, 3], ['ab', 'c'], 1, { outputs: [{ name: 'y' }] })),
      key(identity, request([1, 2, 3], ['a', 'bc'], 1)),
      key(identity, request([1, 2, 3.0000002], ['ab', 'c'], 1)),
    ];
    assert.equal(new Set(keys).size, keys.length);
  });

  test('parameters that change only scheduling and encoding, and the order outputs are listed in, leave the key alone', () => {
    const plain = rowKeys(identity, request([1, 2, 3], ['a', 'b'], 1), true).keys;
    const scheduled = rowKeys(identity, request([1, 2, 3], ['a', 'b'], 1, {
      parameters: { priority: 1, timeout: 5000, binary_data_output: true },
      outputs: [{ name: 'z' }, { name: 'y' }],
    }), true).keys;
    assert.deepEqual(scheduled, plain);
  });
});

const rowAnswer = (y: number[], z: bigint): Tensor[] => [
  { name: 'y', datatype: 'FP32', shape: [1, 2], data: new Float32Array(y) },
  { name: 'z', datatype: 'INT64', shape: [1, 1], data: new BigInt64Array([z]) },
];

describe('stored answers', () => {
  const digest = Buffer.alloc(32, 7);
  const expected: RowExpectation = { digest, outputs: [{ name: 'y', datatype: 'FP32' }, { name: 'z', datatype: 'INT64' }], batchable: true };

  test('an answer reads back exactly, for its own key only', () => {
    const stored = encodeRow(digest, rowAnswer([0.25, -1], 9n));
    assert.deepEqual(decodeRow(stored, expected), rowAnswer([0.25, -1], 9n));
    assert.equal(decodeRow(stored, { ...expected, digest: Buffer.alloc(32, 8) }), undefined);
  });

  test('every truncation, every changed byte, and values of another shape are misses', () => {
    const stored = encodeRow(digest, rowAnswer([0.25, -1], 9n));
    for (let length = 0; length < stored.length; length++) {
      assert.equal(decodeRow(stored.subarray(0, length), expected), undefined, `truncated to ${length} bytes`);
    }
    for (let i = 0; i < stored.length; i++) {
      const flipped = Buffer.from(stored);
      flipped[i] ^= 0x10;
      assert.equal(decodeRow(flipped, expected), undefined, `byte ${i} changed`);
    }
    assert.equal(decodeRow(Buffer.concat([stored, Buffer.from([0])]), expected), undefined, 'a byte too many');
    assert.equal(decodeRow(Buffer.from('OK'), expected), undefined);
    assert.equal(decodeRow(encodeRow(digest, rowAnswer([1, 2], 3n).slice(0, 1)), expected), undefined, 'an output missing');
    const twoRows: Tensor[] = [{ name: 'y', datatype: 'FP32', shape: [2, 1], data: new Float32Array([1, 2]) }, rowAnswer([1, 2], 3n)[1]];
    assert.equal(decodeRow(encodeRow(digest, twoRows), expected), undefined, 'not one row');
    const otherType: Tensor[] = [{ name: 'y', datatype: 'FP64', shape: [1, 2], data: new Float64Array([1, 2]) }, rowAnswer([1, 2], 3n)[1]];
    assert.equal(decodeRow(encodeRow(digest, otherType), expected), undefined, 'another datatype');
  });
});

/** A store that answers from a map, or fails as told. */
class MapStore implements CacheStore {
  readonly values = new Map<string, Buffer>();
  failing = false;
  getMany(keys: readonly string[]) {
    if (this.failing) return Promise.reject(new CacheStoreError('timeout', 'too slow'));
    return Promise.resolve(keys.map((k) => this.values.get(k)));
  }
  setMany(entries: ReadonlyArray<readonly [string, Buffer]>) {
    for (const [k, v] of entries) this.values.set(k, v);
  }
  close() {
    return Promise.resolve();
  }
}

/** The model of the tests: y = [sum of x, first x], z = number of strings that are 'a'. */
function model(req: InferenceRequest): Map<string, Tensor> {
  const x = req.inputs[0].data as Float32Array;
  const s = req.inputs[1].data as string[];
  const y = new Float32Array(2 * req.rows);
  const z = new BigInt64Array(req.rows);
  for (let r = 0; r < req.rows; r++) {
    y[2 * r] = x[3 * r] + x[3 * r + 1] + x[3 * r + 2];
    y[2 * r + 1] = x[3 * r];
    z[r] = BigInt(s.slice(2 * r, 2 * r + 2).filter((v) => v === 'a').length);
  }
  return new Map([['y', { name: 'y', datatype: 'FP32', shape: [req.rows, 2], data: y }], ['z', { name: 'z', datatype: 'INT64', shape: [req.rows, 1], data: z }]]);
}

describe('answering a batch partly from the cache', () => {
  const setup = () => {
    const store = new MapStore();
    const cache = new ResponseCache(store, { identity, maxEntryBytes: 4096 }, new CacheMetrics(new client.Registry()));
    const computed: number[] = [];
    const compute = (req: InferenceRequest) => {
      computed.push(req.rows);
      return Promise.resolve(model(req));
    };
    return { store, cache, computed, compute };
  };

  test('a batch of four rows with two cached answers runs only those two rows, and the answer is in row order', async () => {
    const { cache, computed, compute } = setup();
    await cache.infer(signature, request([1, 1, 1, 3, 3, 3], ['a', 'a', 'b', 'b'], 2), compute);
    const batch = request([2, 2, 2, 1, 1, 1, 4, 4, 4, 3, 3, 3], ['a', 'b', 'a', 'a', 'b', 'a', 'b', 'b'], 4);
    const answer = await cache.infer(signature, batch, compute);
    assert.deepEqual(computed, [2, 2], 'the second request computed two rows');
    assert.deepEqual(answer, model(batch));
  });

  test('a store that fails answers every row from the model', async () => {
    const { store, cache, computed, compute } = setup();
    const batch = request([1, 1, 1, 2, 2, 2], ['a', 'b', 'b', 'b'], 2);
    await cache.infer(signature, batch, compute);
    store.failing = true;
    assert.deepEqual(await cache.infer(signature, batch, compute), model(batch));
    assert.deepEqual(computed, [2, 2]);
  });
});

describe('Redis backoff', () => {
  test('lookups stop after a failure for a time that doubles up to 5 s, and resume on success', () => {
    const backoff = new FailureBackoff();
    assert.ok(backoff.open(0));
    backoff.failed(0);
    assert.ok(!backoff.open(99) && backoff.open(100));
    backoff.failed(100);
    assert.ok(!backoff.open(299) && backoff.open(300));
    for (let i = 0; i < 20; i++) backoff.failed(1000);
    assert.ok(!backoff.open(5999) && backoff.open(6000));
    backoff.succeeded();
    assert.ok(backoff.open(1000));
  });

  test('reconnection delays grow from 100 ms to at most 5 s plus jitter', () => {
    assert.equal(reconnectDelayMs(0, 0), 100);
    assert.equal(reconnectDelayMs(3, 0), 800);
    assert.equal(reconnectDelayMs(50, 0.999), 5099);
  });
});
