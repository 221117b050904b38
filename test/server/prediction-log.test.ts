// Prediction logging on the real server over real HTTP: records on stdout as JSON lines, or CloudEvents to
// a collector as KServe's payload logger sends them; and under load with a collector that is dead or slow,
// every request still answered 200 while the records that could not go are counted as dropped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startServer, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { freePort } from '../support/free-port.ts';
import { keepAliveLoad } from '../support/keep-alive-load.ts';
import { waitFor } from '../support/eventually.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { PREDICTION_LOG_METRICS } from '../../contract/metric-names.ts';

const rows = randomRows(2, MLP.features, 21);
const body = (id?: string) => ({ ...(id ? { id } : {}), inputs: [{ name: 'input', datatype: 'FP32', shape: [2, MLP.features], data: rows.flat() }] });

interface Collector {
  url: string;
  events: Array<{ headers: IncomingHttpHeaders; body: any }>;
  server: Server;
}

/** An HTTP collector of CloudEvents that answers after `delayMs`. */
async function collector(delayMs = 0): Promise<Collector> {
  const events: Collector['events'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      setTimeout(() => res.writeHead(202).end(), delayMs).unref();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, events, server };
}

describe('prediction records', () => {
  test('on stdout: one JSON line per sampled prediction, with its id, version, inputs cut short and outputs', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--prediction-log', 'stdout', '--prediction-log-input-elements', '5']);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await postJson(`${server.url}/v2/models/mlp/infer`, body(`req-${i}`))).status, 200);
      await waitFor('three records', async () => server.logs.filter((l) => l.kind === 'prediction').length === 3);
      const records = server.logs.filter((l) => l.kind === 'prediction') as any[];
      assert.deepEqual(records.map((r) => r.id), ['req-0', 'req-1', 'req-2']);
      const [record] = records;
      assert.equal(record.model, 'mlp');
      assert.equal(record.version, '1');
      assert.deepEqual(record.inputs[0].shape, [2, 16]);
      assert.equal(record.inputs[0].data.length, 5);
      assert.deepEqual(record.inputs[0].parameters, { modelship_truncated_from: 32 });
      const expected = [...MLP.reference(rows[0]), ...MLP.reference(rows[1])];
      record.outputs[0].data.forEach((v: number, i: number) => assert.ok(Math.abs(v - expected[i]) < 1e-5));
      assert.equal(await metricValue(server.url, PREDICTION_LOG_METRICS.sent), 3);
    } finally {
      await server.stop();
    }
  });

  test('to an HTTP collector: a request and a response CloudEvent per prediction, as KServe sends them', async () => {
    const sink = await collector();
    const server = await startServer(['--model', modelPath.mlp(), '--prediction-log', sink.url, '--version', '7']);
    try {
      assert.equal((await postJson(`${server.url}/v2/models/mlp/infer`, body('abc'))).status, 200);
      await waitFor('two events', async () => sink.events.length === 2);
      const byType = new Map(sink.events.map((e) => [e.headers['ce-type'], e]));
      const request = byType.get('org.kubeflow.serving.inference.request')!;
      const response = byType.get('org.kubeflow.serving.inference.response')!;
      for (const event of [request, response]) {
        assert.equal(event.headers['ce-specversion'], '1.0');
        assert.equal(event.headers['ce-id'], 'abc');
        assert.equal(event.headers['ce-source'], '/v2/models/mlp/versions/7');
        assert.equal(event.headers['ce-inferenceservicename'], 'mlp');
        assert.equal(event.headers['content-type'], 'application/json');
      }
      assert.deepEqual(request.body.inputs[0].data, rows.flat().map((v) => Math.fround(v)));
      assert.equal(response.body.model_version, '7');
      assert.equal(response.body.outputs[0].name, 'probabilities');
      // Without an id, one is made up, the same on both events.
      assert.equal((await postJson(`${server.url}/v2/models/mlp/infer`, body())).status, 200);
      await waitFor('four events', async () => sink.events.length === 4);
      assert.equal(sink.events[2].headers['ce-id'], sink.events[3].headers['ce-id']);
      assert.match(String(sink.events[2].headers['ce-id']), /^[0-9a-f-]{36}$/);
    } finally {
      await server.stop();
      sink.server.close();
    }
  });
});

describe('logging under load never fails a request', () => {
  let slow: Collector;
  before(async () => {
    slow = await collector(3000);
  });
  after(() => {
    slow.server.closeAllConnections();
    slow.server.close();
  });

  const underLoad = async (server: ServerProcess) => {
    const load = keepAliveLoad(`${server.url}/v2/models/mlp/infer`, JSON.stringify(body()), 16);
    await waitFor('2000 answers', async () => load.answered() >= 2000, { timeoutMs: 60_000 });
    load.stop();
    const outcome = await load.finished;
    assert.deepEqual(Object.keys(outcome.statuses), ['200'], JSON.stringify(outcome.statuses));
    return outcome;
  };

  test('with a dead collector: every request answered 200, the records counted as dropped', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/events`;
    const server = await startServer(['--model', modelPath.mlp(), '--prediction-log', dead, '--prediction-log-queue-size', '100', '--prediction-log-max-per-second', '0']);
    try {
      await underLoad(server);
      const sinkErrors = await metricValue(server.url, PREDICTION_LOG_METRICS.dropped, { reason: 'sink_error' });
      const queueFull = await metricValue(server.url, PREDICTION_LOG_METRICS.dropped, { reason: 'queue_full' });
      assert.ok(sinkErrors >= 1, 'the collector was tried');
      assert.ok(queueFull > 1000, `backed off, the queue overflowed: ${queueFull}`);
      assert.equal(await metricValue(server.url, PREDICTION_LOG_METRICS.sent), 0);
      assert.ok(await metricValue(server.url, PREDICTION_LOG_METRICS.queueRecords) <= 100);
    } finally {
      await server.stop();
    }
  });

  test('with a slow collector: every request answered 200, the overflow counted, the queue within its bytes', async () => {
    const server = await startServer(['--model', modelPath.mlp(), '--prediction-log', slow.url, '--prediction-log-queue-bytes', '65536', '--prediction-log-max-per-second', '0']);
    try {
      await underLoad(server);
      assert.ok(await metricValue(server.url, PREDICTION_LOG_METRICS.dropped, { reason: 'queue_full' }) > 1000);
      assert.ok(await metricValue(server.url, PREDICTION_LOG_METRICS.queueBytes) <= 65536);
      assert.ok(slow.events.length >= 1, 'the collector got the first records');
    } finally {
      await server.stop();
    }
  });
});
