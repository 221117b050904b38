// Route tables changing under load: every request is answered 200 while the table is rewritten again and
// again (weights moved, versions added and removed); in-flight requests finish where they started. And the
// router's own shutdown: SIGTERM finishes what is in flight, then exits 0, cutting no keep-alive client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, SLOW, randomRows } from '../models/zoo.ts';
import { eventually, waitFor } from '../support/eventually.ts';
import { keepAliveLoad } from '../support/keep-alive-load.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import { client, inferBody, routesOf, sampleSum, scrape, startRouter, writeRoutes, type RouterProcess } from './router-process.ts';

describe('rewriting the route table under sustained load', () => {
  let v1: ServerProcess;
  let v2: ServerProcess;
  let router: RouterProcess;
  let routesFile: string;
  // In-cluster URLs as the operator writes them; --upstream points them at the local servers.
  const table = (weights: Record<string, number>) => ({
    versions: Object.entries(weights).map(([name, weight]) => ({ name, url: `http://mlp-${name}.ml.svc:8080`, weight })),
  });

  before(async () => {
    [v1, v2] = await Promise.all([
      startServer(['--model', modelPath.mlp(), '--version', 'v1']),
      startServer(['--model', modelPath.mlp(), '--version', 'v2']),
    ]);
    routesFile = writeRoutes(table({ v1: 100 }));
    router = await startRouter(['--routes-file', routesFile, '--upstream', `v1=${v1.url}`, '--upstream', `v2=${v2.url}`]);
  });
  after(async () => {
    assert.equal(await router.stop(), 0);
    await Promise.all([v1.stop(), v2.stop()]);
  });

  test('no request is lost while weights move and versions come and go', async () => {
    const phases: Array<Record<string, number>> = [
      { v2: 10, v1: 90 }, { v2: 50, v1: 50 }, { v2: 100, v1: 0 }, { v2: 100 }, { v2: 60, v1: 40 },
      { v1: 100 }, { v2: 20, v1: 80 }, { v2: 0, v1: 100 }, { v2: 100 }, { v2: 50, v1: 50 },
    ];
    const http = client(16);
    const rows = randomRows(16, MLP.features, 5);
    const statuses = new Map<number, number>();
    const seen = { v1: 0, v2: 0 };
    let stop = false;
    let sent = 0;
    const load = Promise.all(Array.from({ length: 16 }, async (_, c) => {
      while (!stop) {
        const res = await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([rows[c]]));
        sent++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) seen[res.body.model_version as 'v1' | 'v2']++;
      }
    }));
    try {
      for (const weights of phases) {
        const before = sent;
        writeRoutes(table(weights), routesFile);
        await eventually(`the table ${JSON.stringify(weights)}`, async () => {
          const routes = await routesOf(router);
          return routes.versions.length === Object.keys(weights).length && routes.versions.every((v: any) => v.weight === weights[v.name]) ? true : undefined;
        }, { intervalMs: 10 });
        // Let every table carry traffic before the next one.
        await eventually('requests under this table', async () => (sent >= before + 100 ? true : undefined), { intervalMs: 5 });
      }
    } finally {
      stop = true;
      await load;
      http.close();
    }
    assert.deepEqual([...statuses.keys()], [200], `every request answered 200: ${JSON.stringify([...statuses])}`);
    assert.ok(seen.v1 > 0 && seen.v2 > 0, `both versions served: ${JSON.stringify(seen)}`);
    const metrics = await scrape(router.url);
    assert.equal(sampleSum(metrics, 'modelship_router_requests_total', { code: '200' }), sent, 'the router counted every request once');
    assert.equal(sampleSum(metrics, 'modelship_router_requests_total'), sent);
    const routes = await routesOf(router);
    assert.deepEqual(routes.inflight, { v2: 0, v1: 0 }, 'nothing left in flight');
    assert.equal(sampleSum(metrics, 'modelship_router_weight', { version: 'v2' }), 50);
  });
});

describe('router shutdown', () => {
  let slow: ServerProcess;
  before(async () => {
    slow = await startServer(['--model', modelPath.slow(), '--max-batch-size', '8', '--instances', '1', '--intra-op-threads', '1']);
  });
  after(() => slow.stop());

  test('SIGTERM finishes the requests in flight, then exits 0', async () => {
    const router = await startRouter(['--routes-file', writeRoutes({ versions: [{ name: '1', url: slow.url, weight: 100 }] })]);
    const rows = randomRows(8, SLOW.features, 6);
    const http = client(4);
    // Four requests of 8 rows of the slow model: they queue behind each other on its one worker.
    const answers = Array.from({ length: 4 }, () => {
      const { body, headers } = encodeBinaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [8, SLOW.features], data: new Float32Array(rows.flat()) }], parameters: { binary_data_output: true } });
      return http.send(`${router.url}/v2/models/slow/infer`, { body, headers });
    });
    await eventually('the requests to be in flight', async () => ((await routesOf(router)).inflight['1'] === 4 ? true : undefined), { intervalMs: 5 });
    router.child.kill('SIGTERM');
    const results = await Promise.all(answers);
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(await router.exited, 0);
    assert.ok(router.logs.some((l) => l.message === 'draining'));
    http.close();
  });

  test('SIGTERM under 32 keep-alive clients sending back to back: every request answered 200, each told by its last answer to close, exit 0', async () => {
    const upstream = await startServer(['--model', modelPath.mlp()]);
    const router = await startRouter(['--routes-file', writeRoutes({ versions: [{ name: '1', url: upstream.url, weight: 100 }] }), '--drain-timeout-ms', '15000']);
    try {
      const load = keepAliveLoad(`${router.url}/v2/models/mlp/infer`, JSON.stringify(inferBody([randomRows(1, MLP.features, 8)[0]])), 32);
      await waitFor('every client to have been answered', async () => load.answered() >= 320, { intervalMs: 10 });
      router.child.kill('SIGTERM');
      const [code, outcome] = await Promise.all([router.exited, load.finished]);
      assert.deepEqual(
        { exitCode: code, cut: outcome.cut, statuses: Object.keys(outcome.statuses), notToldToClose: outcome.notToldToClose, refused: outcome.refused },
        { exitCode: 0, cut: 0, statuses: ['200'], notToldToClose: 0, refused: 32 },
        `cut: ${outcome.cutErrors.join('; ')}; answers: ${JSON.stringify(outcome.statuses)}`,
      );
    } finally {
      await router.stop();
      await upstream.stop();
    }
  });
});
