// Shadow traffic through the real router: copies reach the shadow version while clients get only the
// primary's answers, and the comparison metrics match differences known in advance: a model that adds
// exactly 0.25 to an identity's output, and an MLP whose last layer is perturbed so that a number of rows,
// computed here from the reference implementation, change their predicted class.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { MLP, mlpReference, randomRows, writeModel } from '../models/zoo.ts';
import { encodeBinaryRequest, decodeBinaryResponse } from '../support/binary-protocol.ts';
import { eventually } from '../support/eventually.ts';
import { client, routesOf, mlpModel, offsetModel, perturbedMlpLayers, sampleSum, scrape, startRouter, upstreamSuccesses, writeRoutes, type RouterProcess } from './router-process.ts';

const OFFSET = 0.25;
const pair = { primary: 'v1', shadow: 'v2' };
const perturbed = perturbedMlpLayers(0.35, 4242);

// Every model server of this file starts at once: their start-up (loading, warm-up) is most of its time.
let identity: ServerProcess;
let shifted: ServerProcess;
let renamed: ServerProcess;
let stable: ServerProcess;
let candidate: ServerProcess;
before(async () => {
  const model = (offset: number, output?: string) => writeModel(modelDir, `offset-${offset}-${output ?? 'scores'}.onnx`, offsetModel(offset, output));
  [identity, shifted, renamed, stable, candidate] = await Promise.all([
    startServer(['--model', model(0), '--name', 'scores', '--version', 'v1']),
    startServer(['--model', model(OFFSET), '--name', 'scores', '--version', 'v2']),
    startServer(['--model', model(OFFSET, 'logits'), '--name', 'scores', '--version', 'v3']),
    startServer(['--model', modelPath.mlp(), '--version', 'v1']),
    startServer(['--model', writeModel(modelDir, 'mlp-perturbed.onnx', mlpModel(perturbed)), '--name', 'mlp', '--version', 'v2']),
  ]);
});
after(() => Promise.all([identity, shifted, renamed, stable, candidate].map((s) => s?.stop())));

/** Waits until the router has settled `count` comparisons of the pair (any result); returns its metrics then. */
const settled = (router: RouterProcess, labels: Record<string, string>, count: number) => eventually(`${count} shadow comparisons`, async () => {
  const text = await scrape(router.url);
  return sampleSum(text, 'modelship_router_shadow_comparisons_total', labels) >= count ? text : undefined;
}, { timeoutMs: 20_000, intervalMs: 20 });

describe('shadow copies of an identity model to one that adds 0.25', () => {
  let router: RouterProcess;
  let routesFile: string;
  const http = client(4);
  const table = (shadow: string) => ({
    versions: [
      { name: 'v2', url: shifted.url, weight: 0 },
      { name: 'v3', url: renamed.url, weight: 0 },
      { name: 'v1', url: identity.url, weight: 100 },
    ],
    shadow: { version: shadow, percent: 100 },
  });

  before(async () => {
    routesFile = writeRoutes(table('v2'));
    router = await startRouter(['--routes-file', routesFile]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
  });

  test('clients get only the primary answers; the shadow gets every copy; the differences are exactly the offset', async () => {
    // Multiples of 1/64 in [-1, 1): x + 0.25 is exact in FP32, so every difference is exactly 0.25.
    const requests = Array.from({ length: 40 }, (_, r) => Array.from({ length: 8 }, (_, k) => (((r * 8 + k) * 37) % 128 - 64) / 64));
    const shadowBefore = await upstreamSuccesses(shifted.url);
    let expectedRelSum = 0;
    for (const [r, values] of requests.entries()) {
      let outputs: number[];
      if (r % 2 === 0) {
        const res = await http.postJson(`${router.url}/v2/models/scores/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: values }] });
        assert.equal(res.status, 200);
        assert.equal(res.body.model_version, 'v1', 'the client is answered by the primary');
        outputs = res.body.outputs[0].data;
      } else {
        const { body, headers } = encodeBinaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: new Float32Array(values) }], parameters: { binary_data_output: true } });
        const res = await http.send(`${router.url}/v2/models/scores/infer`, { body, headers });
        assert.equal(res.status, 200);
        const decoded = decodeBinaryResponse(res.body, res.headers['inference-header-content-length'] as string);
        assert.equal(decoded.header.model_version, 'v1');
        outputs = Array.from(new Float32Array(Uint8Array.from(decoded.outputs[0].bytes).buffer));
      }
      assert.deepEqual(outputs, values, 'the identity answered, not the shifted shadow');
      expectedRelSum += Math.max(...values.map((x) => OFFSET / Math.max(Math.abs(x), Math.abs(x + OFFSET), 1e-12)));
    }
    const metrics = await settled(router, pair, requests.length);
    assert.equal(await upstreamSuccesses(shifted.url) - shadowBefore, requests.length, 'the shadow server computed every copy');
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_requests_total', { version: 'v2', code: '200' }), requests.length);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_comparisons_total', { ...pair, result: 'compared' }), requests.length);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_max_abs_diff_sum', pair), requests.length * OFFSET, 'every request differs by exactly 0.25');
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_max_abs_diff_bucket', { ...pair, le: '0.1' }), 0);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_max_abs_diff_bucket', { ...pair, le: '1' }), requests.length);
    assert.ok(Math.abs(sampleSum(metrics, 'modelship_router_shadow_max_rel_diff_sum', pair) - expectedRelSum) < 1e-9);
    // Adding a constant never changes the largest element: every row agrees.
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_top1_rows_total', pair), requests.length * 2);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_top1_agreements_total', pair), requests.length * 2);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_percent', { version: 'v2' }), 100);
    assert.equal(sampleSum(metrics, 'modelship_router_requests_total', { version: 'v2' }), 0, 'shadow copies are not counted as primary requests');
  });

  test('answers that are not 200 are counted as skipped, not compared', async () => {
    const res = await http.postJson(`${router.url}/v2/models/scores/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    assert.equal(res.status, 400, 'the primary\'s refusal reaches the client as it is');
    assert.match(res.body.error, /shape \[1,3\]/);
    await settled(router, { ...pair, result: 'skipped' }, 1);
  });

  test('outputs with different names are a mismatch, not a crash', async () => {
    writeRoutes(table('v3'), routesFile);
    await eventually('shadow v3', async () => ((await routesOf(router)).shadow.version === 'v3' ? true : undefined));
    const res = await http.postJson(`${router.url}/v2/models/scores/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] });
    assert.equal(res.status, 200);
    const metrics = await settled(router, { primary: 'v1', shadow: 'v3', result: 'mismatch' }, 1);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_percent', { version: 'v3' }), 100);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_percent', { version: 'v2' }), 0, 'the old shadow is no longer reported');
  });
});

describe('shadow copies of the MLP to a perturbed MLP', () => {
  let router: RouterProcess;
  const http = client(4);
  const argmax = (v: number[]) => v.indexOf(Math.max(...v));
  const margin = (v: number[]) => {
    const sorted = [...v].sort((a, b) => b - a);
    return sorted[0] - sorted[1];
  };
  // Rows whose top two classes are clearly apart in both models, so FP32 cannot flip what FP64 computes.
  const rows = randomRows(400, MLP.features, 77).filter((row) => margin(MLP.reference(row)) > 1e-3 && margin(mlpReference(perturbed, row, true)) > 1e-3).slice(0, 160);
  const expectedAgreements = rows.filter((row) => argmax(MLP.reference(row)) === argmax(mlpReference(perturbed, row, true))).length;

  before(async () => {
    router = await startRouter(['--routes-file', writeRoutes({
      versions: [{ name: 'v2', url: candidate.url, weight: 0 }, { name: 'v1', url: stable.url, weight: 100 }],
      shadow: { version: 'v2', percent: 100 },
    })]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
  });

  test('top-1 agreement counts exactly the rows whose class the perturbation left alone', async () => {
    assert.equal(rows.length, 160);
    assert.ok(expectedAgreements > 40 && expectedAgreements < 150, `the perturbation changes some classes but not all (${expectedAgreements} of 160 agree)`);
    // 40 requests of 4 rows, half of them with binary tensors both ways.
    for (let r = 0; r < 40; r++) {
      const batch = rows.slice(r * 4, r * 4 + 4);
      const input = { name: 'input', datatype: 'FP32', shape: [4, MLP.features] };
      const res = r % 2 === 0
        ? await http.postJson(`${router.url}/v2/models/mlp/infer`, { inputs: [{ ...input, data: batch.flat() }] })
        : await (async () => {
          const { body, headers } = encodeBinaryRequest({ inputs: [{ ...input, data: new Float32Array(batch.flat()) }], parameters: { binary_data_output: true } });
          const answer = await http.send(`${router.url}/v2/models/mlp/infer`, { body, headers });
          return { status: answer.status, body: decodeBinaryResponse(answer.body, answer.headers['inference-header-content-length'] as string).header };
        })();
      assert.equal(res.status, 200);
      assert.equal(res.body.model_version, 'v1');
    }
    const metrics = await settled(router, pair, 40);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_comparisons_total', { ...pair, result: 'compared' }), 40);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_top1_rows_total', pair), 160);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_top1_agreements_total', pair), expectedAgreements);
  });
});

describe('a shadow version that never answers', () => {
  let hole: Server;
  const sockets = new Set<Socket>();
  let router: RouterProcess;
  const http = client(1);

  before(async () => {
    // Accepts connections and reads requests, but never answers: the slowest shadow there can be.
    hole = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    }).listen(0, '127.0.0.1');
    await once(hole, 'listening');
    router = await startRouter(['--shadow-queue-size', '2', '--shadow-concurrency', '1', '--routes-file', writeRoutes({
      versions: [{ name: 'v2', url: `http://127.0.0.1:${(hole.address() as AddressInfo).port}`, weight: 0 }, { name: 'v1', url: stable.url, weight: 100 }],
      shadow: { version: 'v2', percent: 100 },
    })]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
  });

  test('never holds clients back: copies beyond the queue are dropped and counted', async () => {
    const row = randomRows(1, MLP.features, 3)[0];
    for (let i = 0; i < 30; i++) {
      const res = await http.postJson(`${router.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: row }] });
      assert.equal(res.status, 200);
      assert.equal(res.body.model_version, 'v1');
    }
    // One copy in flight, two queued behind it, the other 27 dropped.
    let metrics = await scrape(router.url);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_dropped_total', { version: 'v2', reason: 'queue_full' }), 27);
    // The shadow goes away: the copy in flight fails, the queued two find nothing listening; all counted.
    hole.close();
    for (const socket of sockets) socket.destroy();
    metrics = await eventually('the stuck copies to fail', async () => {
      const text = await scrape(router.url);
      return sampleSum(text, 'modelship_router_shadow_dropped_total', { version: 'v2', reason: 'error' }) === 3 ? text : undefined;
    });
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_requests_total', { version: 'v2', code: '503' }), 3);
    assert.equal(sampleSum(metrics, 'modelship_router_shadow_comparisons_total', pair), 0);
    assert.equal(sampleSum(metrics, 'modelship_router_requests_total', { version: 'v1', code: '200' }), 30);
  });
});
