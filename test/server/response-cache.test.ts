// The in-process response cache on the real server with a real model: rows of a batched request are looked
// up one by one and only the rows never seen are computed; answers come back in row order and equal the
// model's; TTL expiry and the byte bound evict; equal values sent as JSON or binary share an entry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import { assertClose } from '../support/assertions.ts';

const infer = (server: ServerProcess, rows: number[][], extra: Record<string, unknown> = {}) =>
  postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, MLP.features], data: rows }], ...extra });

/** Rows the model computed so far, and the cache's hits and misses. */
async function counts(server: ServerProcess) {
  return {
    computed: await metricValue(server.url, 'modelship_inference_rows_total'),
    hits: await metricValue(server.url, 'modelship_cache_hits_total'),
    misses: await metricValue(server.url, 'modelship_cache_misses_total'),
  };
}

function assertAnswers(body: any, rows: number[][]) {
  assert.deepEqual(body.outputs[0].shape, [rows.length, MLP.classes]);
  assertClose(body.outputs[0].data, rows.flatMap((row) => MLP.reference(row)), 'rows out of order or wrong');
}

describe('in-process response cache', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp(), '--cache', 'memory', '--instances', '1', '--intra-op-threads', '1']);
  });
  after(() => server.stop());

  test('a batch of four rows with two cached answers runs only two rows through the model, in row order', async () => {
    const [a, b, c, d] = randomRows(4, MLP.features, 501);
    assert.equal((await infer(server, [a, c])).status, 200);
    const before = await counts(server);
    const res = await infer(server, [a, b, c, d]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertAnswers(res.body, [a, b, c, d]);
    const now = await counts(server);
    assert.equal(now.computed - before.computed, 2, 'only the two unseen rows are computed');
    assert.equal(now.hits - before.hits, 2);
    assert.equal(now.misses - before.misses, 2);
  });

  test('a request whose every row is cached is answered without the model', async () => {
    const rows = randomRows(3, MLP.features, 502);
    const first = await infer(server, rows);
    const before = await counts(server);
    const again = await infer(server, [rows[2], rows[0], rows[1]]);
    assert.equal(again.status, 200);
    assertAnswers(again.body, [rows[2], rows[0], rows[1]]);
    const now = await counts(server);
    assert.equal(now.computed, before.computed, 'no row computed');
    assert.equal(now.hits - before.hits, 3);
    assert.deepEqual(again.body.outputs[0].data.slice(MLP.classes, 2 * MLP.classes), first.body.outputs[0].data.slice(0, MLP.classes));
  });

  test('the same values as nested JSON, flat JSON with other spellings, and binary share one entry', async () => {
    const [row] = randomRows(1, MLP.features, 503);
    const rounded = Array.from(new Float32Array(row));
    assert.equal((await infer(server, [rounded])).status, 200);
    const before = await counts(server);
    // Flat data, and numbers written with an exponent: equal FP32 values, so equal keys.
    const flat = await postJson(`${server.url}/v2/models/mlp/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: JSON.parse(`[${rounded.map((v) => v.toExponential(12)).join(',')}]`) }],
    });
    assert.equal(flat.status, 200);
    const { body, headers } = encodeBinaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: new Float32Array(row) }] });
    const binary = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers, body });
    assert.equal(binary.status, 200);
    await binary.arrayBuffer();
    const now = await counts(server);
    assert.equal(now.hits - before.hits, 2, 'both spellings were hits');
    assert.equal(now.computed, before.computed);
  });

  test('a request for fewer outputs, or another order of them, is keyed apart from one for all', async () => {
    const multi = await startServer(['--model', modelPath.multi(), '--cache', 'memory']);
    try {
      const request = (outputs?: string[]) => postJson(`${multi.url}/v2/models/multi/infer`, {
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
          { name: 'ids', datatype: 'INT64', shape: [1, 3], data: [5, 6, 7] },
        ],
        ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
      });
      const all = await request();
      assert.equal(all.status, 200, JSON.stringify(all.body));
      const names: string[] = all.body.outputs.map((o: any) => o.name);
      const one = await request([names[0]]);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.outputs.map((o: any) => o.name), [names[0]], 'only the requested output');
      const reversed = await request([...names].reverse());
      assert.deepEqual(reversed.body.outputs.map((o: any) => o.name), [...names].reverse());
      assert.equal(await metricValue(multi.url, 'modelship_cache_hits_total'), 1, 'the reversed list hit the entry of all outputs');
      assert.equal(await metricValue(multi.url, 'modelship_cache_misses_total'), 2);
    } finally {
      await multi.stop();
    }
  });

  test('a cached request with a priority outside the levels is still refused', async () => {
    const rows = randomRows(1, MLP.features, 504);
    assert.equal((await infer(server, rows)).status, 200);
    const res = await infer(server, rows, { parameters: { priority: 99 } });
    assert.equal(res.status, 400);
    assert.match(res.body.error, /priority/);
  });
});

describe('in-process cache bounds', () => {
  test('answers expire after the TTL and are computed again', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--cache', 'memory', '--cache-ttl-seconds', '0.2']);
    try {
      const rows = randomRows(2, MLP.features, 601);
      await infer(server, rows);
      await infer(server, rows);
      assert.equal(await metricValue(server.url, 'modelship_cache_hits_total'), 2);
      await new Promise((r) => setTimeout(r, 400));
      const before = await counts(server);
      const res = await infer(server, rows);
      assertAnswers(res.body, rows);
      const now = await counts(server);
      assert.equal(now.hits, before.hits, 'no hit after the TTL');
      assert.equal(now.computed - before.computed, 2);
      assert.equal(await metricValue(server.url, 'modelship_cache_evictions_total', { reason: 'expired' }), 2);
    } finally {
      await server.stop();
    }
  });

  test('the byte bound evicts the least recently used answers and is never exceeded', async () => {
    const maxBytes = 2048;
    const server = await startServer(['--model', modelPath.mlp(), '--cache', 'memory', '--cache-max-bytes', String(maxBytes), '--cache-max-entry-bytes', '512']);
    try {
      const rows = randomRows(40, MLP.features, 602);
      for (const row of rows) {
        assert.equal((await infer(server, [row])).status, 200);
        assert.ok(await metricValue(server.url, 'modelship_cache_bytes') <= maxBytes);
      }
      const evicted = await metricValue(server.url, 'modelship_cache_evictions_total', { reason: 'size' });
      assert.ok(evicted >= 30, `only ${evicted} of 40 answers evicted under a ${maxBytes}-byte bound`);
      // The last row is still there, the first long gone.
      const before = await counts(server);
      await infer(server, [rows[39]]);
      await infer(server, [rows[0]]);
      const now = await counts(server);
      assert.equal(now.hits - before.hits, 1);
      assert.equal(now.computed - before.computed, 1);
    } finally {
      await server.stop();
    }
  });

  test('an answer larger than the entry bound is computed every time', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--cache', 'memory', '--cache-max-entry-bytes', '64']);
    try {
      const rows = randomRows(1, MLP.features, 603);
      await infer(server, rows);
      const res = await infer(server, rows);
      assertAnswers(res.body, rows);
      assert.equal(await metricValue(server.url, 'modelship_cache_hits_total'), 0);
      assert.equal(await metricValue(server.url, 'modelship_inference_rows_total'), 2);
    } finally {
      await server.stop();
    }
  });
});
