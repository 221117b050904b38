// The Open Inference Protocol surface of the real server: metadata, health, Triton config and stats, and
// inference results checked against references computed in the test, with JSON and binary tensors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, getJson, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { encodeBinaryRequest, decodeBinaryResponse, typedFrom } from '../support/binary-protocol.ts';
import { assertClose } from '../support/assertions.ts';

describe('MLP classifier over the protocol', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp(), '--version', '3']);
  });
  after(() => server.stop());

  test('server metadata and health', async () => {
    const meta = await getJson(`${server.url}/v2`);
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'modelship-server');
    assert.ok(meta.body.extensions.includes('binary_tensor_data'));
    assert.equal((await getJson(`${server.url}/v2/health/live`)).status, 200);
    assert.equal((await getJson(`${server.url}/v2/health/ready`)).status, 200);
    assert.equal((await getJson(`${server.url}/v2/models/mlp/ready`)).status, 200);
    assert.equal((await getJson(`${server.url}/v2/models/mlp/versions/3/ready`)).status, 200);
  });

  test('model metadata reports the batch dimension as -1', async () => {
    const { status, body } = await getJson(`${server.url}/v2/models/mlp/versions/3`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      name: 'mlp',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 4] }],
    });
  });

  test('Triton model configuration', async () => {
    const { status, body } = await getJson(`${server.url}/v2/models/mlp/config`);
    assert.equal(status, 200);
    assert.equal(body.max_batch_size, 64);
    assert.deepEqual(body.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [16] }]);
    assert.deepEqual(body.output, [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [4] }]);
    assert.equal(body.dynamic_batching.priority_levels, 3);
    assert.equal(body.dynamic_batching.default_queue_policy.max_queue_size, 1024);
    assert.deepEqual(body.instance_group, [{ name: 'mlp', kind: 'KIND_CPU', count: 1 }]);
  });

  test('unknown model and version get 404 in the error shape', async () => {
    const a = await getJson(`${server.url}/v2/models/nope`);
    assert.equal(a.status, 404);
    assert.match(a.body.error, /unknown model 'nope'/);
    const b = await postJson(`${server.url}/v2/models/mlp/versions/9/infer`, { inputs: [] });
    assert.equal(b.status, 404);
    assert.match(b.body.error, /unknown version '9' of model 'mlp'/);
    const c = await getJson(`${server.url}/v2/nothing/here`);
    assert.equal(c.status, 404);
    assert.ok(typeof c.body.error === 'string');
  });

  test('JSON inference matches the reference, flat and nested data, id echoed', async () => {
    const rows = randomRows(3, MLP.features, 7);
    const flat = await postJson(`${server.url}/v2/models/mlp/infer`, {
      id: 'req-42',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 16], data: rows.flat() }],
    });
    assert.equal(flat.status, 200);
    assert.equal(flat.body.id, 'req-42');
    assert.equal(flat.body.model_name, 'mlp');
    assert.equal(flat.body.model_version, '3');
    const [out] = flat.body.outputs;
    assert.deepEqual([out.name, out.datatype, out.shape], ['probabilities', 'FP32', [3, 4]]);
    assertClose(out.data, rows.flatMap((r) => MLP.reference(r)));

    const nested = await postJson(`${server.url}/v2/models/mlp/versions/3/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 16], data: rows }],
    });
    assert.equal(nested.status, 200);
    assert.equal(nested.body.id, undefined);
    assert.deepEqual(nested.body.outputs[0].data, out.data);
  });

  test('binary tensor data in and out matches the JSON answer', async () => {
    const rows = randomRows(2, MLP.features, 11);
    const { body, headers } = encodeBinaryRequest({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16], data: new Float32Array(rows.flat()) }],
      outputs: [{ name: 'probabilities', binary: true }],
    });
    const res = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const decoded = decodeBinaryResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('inference-header-content-length'));
    const out = decoded.outputs[0];
    assert.equal(out.parameters.binary_data_size, 2 * 4 * 4);
    assertClose(typedFrom(Float32Array, out.bytes), rows.flatMap((r) => MLP.reference(r)));
  });

  test('binary_data_output returns every output binary; JSON inputs may mix with it', async () => {
    const rows = randomRows(1, MLP.features, 12);
    const res = await fetch(`${server.url}/v2/models/mlp/infer`, {
      method: 'POST',
      body: JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: rows[0] }] }),
    });
    assert.equal(res.status, 200);
    const decoded = decodeBinaryResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('inference-header-content-length'));
    assertClose(typedFrom(Float32Array, decoded.outputs[0].bytes), MLP.reference(rows[0]));
  });

  test('Prometheus metrics carry model and version labels, histograms and process metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const series of [
      'modelship_inference_requests_total{outcome="success",model="mlp",version="3"}',
      // Outcomes that never happened are there at 0, so Prometheus' increase() sees the first one.
      'modelship_inference_requests_total{outcome="error",model="mlp",version="3"} 0',
      'modelship_queue_depth{model="mlp",version="3"} 0',
      'modelship_inflight_requests{model="mlp",version="3"} 0',
      'modelship_model_ready{model="mlp",version="3"} 1',
      'modelship_request_duration_seconds_bucket{le="0.005",model="mlp",version="3"}',
      'modelship_queue_duration_seconds_bucket{le="0.001",model="mlp",version="3",priority="2"}',
      'modelship_compute_duration_seconds_bucket{le="+Inf",model="mlp",version="3"}',
      'modelship_batch_size_bucket{le="4",model="mlp",version="3"}',
      'process_resident_memory_bytes{model="mlp",version="3"}',
      'nodejs_eventloop_lag_seconds{model="mlp",version="3"}',
    ]) {
      assert.ok(text.includes(series), `missing ${series}`);
    }
  });

  test('successful requests are not logged one line each', () => {
    const messages = server.logs.map((l) => l.message);
    assert.deepEqual(messages, ['listening', 'model ready']);
  });

  test('stats count inferences in Triton statistics shape', async () => {
    const { body } = await getJson(`${server.url}/v2/models/mlp/stats`);
    const [stats] = body.model_stats;
    assert.equal(stats.name, 'mlp');
    assert.ok(stats.inference_count >= 6, `inference_count ${stats.inference_count}`);
    assert.ok(stats.execution_count >= 3);
    assert.ok(stats.inference_stats.success.count >= 3);
    assert.ok(stats.inference_stats.compute_infer.ns > 0);
    assert.ok(stats.batch_stats.length >= 1);
  });
});

describe("Triton's statistics extension, field for field", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp()]);
  });
  after(() => server.stop());

  const infer = (rows: number) => postJson(`${server.url}/v2/models/mlp/infer`, {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, MLP.features], data: randomRows(rows, MLP.features, rows).flat() }],
  });

  test('per request: success, queue and the three compute phases count every success alike; per execution: batch_stats; failures apart', async () => {
    // 1 + 2 + ... + 8 rows in 8 requests, concurrent so that some share a batch; and one refused request.
    const sizes = [1, 2, 3, 4, 5, 6, 7, 8];
    const answers = await Promise.all(sizes.map(infer));
    assert.deepEqual(answers.map((a) => a.status), sizes.map(() => 200));
    const refused = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    assert.equal(refused.status, 400);

    const { status, body } = await getJson(`${server.url}/v2/models/mlp/versions/1/stats`);
    assert.equal(status, 200);
    const [stats] = body.model_stats;
    assert.deepEqual(Object.keys(stats), ['name', 'version', 'last_inference', 'inference_count', 'execution_count', 'inference_stats', 'batch_stats']);
    assert.equal(stats.name, 'mlp');
    assert.equal(stats.version, '1');
    assert.ok(Math.abs(stats.last_inference - Date.now()) < 60_000, 'last_inference is milliseconds since the epoch');
    const s = stats.inference_stats;
    // perf_analyzer refuses statistics whose compute counts differ; Triton counts each phase once per successful request.
    for (const phase of ['success', 'queue', 'compute_input', 'compute_infer', 'compute_output']) {
      assert.equal(s[phase].count, sizes.length, `${phase}.count`);
      assert.ok(Number.isInteger(s[phase].ns) && s[phase].ns >= 0, `${phase}.ns`);
    }
    for (const phase of ['compute_input', 'compute_infer', 'compute_output']) assert.ok(s[phase].ns > 0, `${phase}.ns`);
    // Each request's phases lie within its own time, so they sum to no more than the successes took.
    assert.ok(s.queue.ns + s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns <= s.success.ns, JSON.stringify(s));
    assert.equal(s.fail.count, 1);
    assert.ok(s.fail.ns > 0);

    const total = sizes.reduce((a, b) => a + b, 0);
    assert.equal(stats.inference_count, total, 'inference_count counts rows');
    assert.ok(stats.execution_count >= 1 && stats.execution_count <= sizes.length);
    const perSize = stats.batch_stats as Array<Record<string, any>>;
    assert.deepEqual(perSize.map((b) => b.batch_size), [...perSize.map((b) => b.batch_size)].sort((a, b) => a - b));
    for (const b of perSize) {
      assert.deepEqual(Object.keys(b), ['batch_size', 'compute_input', 'compute_infer', 'compute_output']);
      assert.equal(b.compute_input.count, b.compute_infer.count);
      assert.equal(b.compute_output.count, b.compute_infer.count);
    }
    assert.equal(perSize.reduce((n, b) => n + b.compute_infer.count, 0), stats.execution_count);
    assert.equal(perSize.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0), total);

    // The same numbers as /metrics.
    const metric = (name: string, labels: Record<string, string> = {}) => metricValue(server.url, name, labels);
    assert.equal(await metric('modelship_inference_requests_total', { outcome: 'success' }), s.success.count);
    assert.equal(await metric('modelship_inference_requests_total', { outcome: 'bad_request' }), s.fail.count);
    assert.equal(await metric('modelship_inference_rows_total'), stats.inference_count);
    assert.equal(await metric('modelship_batch_size_count'), stats.execution_count);
    assertClose([await metric('modelship_request_duration_seconds_sum')], [s.success.ns / 1e9], 'success seconds', 1e-6);
    const inferSeconds = perSize.reduce((n, b) => n + b.compute_infer.ns, 0) / 1e9;
    assertClose([await metric('modelship_compute_duration_seconds_sum')], [inferSeconds], 'compute seconds', 1e-6);
  });

  test('the model-wide, per-version and all-models routes answer the same statistics; another model or version is 404', async () => {
    const paths = ['/v2/models/stats', '/v2/models/mlp/stats', '/v2/models/mlp/versions/1/stats'];
    const bodies = await Promise.all(paths.map(async (p) => (await getJson(`${server.url}${p}`)).body));
    assert.deepEqual(bodies[1], bodies[0]);
    assert.deepEqual(bodies[2], bodies[0]);
    assert.equal((await getJson(`${server.url}/v2/models/mlp/versions/2/stats`)).status, 404);
    assert.equal((await getJson(`${server.url}/v2/models/other/stats`)).status, 404);
  });
});

describe('model with several inputs and outputs of different datatypes', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.multi()]);
  });
  after(() => server.stop());

  const request = (outputs?: unknown) => ({
    inputs: [
      { name: 'ids', datatype: 'INT64', shape: [2, 3], data: [1, 2, 3, -4, 5, 9007199254740991] },
      { name: 'features', datatype: 'FP32', shape: [2, 4], data: [0.5, 1, 1.5, 2, -1, -2, -3, -4] },
    ],
    ...(outputs ? { outputs } : {}),
  });

  test('computes every output exactly, inputs in any order', async () => {
    const { status, body } = await postJson(`${server.url}/v2/models/multi/infer`, request());
    assert.equal(status, 200);
    const byName = Object.fromEntries(body.outputs.map((o: any) => [o.name, o]));
    assert.deepEqual(byName.scaled, { name: 'scaled', datatype: 'FP32', shape: [2, 4], data: [2, 3, 4, 5, -1, -3, -5, -7] });
    assert.deepEqual(byName.shifted, { name: 'shifted', datatype: 'INT64', shape: [2, 3], data: [11, 12, 13, 6, 15, 9007199254741001] });
    assert.deepEqual(byName.total, { name: 'total', datatype: 'FP32', shape: [2, 1], data: [5, -10] });
  });

  test('outputs filtering returns only what was asked, in the asked order', async () => {
    const { status, body } = await postJson(`${server.url}/v2/models/multi/infer`, request([{ name: 'total' }, { name: 'shifted' }]));
    assert.equal(status, 200);
    assert.deepEqual(body.outputs.map((o: any) => o.name), ['total', 'shifted']);
  });

  test('the fixed non-batch dimension is enforced', async () => {
    const bad = request();
    bad.inputs[1] = { name: 'features', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };
    const { status, body } = await postJson(`${server.url}/v2/models/multi/infer`, bad);
    assert.equal(status, 400);
    assert.match(body.error, /input 'features': shape \[2,3\] does not match the model's \[-1,4\] at dimension 1/);
  });
});

describe('a model without a batch dimension', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.fixed()]);
  });
  after(() => server.stop());

  test('reports max_batch_size 0 and serves its fixed shape', async () => {
    const config = await getJson(`${server.url}/v2/models/fixed/config`);
    assert.equal(config.body.max_batch_size, 0);
    assert.equal(config.body.dynamic_batching, undefined);
    assert.deepEqual(config.body.input[0].dims, [2, 3]);
    const { status, body } = await postJson(`${server.url}/v2/models/fixed/infer`, {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [0, 1, 2, 3, 4, 5] }],
    });
    assert.equal(status, 200);
    assert.deepEqual(body.outputs[0].data, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
  });
});
