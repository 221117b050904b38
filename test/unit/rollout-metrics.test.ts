// The router's /metrics reduced to a check's numbers: summing pods, windows between snapshots, counter
// resets, histogram quantiles, and the durations of spec.rollout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addExposition, quantile, sum, windowBetween, type Snapshot } from '../../operator/src/rollout/metric-samples.ts';
import { routerWindowNumbers } from '../../operator/src/rollout/router-numbers.ts';
import { formatDuration, parseDuration } from '../../operator/src/rollout/durations.ts';

const exposition = (v2ok: number, v2err: number, v1ok: number, buckets: number[]) => `# HELP modelship_router_requests_total Requests
# TYPE modelship_router_requests_total counter
modelship_router_requests_total{version="v2",route="weighted",code="200"} ${v2ok}
modelship_router_requests_total{version="v2",route="weighted",code="503"} ${v2err}
modelship_router_requests_total{version="v1",route="weighted",code="200"} ${v1ok}
modelship_router_request_duration_seconds_bucket{le="0.01",version="v2",route="weighted"} ${buckets[0]}
modelship_router_request_duration_seconds_bucket{le="0.1",version="v2",route="weighted"} ${buckets[1]}
modelship_router_request_duration_seconds_bucket{le="+Inf",version="v2",route="weighted"} ${buckets[2]}
modelship_router_shadow_comparisons_total{primary="v1",shadow="v2",result="compared"} 40
modelship_router_shadow_top1_rows_total{primary="v1",shadow="v2"} 80
modelship_router_shadow_top1_agreements_total{primary="v1",shadow="v2"} 60
`;

test('pods add up, and a window is the difference of two snapshots', () => {
  const start = addExposition(addExposition(new Map(), exposition(10, 1, 100, [5, 11, 11])), exposition(5, 0, 50, [5, 5, 5]));
  assert.equal(sum(start, 'modelship_router_requests_total', { version: 'v2' }), 16);
  const end = addExposition(addExposition(new Map(), exposition(110, 11, 200, [55, 121, 121])), exposition(5, 0, 50, [5, 5, 5]));
  const window = windowBetween(start, end);
  assert.equal(sum(window, 'modelship_router_requests_total', { version: 'v2' }), 110);
  assert.equal(sum(window, 'modelship_router_requests_total', { version: 'v2', code: '503' }), 10);
});

test('a counter that went down was reset: all of its value counts', () => {
  const start = addExposition(new Map(), exposition(1000, 0, 0, [0, 0, 0]));
  const end = addExposition(new Map(), exposition(30, 0, 0, [0, 0, 0]));
  assert.equal(sum(windowBetween(start, end), 'modelship_router_requests_total', { version: 'v2', code: '200' }), 30);
});

test('histogram quantiles interpolate within the bucket as Prometheus does', () => {
  const s: Snapshot = addExposition(new Map(), exposition(0, 0, 0, [50, 100, 100]));
  // 99th of 100 observations: rank 99, in the (0.01, 0.1] bucket holding 50 → 0.01 + 0.09 * 49/50.
  assert.ok(Math.abs(quantile(s, 'modelship_router_request_duration_seconds', 0.99, { version: 'v2' })! - (0.01 + 0.09 * 49 / 50)) < 1e-12);
  assert.equal(quantile(s, 'modelship_router_request_duration_seconds', 0.5, { version: 'v2' }), 0.01);
  assert.equal(quantile(s, 'modelship_router_request_duration_seconds', 0.99, { version: 'v9' }), null);
  const overflow = addExposition(new Map(), exposition(0, 0, 0, [0, 0, 10]));
  assert.equal(quantile(overflow, 'modelship_router_request_duration_seconds', 0.99, { version: 'v2' }), 0.1, 'past the last bound: the last bound');
});

test('router numbers for a version pair', () => {
  const n = routerWindowNumbers(addExposition(new Map(), exposition(90, 10, 400, [50, 100, 100])), 'v1', 'v2');
  assert.deepEqual({ requests: n.candidate.requests, errors: n.candidate.errors, errorRate: n.candidate.errorRate }, { requests: 100, errors: 10, errorRate: 0.1 });
  assert.equal(n.stable.requests, 400);
  assert.equal(n.stable.p99Ms, null);
  assert.equal(n.shadow?.comparisons, 40);
  assert.equal(n.shadow?.top1Agreement, 0.75);
});

test('gates count weight-routed inference only: pinned, metadata and router-refused requests move nothing', () => {
  const pinnedAndOther = `${exposition(90, 10, 400, [50, 100, 100])}modelship_router_requests_total{version="v2",route="pinned",code="500"} 1000
modelship_router_requests_total{version="v2",route="other",code="503"} 1000
modelship_router_requests_total{version="none",route="other",code="400"} 1000
modelship_router_request_duration_seconds_bucket{le="+Inf",version="v2",route="pinned"} 1000
modelship_router_shadow_comparisons_total{primary="v1",shadow="v2",result="invalid"} 2
modelship_router_shadow_comparisons_total{primary="v1",shadow="v2",result="mismatch"} 1
modelship_router_shadow_comparisons_total{primary="v1",shadow="v2",result="skipped"} 7
`;
  const n = routerWindowNumbers(addExposition(new Map(), pinnedAndOther), 'v1', 'v2');
  assert.deepEqual({ requests: n.candidate.requests, errors: n.candidate.errors, errorRate: n.candidate.errorRate }, { requests: 100, errors: 10, errorRate: 0.1 });
  assert.ok(Math.abs(n.candidate.p99Ms! - (0.01 + 0.09 * 49 / 50) * 1000) < 1e-9, 'the pinned requests\' latencies are not in the p99');
  assert.equal(n.shadow?.mismatches, 3, 'invalid shadow answers fail the shadow like mismatches; skipped ones do not');
});

test('durations as Flagger users write them', () => {
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.throws(() => parseDuration('5 minutes'), /'5 minutes' is not a duration/);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(3_600_000), '1h');
});

test('analysis provider prometheus: PromQL over the model servers\' own metrics of one version and window', async () => {
  const { prometheusQueries } = await import('../../operator/src/rollout/analysis.ts');
  const q = prometheusQueries({ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' }, spec: { model: { uri: 'x', version: 'v2' } } }, 'v2', 120);
  assert.equal(q.requests, 'sum(increase(modelship_inference_requests_total{namespace="ml",model="iris",version="v2"}[120s]))');
  assert.equal(q.errors, 'sum(increase(modelship_inference_requests_total{namespace="ml",model="iris",version="v2",outcome=~"error|unavailable|timeout|rejected"}[120s]))');
  assert.equal(q.p99, 'histogram_quantile(0.99, sum by (le) (increase(modelship_request_duration_seconds_bucket{namespace="ml",model="iris",version="v2"}[120s])))');
});

test('with pods kept apart, one router pod\'s restart is its own reset, not a smaller total', () => {
  const podA = (n: number) => `modelship_router_requests_total{version="v2",code="200"} ${n}\n`;
  const start = addExposition(addExposition(new Map(), podA(100), undefined, 'a'), podA(100), undefined, 'b');
  // Pod a restarted and served 10 since; pod b served 50 more.
  const end = addExposition(addExposition(new Map(), podA(10), undefined, 'a'), podA(150), undefined, 'b');
  assert.equal(sum(windowBetween(start, end), 'modelship_router_requests_total', { version: 'v2' }), 60);
  const summed = windowBetween(addExposition(addExposition(new Map(), podA(100)), podA(100)), addExposition(addExposition(new Map(), podA(10)), podA(150)));
  assert.equal(sum(summed, 'modelship_router_requests_total', { version: 'v2' }), 160, 'summed first, the drop reads as a reset of the total and counts pod b\'s old requests again');
});
