// The server's lifecycle as a kubelet sees it: live but not ready while the model downloads and loads;
// ready once warmed; on SIGTERM not ready, new connections refused, requests on open connections answered
// with Connection: close (no request cut under keep-alive load), every admitted request finished, exit 0.
// A model that cannot be loaded, or settings that make no sense, end the process with a clear error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServer, getJson, postJson, runServerCli, metricValue } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { MLP, SLOW, randomRows } from '../models/zoo.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import { assertClose } from '../support/assertions.ts';
import { waitFor } from '../support/eventually.ts';
import { keepAliveLoad } from '../support/keep-alive-load.ts';
import { client } from '../router/router-process.ts';

const mlpRequest = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: randomRows(1, 16, 3)[0] }] };

/** Serves the MLP file over HTTP, holding the response until `release()` is called. */
async function heldModelServer(): Promise<{ url: string; release(): void; server: Server }> {
  const bytes = readFileSync(modelPath.mlp());
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = createServer(async (_req, res) => {
    await released;
    res.end(bytes);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/mlp.onnx`, release, server };
}

describe('loading a model over HTTP', () => {
  test('the server is live but not ready until the download finishes, then serves it', async () => {
    const origin = await heldModelServer();
    const sha = createHash('sha256').update(readFileSync(modelPath.mlp())).digest('hex');
    const server = await startServer(['--model', origin.url, '--sha256', sha, '--model-cache-dir', join(modelDir, 'cache')], { waitReady: false });
    try {
      assert.equal((await getJson(`${server.url}/v2/health/live`)).status, 200);
      const ready = await getJson(`${server.url}/v2/health/ready`);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body, { ready: false });
      const early = await postJson(`${server.url}/v2/models/mlp/infer`, mlpRequest);
      assert.equal(early.status, 503);
      assert.match(early.body.error, /model 'mlp' is loading/);
      assert.equal((await getJson(`${server.url}/v2/models/mlp`)).status, 503);
      assert.equal(await metricValue(server.url, 'modelship_model_ready'), 0);

      origin.release();
      await server.ready();
      const res = await postJson(`${server.url}/v2/models/mlp/infer`, mlpRequest);
      assert.equal(res.status, 200);
      assertClose(res.body.outputs[0].data, MLP.reference(mlpRequest.inputs[0].data));
      assert.equal(await metricValue(server.url, 'modelship_model_ready'), 1);
    } finally {
      await server.stop();
      origin.server.close();
    }
  });
});

describe('refusing to start', () => {
  test('a SHA-256 mismatch refuses to load the model and exits non-zero', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--sha256', 'a'.repeat(64)], { waitReady: false });
    assert.equal(await server.exited, 1);
    const error = server.logs.find((l) => l.message === 'cannot load model');
    assert.match(String(error?.error), /SHA-256 mismatch, expected a{64} but the file has [0-9a-f]{64}/);
  });

  test('a file that is not an ONNX model is a clear error and a non-zero exit', async () => {
    const junk = join(modelDir, 'junk.onnx');
    writeFileSync(junk, 'this is not a model');
    const server = await startServer(['--model', junk], { waitReady: false });
    assert.equal(await server.exited, 1);
    assert.match(String(server.logs.find((l) => l.message === 'cannot load model')?.error), /cannot load model/);
  });

  test('a missing file names the path', async () => {
    const server = await startServer(['--model', '/nonexistent/model.onnx'], { waitReady: false });
    assert.equal(await server.exited, 1);
    assert.match(String(server.logs.find((l) => l.message === 'cannot load model')?.error), /model \/nonexistent\/model.onnx cannot be read: ENOENT/);
  });

  test('bad settings name the flag, the variable or the config key', async () => {
    const flag = await runServerCli(['serve', '--model', 'x.onnx', '--max-batch-size', 'lots']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--max-batch-size: must be integer/);

    const env = await runServerCli(['serve', '--model', 'x.onnx'], { MODELSHIP_EXECUTION_PROVIDER: 'tpu' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /MODELSHIP_EXECUTION_PROVIDER: must be equal to one of the allowed values/);

    const file = join(modelDir, 'serve.yaml');
    writeFileSync(file, 'model: x.onnx\nmaxBatchSzie: 8\nport: 99999\n');
    const yaml = await runServerCli(['serve', '--config', file]);
    assert.equal(yaml.code, 2);
    assert.match(yaml.stderr, /config file .*serve.yaml: maxBatchSzie: unknown setting/);
    assert.match(yaml.stderr, /config file .*serve.yaml: port: must be <= 65535/);

    const missing = await runServerCli(['serve']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--model \(or MODELSHIP_MODEL, or 'model' in the config file\) is required/);

    const unknown = await runServerCli(['serve', '--model', 'x.onnx', '--batch', '3']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown option '--batch'/);
  });

  test('a YAML config file is used, and flags override it', async () => {
    const file = join(modelDir, 'ok.yaml');
    writeFileSync(file, `model: ${modelPath.mlp()}\nname: from-yaml\nmaxBatchSize: 8\nversion: "7"\n`);
    const server = await startServer(['--config', file, '--max-batch-size', '4']);
    try {
      const config = await getJson(`${server.url}/v2/models/from-yaml/versions/7/config`);
      assert.equal(config.status, 200);
      assert.equal(config.body.max_batch_size, 4);
    } finally {
      await server.stop();
    }
  });
});

describe('graceful shutdown on SIGTERM', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer(['--model', modelPath.slow(), '--instances', '1', '--intra-op-threads', '1', '--max-batch-size', '64']);
  });
  after(() => server.stop());

  test('finishes every queued and in-flight request, answers a late one with Connection: close, exits 0', async () => {
    const rows = randomRows(64, SLOW.features, 9);
    const slowRequest = () => encodeBinaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [64, SLOW.features], data: new Float32Array(rows.flat()) }] });
    const send = async () => {
      const { body, headers } = slowRequest();
      const res = await fetch(`${server.url}/v2/models/slow/infer`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      return res.status;
    };
    const admitted = Array.from({ length: 4 }, send);
    const deadline = Date.now() + 20_000;
    while ((await metricValue(server.url, 'modelship_queue_depth')) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));

    server.child.kill('SIGTERM');
    while (!server.logs.some((l) => l.message === 'draining')) await new Promise((r) => setTimeout(r, 5));
    // After the signal a new connection is refused; a request on a connection still open (the metrics
    // polls left one idle) is still answered, and told to close its connection.
    const { body, headers } = slowRequest();
    const late = await fetch(`${server.url}/v2/models/slow/infer`, { method: 'POST', headers, body }).catch((error: Error) => error);
    if (late instanceof Error) assert.match(String((late as Error & { cause?: Error }).cause?.message ?? late.message), /ECONNREFUSED/);
    else {
      assert.equal(late.status, 200, await late.text());
      assert.equal(late.headers.get('connection'), 'close');
    }
    assert.equal((await getJson(`${server.url}/v2/health/ready`).catch(() => ({ status: 503 }))).status, 503);
    assert.deepEqual(await Promise.all(admitted), [200, 200, 200, 200]);
    assert.equal(await server.exited, 0);
    assert.ok(server.logs.some((l) => l.message === 'draining'));
  });
});

describe('SIGTERM under keep-alive clients', () => {
  test('32 clients sending back to back: every request answered 200, each told by its last answer to close, exit 0', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--drain-timeout-ms', '15000']);
    const load = keepAliveLoad(`${server.url}/v2/models/mlp/infer`, JSON.stringify(mlpRequest), 32);
    await waitFor('every client to have been answered', async () => load.answered() >= 320, { intervalMs: 10 });
    server.child.kill('SIGTERM');
    const [code, outcome] = await Promise.all([server.exited, load.finished]);
    assert.deepEqual(
      { exitCode: code, cut: outcome.cut, statuses: Object.keys(outcome.statuses), notToldToClose: outcome.notToldToClose, refused: outcome.refused },
      { exitCode: 0, cut: 0, statuses: ['200'], notToldToClose: 0, refused: 32 },
      `cut: ${outcome.cutErrors.join('; ')}; answers: ${JSON.stringify(outcome.statuses)}`,
    );
  });

  test('a keep-alive connection idle when SIGTERM came still gets its next request answered, with Connection: close', async () => {
    const server = await startServer(['--model', modelPath.mlp()]);
    const http = client(1);
    try {
      const first = await http.postJson(`${server.url}/v2/models/mlp/infer`, mlpRequest);
      assert.equal(first.headers.connection, 'keep-alive');
      server.child.kill('SIGTERM');
      await waitFor('the drain to begin', async () => server.logs.some((l) => l.message === 'draining'), { intervalMs: 2 });
      const next = await http.postJson(`${server.url}/v2/models/mlp/infer`, mlpRequest);
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assertClose(next.body.outputs[0].data, MLP.reference(mlpRequest.inputs[0].data));
      assert.equal(next.headers.connection, 'close');
      assert.equal(await server.exited, 0);
    } finally {
      http.close();
    }
  });
});

describe('a drain deadline', () => {
  test('bounds the shutdown: what is still queued gets 503 and the exit code says the drain was cut short', async () => {
    const server = await startServer(['--model', modelPath.slow(), '--instances', '1', '--intra-op-threads', '1', '--max-batch-size', '64', '--drain-timeout-ms', '50']);
    const rows = new Float32Array(randomRows(64, SLOW.features, 4).flat());
    const send = async () => {
      const { body, headers } = encodeBinaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [64, SLOW.features], data: rows }] });
      const res = await fetch(`${server.url}/v2/models/slow/infer`, { method: 'POST', headers, body });
      return { status: res.status, text: await res.text() };
    };
    const admitted = Array.from({ length: 5 }, () => send().catch((error: Error) => error));
    while ((await metricValue(server.url, 'modelship_queue_depth')) < 4) await new Promise((r) => setTimeout(r, 5));
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 1);
    const answers = await Promise.all(admitted);
    const refused = answers.filter((a) => !(a instanceof Error) && a.status === 503 && /drain deadline passed/.test(a.text));
    assert.ok(refused.length >= 3, `queued requests were answered 503: ${JSON.stringify(answers.map((a) => (a instanceof Error ? a.message : a.status)))}`);
    assert.ok(server.logs.some((l) => l.message === 'drain deadline passed; answering what is left with 503'));
  });
});
