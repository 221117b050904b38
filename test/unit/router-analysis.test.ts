// The router analysis' scrapes over real loopback HTTP endpoints serving a router's exposition (and, with
// the prediction-shift gate, each version's model server's): one scrape per window boundary (the end of a
// judged window is the start of the next), and windows judged on the difference between the two.
// A Prometheus query's answer is bounded and decoded the same defensive way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { PrometheusAnalysis, RouterAnalysis } from '../../operator/src/rollout/analysis.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import type { RolloutStatus } from '../../operator/src/rollout/types.ts';

test('a check and the next window share one scrape; the window is judged on what happened between scrapes', async () => {
  let served = 0;
  let candidateRequests = 0;
  const router = createServer((_req, res) => {
    served++;
    res.end(`modelship_router_requests_total{version="v2",route="weighted",code="200"} ${candidateRequests}\nmodelship_router_requests_total{version="v1",route="weighted",code="200"} 1000\n`);
  }).listen(0, '127.0.0.1');
  await once(router, 'listening');
  const url = `http://127.0.0.1:${(router.address() as AddressInfo).port}/metrics`;
  try {
    const analysis = new RouterAnalysis(async () => [url], async () => []);
    const mdep = { apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
      spec: { model: { uri: 'x', version: 'v2' }, rollout: { analysis: { minRequests: 10 } } } } as ModelDeployment;
    const t0 = Date.parse('2026-11-24T12:00:00Z');
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const status = (start: number): RolloutStatus => ({ phase: 'Progressing', stable: { version: 'v1', uri: 'a' }, candidate: { version: 'v2', uri: 'b' }, step: 0, canaryWeight: 10, failedChecks: 0, windowStartedAt: at(start), message: '' });

    await analysis.startWindow(mdep, status(t0));
    assert.equal(served, 1);
    candidateRequests = 40;
    const first = await analysis.measure(mdep, status(t0), t0 + 60_000);
    assert.equal(served, 2);
    assert.ok(first !== 'no-baseline');
    assert.equal(first.candidate.requests, 40);
    assert.equal(first.verdict, 'passed');
    // The next window starts when that check ended: its start is the scrape just taken.
    await analysis.startWindow(mdep, status(t0 + 60_000));
    assert.equal(served, 2, 'no second scrape for the same moment');
    candidateRequests = 45;
    const second = await analysis.measure(mdep, status(t0 + 60_000), t0 + 120_000);
    assert.ok(second !== 'no-baseline');
    assert.equal(second.candidate.requests, 5);
    assert.equal(second.verdict, 'insufficient');
    // A window that starts at another moment measures its own start.
    await analysis.startWindow(mdep, status(t0 + 125_000));
    assert.equal(served, 4);
  } finally {
    router.close();
  }
});

test('with maxPredictionShift, the window\'s ends also scrape each version\'s model servers, and the check judges their predictions', async () => {
  const scrapes = { router: 0, v1: 0, v2: 0 };
  const rows = { v1: [0, 0], v2: [0, 0] };
  const listen = async (serve: () => string) => {
    const server = createServer((_req, res) => res.end(serve())).listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` };
  };
  const predictions = (version: 'v1' | 'v2') => () => {
    scrapes[version]++;
    return rows[version].map((n, bin) => `modelship_drift_prediction_bin_total{output="probabilities",bin="${bin}",model="iris",version="${version}"} ${n}`).join('\n');
  };
  const router = await listen(() => {
    scrapes.router++;
    return `modelship_router_requests_total{version="v2",route="weighted",code="200"} ${rows.v2[0] + rows.v2[1]}\n`;
  });
  const v1 = await listen(predictions('v1'));
  const v2 = await listen(predictions('v2'));
  try {
    const servers: Record<string, string[]> = { v1: [v1.url], v2: [v2.url] };
    const analysis = new RouterAnalysis(async () => [router.url], async (_mdep, version) => servers[version] ?? []);
    const mdep = (maxPredictionShift?: number) => ({ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
      spec: { model: { uri: 'x', version: 'v2' }, monitoring: { baseline: { uri: 'https://m/baseline.json' } }, rollout: { analysis: { minRequests: 10, maxPredictionShift } } } }) as ModelDeployment;
    const gated = mdep(0.1);
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const status = (start: number, canaryWeight = 20): RolloutStatus => ({ phase: 'Progressing', stable: { version: 'v1', uri: 'a' }, candidate: { version: 'v2', uri: 'b' }, step: 0, canaryWeight, failedChecks: 0, windowStartedAt: at(start), message: '' });

    rows.v1 = [500, 500];
    rows.v2 = [5, 5];
    await analysis.startWindow(gated, status(t0));
    assert.deepEqual(scrapes, { router: 1, v1: 1, v2: 1 });
    // Over the window the stable version splits its predictions evenly; the candidate puts 30 of 40 in bin 0.
    rows.v1 = [560, 560];
    rows.v2 = [35, 15];
    const failed = await analysis.measure(gated, status(t0), t0 + 60_000);
    assert.ok(failed !== 'no-baseline');
    assert.equal(failed.verdict, 'failed');
    const expected = 0.25 * Math.log(0.75 / 0.5) - 0.25 * Math.log(0.25 / 0.5);
    assert.ok(Math.abs(failed.predictionShift!.psi! - expected) < 1e-12, JSON.stringify(failed.predictionShift));
    assert.deepEqual({ ...failed.predictionShift, psi: undefined }, { output: 'probabilities', psi: undefined, candidateRows: 40, stableRows: 120 });
    assert.deepEqual(failed.failedGates, [`prediction shift PSI ${Number(expected.toPrecision(3))} > 0.1 (output probabilities, 40 candidate and 120 stable rows)`]);

    // The next window starts at that check's scrapes; at 100% only the routers are read.
    await analysis.startWindow(gated, status(t0 + 60_000));
    assert.deepEqual(scrapes, { router: 2, v1: 2, v2: 2 });
    await analysis.startWindow(gated, status(t0 + 70_000, 100));
    const full = await analysis.measure(gated, status(t0 + 70_000, 100), t0 + 130_000);
    assert.ok(full !== 'no-baseline');
    assert.equal(full.predictionShift, undefined);
    assert.deepEqual(scrapes, { router: 4, v1: 2, v2: 2 });

    // A window started without the gate has no start for it: it starts again rather than judge half a window.
    await analysis.startWindow(mdep(undefined), status(t0 + 200_000));
    assert.deepEqual(scrapes, { router: 5, v1: 2, v2: 2 });
    assert.equal(await analysis.measure(gated, status(t0 + 200_000), t0 + 260_000), 'no-baseline');

    // A version without a ready pod to read holds the check, saying why.
    await analysis.startWindow(gated, status(t0 + 300_000));
    delete servers.v2;
    const unread = await analysis.measure(gated, status(t0 + 300_000), t0 + 360_000);
    assert.ok(unread !== 'no-baseline');
    assert.equal(unread.verdict, 'insufficient');
    assert.match(unread.message, /no ready model-server pod of version v2 to read metrics from/);
  } finally {
    for (const { server } of [router, v1, v2]) server.close();
  }
});

test('a scrape past the byte budget is refused, not held: the check holds and says which pod', async () => {
  let padding = 0;
  const router = createServer((_req, res) => res.end(`modelship_router_requests_total{version="v2",route="weighted",code="200"} 1\n${'# padding\n'.repeat(padding)}`)).listen(0, '127.0.0.1');
  await once(router, 'listening');
  const url = `http://127.0.0.1:${(router.address() as AddressInfo).port}/metrics`;
  try {
    const mdep = { apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' }, spec: { model: { uri: 'x', version: 'v2' } } } as ModelDeployment;
    const status: RolloutStatus = { phase: 'Progressing', stable: { version: 'v1', uri: 'a' }, candidate: { version: 'v2', uri: 'b' }, step: 0, canaryWeight: 10, failedChecks: 0, windowStartedAt: '2026-12-01T12:00:00Z', message: '' };
    const analysis = new RouterAnalysis(async () => [url], async () => [], { timeoutMs: 3000, maxBytes: 1024 });
    await analysis.startWindow(mdep, status);
    padding = 200; // 2 KB of comments
    const result = await analysis.measure(mdep, status, Date.parse('2026-12-01T12:01:00Z'));
    assert.ok(result !== 'no-baseline');
    assert.equal(result.verdict, 'insufficient');
    assert.equal(result.message, `cannot read the metrics: ${url} sent more than 1024 bytes of metrics`);
  } finally {
    router.close();
  }
});

test("a Prometheus answer past the byte budget, or not JSON, is refused, not held: the check holds and says why", async () => {
  let answer = '';
  const prometheus = createServer((_req, res) => res.end(answer)).listen(0, '127.0.0.1');
  await once(prometheus, 'listening');
  const base = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;
  try {
    const mdep = { apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
      spec: { model: { uri: 'x', version: 'v2' }, rollout: { analysis: { provider: 'prometheus', prometheusUrl: base } } } } as ModelDeployment;
    const status: RolloutStatus = { phase: 'Progressing', stable: { version: 'v1', uri: 'a' }, candidate: { version: 'v2', uri: 'b' }, step: 0, canaryWeight: 10, failedChecks: 0, windowStartedAt: '2026-12-01T12:00:00Z', message: '' };
    const analysis = new PrometheusAnalysis({ timeoutMs: 3000, maxBytes: 1024 });
    const now = Date.parse('2026-12-01T12:01:00Z');
    answer = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: Array.from({ length: 100 }, (_, i) => ({ metric: { pod: `p${i}` }, value: [0, '1'] })) } });
    const tooLarge = await analysis.measure(mdep, status, now);
    assert.ok(tooLarge !== 'no-baseline');
    assert.equal(tooLarge.verdict, 'insufficient');
    assert.match(tooLarge.message, /^cannot query Prometheus at .*: .* sent more than 1024 bytes of a query answer$/);
    answer = '<html>proxy error</html>';
    const notJson = await analysis.measure(mdep, status, now);
    assert.ok(notJson !== 'no-baseline');
    assert.equal(notJson.verdict, 'insufficient');
    assert.match(notJson.message, /HTTP 200, not JSON$/);
  } finally {
    prometheus.close();
  }
});
