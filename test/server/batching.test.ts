// Dynamic batching on the real server: concurrent requests share batches and each gets exactly its own
// result; priorities, queue timeouts, the queue bound and client disconnects behave as specified; the
// event loop keeps answering while batches compute.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, getJson, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, SLOW, randomRows } from '../models/zoo.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import { assertClose } from '../support/assertions.ts';
import { waitFor as poll } from '../support/eventually.ts';

const waitFor = (what: string, condition: () => Promise<boolean>) => poll(what, condition, { timeoutMs: 20_000, intervalMs: 5 });

describe('batching concurrent requests', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp(), '--instances', '1', '--intra-op-threads', '1']);
  });
  after(() => server.stop());

  test('requests of 1 to 4 rows share batches and each gets exactly its own rows back', async () => {
    const requests = Array.from({ length: 120 }, (_, i) => randomRows(1 + (i % 4), MLP.features, 1000 + i));
    const results = await Promise.all(requests.map((rows, i) => postJson(`${server.url}/v2/models/mlp/infer`, {
      id: `r${i}`,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, 16], data: rows }],
    })));
    results.forEach((res, i) => {
      assert.equal(res.status, 200);
      assert.equal(res.body.id, `r${i}`);
      assert.deepEqual(res.body.outputs[0].shape, [requests[i].length, 4]);
      const expected = requests[i].flatMap((row) => MLP.reference(row));
      assertClose(res.body.outputs[0].data, expected, `request ${i} (did it get another request's rows?)`);
    });
    const batches = await metricValue(server.url, 'modelship_batch_size_count');
    const rows = await metricValue(server.url, 'modelship_batch_size_sum');
    assert.equal(rows, requests.reduce((n, r) => n + r.length, 0));
    assert.ok(batches < requests.length, `${requests.length} requests ran in ${batches} batches: no batching happened`);
  });
});

describe('requests of different non-batch shapes', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.varlen(), '--instances', '1']);
  });
  after(() => server.stop());

  test('are batched only with their own kind and all come back right', async () => {
    const lengths = Array.from({ length: 60 }, (_, i) => 1 + (i % 3));
    const results = await Promise.all(lengths.map((length, i) => postJson(`${server.url}/v2/models/varlen/infer`, {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, length], data: Array.from({ length }, (_, k) => i + k) }],
    })));
    results.forEach((res, i) => {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.outputs[0].data, Array.from({ length: lengths[i] }, (_, k) => 3 * (i + k)));
    });
  });
});

describe('queue policy on a busy server', () => {
  let server: ServerProcess;
  let infer: string;
  // A batch of 128 rows of the slow model (about 26 G multiply-adds) keeps the single one-thread worker busy
  // for about half a second, long enough to arrange the queue behind it.
  const BLOCKER_ROWS = 128;
  const blockerRows = randomRows(BLOCKER_ROWS, SLOW.features, 5);
  const blocker = async (id: string, priority?: number) => {
    const { body, headers } = encodeBinaryRequest({
      id,
      ...(priority ? { parameters: { priority } } : {}),
      inputs: [{ name: 'input', datatype: 'FP32', shape: [BLOCKER_ROWS, SLOW.features], data: new Float32Array(blockerRows.flat()) }],
    });
    const res = await fetch(infer, { method: 'POST', headers, body });
    await res.arrayBuffer();
    return { status: res.status };
  };
  const small = (parameters: Record<string, unknown> = {}, signal?: AbortSignal) => postJson(infer, {
    parameters,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, SLOW.features], data: blockerRows[0] }],
  }, signal);
  const queueDepth = () => metricValue(server.url, 'modelship_queue_depth');
  const idle = () => waitFor('an idle server', async () => (await metricValue(server.url, 'modelship_inflight_requests')) === 0);

  before(async () => {
    server = await startServer([
      '--model', modelPath.slow(), '--instances', '1', '--intra-op-threads', '1', '--max-batch-size', String(BLOCKER_ROWS), '--max-queue-size', '6',
    ]);
    infer = `${server.url}/v2/models/slow/infer`;
  });
  after(() => server.stop());

  test('higher priority levels are served first, FIFO within a level', async () => {
    await idle();
    const order: string[] = [];
    const track = (p: Promise<unknown>, id: string) => p.then(() => order.push(id));
    const running = track(blocker('running'), 'running');
    await waitFor('the first blocker to run', async () => (await queueDepth()) === 0 && (await metricValue(server.url, 'modelship_inflight_requests')) === 1);
    const queued = [track(blocker('default-1'), 'default-1'), track(blocker('default-2'), 'default-2')];
    await waitFor('two queued', async () => (await queueDepth()) === 2);
    const low = track(blocker('low', 3), 'low');
    await waitFor('three queued', async () => (await queueDepth()) === 3);
    const high = track(blocker('high', 1), 'high');
    await waitFor('four queued', async () => (await queueDepth()) === 4);
    assert.equal(order.length, 0, 'the queue was arranged while the first blocker still ran');
    await Promise.all([running, ...queued, low, high]);
    assert.deepEqual(order, ['running', 'high', 'default-1', 'default-2', 'low']);
  });

  test('a request whose queue timeout passes gets 503 and is never computed', async () => {
    await idle();
    const rowsBefore = await metricValue(server.url, 'modelship_inference_rows_total');
    const running = blocker('running');
    await waitFor('the blocker to run', async () => (await metricValue(server.url, 'modelship_inflight_requests')) === 1 && (await queueDepth()) === 0);
    const timedOut = await small({ timeout: 1000 }); // microseconds, as in Triton
    assert.equal(timedOut.status, 503);
    assert.match(timedOut.body.error, /request timed out after 1 ms in the queue/);
    assert.equal((await running).status, 200);
    assert.equal(await metricValue(server.url, 'modelship_inference_rows_total') - rowsBefore, BLOCKER_ROWS);
    assert.equal(await metricValue(server.url, 'modelship_inference_requests_total', { outcome: 'timeout' }), 1);
  });

  test('a full queue answers 503 at once instead of growing', async () => {
    await idle();
    const running = blocker('running');
    await waitFor('the blocker to run', async () => (await metricValue(server.url, 'modelship_inflight_requests')) === 1 && (await queueDepth()) === 0);
    const queued = Array.from({ length: 6 }, () => small());
    await waitFor('a full queue', async () => (await queueDepth()) === 6);
    const rejected = await small();
    assert.equal(rejected.status, 503);
    assert.match(rejected.body.error, /inference queue is full \(max_queue_size 6\)/);
    for (const res of await Promise.all([running, ...queued])) assert.equal(res.status, 200);
    assert.equal(await metricValue(server.url, 'modelship_inference_requests_total', { outcome: 'rejected' }), 1);
  });

  test('a request whose client went away is dropped from the queue before it is computed', async () => {
    await idle();
    const rowsBefore = await metricValue(server.url, 'modelship_inference_rows_total');
    const running = blocker('running');
    await waitFor('the blocker to run', async () => (await metricValue(server.url, 'modelship_inflight_requests')) === 1 && (await queueDepth()) === 0);
    const controller = new AbortController();
    const abandoned = small({}, controller.signal).catch((error: Error) => error);
    await waitFor('the request to queue', async () => (await queueDepth()) === 1);
    controller.abort();
    assert.equal((await abandoned as Error).name, 'AbortError');
    await waitFor('the queue to empty', async () => (await queueDepth()) === 0);
    assert.equal((await running).status, 200);
    await idle();
    assert.equal(await metricValue(server.url, 'modelship_inference_requests_total', { outcome: 'cancelled' }), 1);
    assert.equal(await metricValue(server.url, 'modelship_inference_rows_total') - rowsBefore, BLOCKER_ROWS, 'only the blocker was computed');
  });

  test('health and metrics answer while batches compute', async () => {
    await idle();
    let lastInferDone = 0;
    const work = Array.from({ length: 5 }, (_, i) => blocker(`w${i}`).then(() => (lastInferDone = performance.now())));
    await waitFor('work to queue', async () => (await queueDepth()) >= 3);
    const live = await getJson(`${server.url}/v2/health/live`);
    const liveAt = performance.now();
    const depth = await queueDepth();
    assert.equal(live.status, 200);
    assert.ok(depth >= 1, 'batches were still waiting when health answered');
    await Promise.all(work);
    assert.ok(liveAt < lastInferDone, 'health answered before the queued batches finished');
  });
});
