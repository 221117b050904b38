// The analysis provider prometheus against a real Prometheus: two real model servers serve model "iris"
// (v1 stable, v2 candidate), Prometheus scrapes both every second with the namespace label a cluster's
// relabeling gives pods, known numbers of requests go to each, and PrometheusAnalysis.measure judges the
// window from the servers' own metrics by its PromQL.
//
// Why the counts come out exact: increase() takes the last minus the first sample in the window and
// extrapolates to the window's ends. At the end there is nothing to extrapolate when the check closes at
// the instant of the version's last scrape. At the start, a request counter's series begins inside the
// window (it appears with its first request, which comes 3 s after windowStartedAt): Prometheus then
// extrapolates back by half a scrape interval, but never past the point where the counter would be zero.
// Each series' first sample counts exactly one request (one is sent, and the test waits for it to be
// scraped, before the rest), and the rest arrive at more than two per scrape interval of the window, so
// the zero point lies less than half an interval back: the extrapolation adds exactly that first request
// (up to floating-point noise, which the provider rounds away). The two servers are scraped at different
// offsets within the second, so the check that asserts a version's counts closes at that version's last
// scrape.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PrometheusAnalysis } from '../../operator/src/rollout/analysis.ts';
import type { AnalysisResult, RolloutSpec, RolloutStatus } from '../../operator/src/rollout/types.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import { GraphBuilder } from '../models/onnx-builder.ts';
import { MLP, randomRows, writeModel } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/free-port.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { postJson, startServer, type ServerProcess } from '../support/server-process.ts';
import { ensurePrometheus } from '../../cluster/upstream-binaries.ts';
import { startPrometheus, type LocalPrometheus } from './prometheus.ts';

const NAMESPACE = 'ml';
const MODEL = 'iris';
const STABLE_REQUESTS = 120;
const CANDIDATE_SUCCESSES = 90;
const CANDIDATE_ERRORS = 30;
const CANDIDATE_REQUESTS = CANDIDATE_SUCCESSES + CANDIDATE_ERRORS;

/**
 * The candidate: the MLP's inputs and outputs, but its first feature is a category id looked up in a table
 * of 4 rows. An id outside the table fails in ONNX Runtime (Gather: index out of bounds), which the server
 * answers with 500 and counts as outcome "error": a candidate that breaks on some inputs, deterministically.
 */
function categoryModel(): Uint8Array {
  return new GraphBuilder(MODEL)
    .input('input', 'FP32', ['batch', MLP.features])
    .constant('first', [1], new BigInt64Array([0n]))
    .constant('table', [4, MLP.classes], new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]))
    .constant('rows', [2], new BigInt64Array([-1n, BigInt(MLP.classes)]))
    .node('Gather', ['input', 'first'], ['category'], { axis: 1 })
    .node('Cast', ['category'], ['id'], { to: 7 }) // INT64, truncating toward zero
    .node('Gather', ['table', 'id'], ['looked_up'], { axis: 0 })
    .node('Reshape', ['looked_up', 'rows'], ['logits'])
    .node('Softmax', ['logits'], ['probabilities'], { axis: -1 })
    .output('probabilities', 'FP32', ['batch', MLP.classes])
    .toBytes();
}

const row = randomRows(1, MLP.features, 41)[0]; // every feature in [-1, 1): category 0
const inferBody = (data: number[]) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data }] });
const known = inferBody(row);
const unknownCategory = inferBody([100, ...row.slice(1)]);

/** Sends `count` requests one after another (each computed alone), each answered with `status`. */
async function send(server: ServerProcess, body: unknown, count: number, status: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const answer = await postJson(`${server.url}/v2/models/${MODEL}/infer`, body);
    assert.equal(answer.status, status, JSON.stringify(answer.body));
  }
}

const requestSeries = (version: string, outcome: string) =>
  `modelship_inference_requests_total{namespace="${NAMESPACE}",model="${MODEL}",version="${version}",outcome="${outcome}"}`;

/** The upper bound (seconds) of the largest bucket of the server's request-duration histogram that holds observations. */
async function largestBucketHoldingObservations(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const buckets = [...text.matchAll(/^modelship_request_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$/gm)]
    .map((m) => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) }));
  const total = Math.max(...buckets.map((b) => b.count));
  assert.ok(total > 0, 'the server observed request durations');
  return Math.min(...buckets.filter((b) => b.count === total).map((b) => b.le));
}

let stable: ServerProcess;
let candidate: ServerProcess;
let prometheus: LocalPrometheus;
let windowStartedAt: number;
/** The instants (ms) of each version's last scrape, after all the traffic. */
let candidateScrapedAt: number;
let stableScrapedAt: number;

before(async () => {
  ensurePrometheus(); // built by `make kube-binaries`; a cold cache builds it here (about 2 minutes)
  [stable, candidate] = await Promise.all([
    startServer(['--model', modelPath.mlp(), '--name', MODEL, '--version', 'v1']),
    startServer(['--model', writeModel(modelDir, 'iris-v2.onnx', categoryModel()), '--name', MODEL, '--version', 'v2']),
  ]);
  prometheus = await startPrometheus({ targets: [stable, candidate].map((s) => `127.0.0.1:${s.port}`), labels: { namespace: NAMESPACE } });
  const scraped = (selector: string, value: number) => eventually(`Prometheus to scrape ${selector} = ${value}`, async () => {
    const [sample] = await prometheus.query(selector);
    return sample && Number(sample.value[1]) === value ? true : undefined;
  }, { timeoutMs: 15_000, context: () => prometheus.logs() });

  windowStartedAt = Date.now() - 3000;
  // Each request counter's series starts with one request, scraped before the rest arrive.
  await Promise.all([send(stable, known, 1, 200), send(candidate, known, 1, 200), send(candidate, unknownCategory, 1, 500)]);
  await Promise.all([scraped(requestSeries('v1', 'success'), 1), scraped(requestSeries('v2', 'success'), 1), scraped(requestSeries('v2', 'error'), 1)]);
  await Promise.all([
    send(stable, known, STABLE_REQUESTS - 1, 200),
    (async () => {
      await send(candidate, known, CANDIDATE_SUCCESSES - 1, 200);
      await send(candidate, unknownCategory, CANDIDATE_ERRORS - 1, 500);
    })(),
  ]);
  await Promise.all([
    scraped(requestSeries('v1', 'success'), STABLE_REQUESTS),
    scraped(requestSeries('v2', 'success'), CANDIDATE_SUCCESSES),
    scraped(requestSeries('v2', 'error'), CANDIDATE_ERRORS),
  ]);
  // The latest scrape of each server (every series of a target is sampled at the same instant).
  const lastScrape = async (version: string) => Math.round(Number((await prometheus.query(`timestamp(${requestSeries(version, 'success')})`))[0].value[1]) * 1000);
  [stableScrapedAt, candidateScrapedAt] = await Promise.all([lastScrape('v1'), lastScrape('v2')]);
}, { timeout: 15 * 60_000 });

after(async () => {
  await Promise.all([prometheus?.stop(), stable?.stop(), candidate?.stop()]);
});

type Gates = Omit<NonNullable<RolloutSpec['analysis']>, 'provider' | 'prometheusUrl'>;

function modelDeployment(gates: Gates): ModelDeployment {
  return {
    apiVersion: 'serving.modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: MODEL, namespace: NAMESPACE },
    spec: {
      model: { uri: 'file:///models/iris-v2.onnx', version: 'v2' },
      rollout: { steps: [5, 20, 50, 100], analysis: { provider: 'prometheus', prometheusUrl: prometheus.url, ...gates } },
    },
  };
}

function progressing(): RolloutStatus {
  return {
    phase: 'Progressing',
    stable: { version: 'v1', uri: 'file:///models/iris-v1.onnx' },
    candidate: { version: 'v2', uri: 'file:///models/iris-v2.onnx' },
    canaryWeight: 20,
    step: 1,
    windowStartedAt: new Date(windowStartedAt).toISOString(),
    failedChecks: 0,
    message: '',
  };
}

async function check(gates: Gates, now: number): Promise<AnalysisResult> {
  const result = await new PrometheusAnalysis().measure(modelDeployment(gates), progressing(), now);
  assert.notEqual(result, 'no-baseline');
  return result as AnalysisResult;
}

const fmt = (n: number) => String(Number(n.toPrecision(3)));
const passingGates: Gates = { minRequests: 100, maxErrorRate: 0.3, maxLatencyP99Ms: 10_000, maxLatencyP99Ratio: 1000 };

test('a check closing at the candidate\'s last scrape: its requests, errors and p99 over the window, and the verdict of the gates', async () => {
  const result = await check(passingGates, candidateScrapedAt);
  assert.equal(result.candidate.requests, CANDIDATE_REQUESTS);
  assert.equal(result.candidate.errors, CANDIDATE_ERRORS);
  assert.equal(result.candidate.errorRate, 0.25);
  const largest = await largestBucketHoldingObservations(candidate);
  assert.ok(result.candidate.p99Ms !== null && result.candidate.p99Ms > 0 && result.candidate.p99Ms <= largest * 1000,
    `candidate p99 ${result.candidate.p99Ms} ms within (0, ${largest * 1000}] ms`);
  // (The stable server is scraped at another offset within the second: its count in this check is
  // extrapolated over the part of a second since its last scrape, or zero when its final scrape comes
  // after this instant and the window holds a single sample of it. The next test closes at its scrape.)
  assert.equal(result.stable.errors, 0);
  assert.equal(result.phase, 'Progressing');
  assert.equal(result.windowSeconds, Math.round((candidateScrapedAt - windowStartedAt) / 1000));
  assert.equal(result.verdict, 'passed', result.message);
  assert.deepEqual(result.failedGates, []);
  assert.match(result.message, /^120 requests, error rate 0\.25, p99 [\d.]+ ms \(stable (n\/a|[\d.]+ ms)\)$/);
});

test('a check closing at the stable version\'s last scrape: its requests, no errors, and its p99', async () => {
  const result = await check(passingGates, stableScrapedAt);
  assert.equal(result.stable.requests, STABLE_REQUESTS);
  assert.equal(result.stable.errors, 0);
  assert.equal(result.stable.errorRate, 0);
  const largest = await largestBucketHoldingObservations(stable);
  assert.ok(result.stable.p99Ms !== null && result.stable.p99Ms > 0 && result.stable.p99Ms <= largest * 1000,
    `stable p99 ${result.stable.p99Ms} ms within (0, ${largest * 1000}] ms`);
});

test('a candidate p99 above maxLatencyP99Ms fails the check, naming the gate and its numbers', async () => {
  const { candidate: measured } = await check(passingGates, candidateScrapedAt);
  const limit = measured.p99Ms! / 2;
  const result = await check({ ...passingGates, maxLatencyP99Ms: limit }, candidateScrapedAt);
  assert.equal(result.verdict, 'failed');
  assert.deepEqual(result.failedGates, [`candidate p99 latency ${fmt(measured.p99Ms!)} ms > ${fmt(limit)} ms`]);
});

test('a candidate error rate above maxErrorRate fails the check, naming the gate and its numbers', async () => {
  const result = await check({ ...passingGates, maxErrorRate: 0.1 }, candidateScrapedAt);
  assert.equal(result.verdict, 'failed');
  assert.deepEqual(result.failedGates, [`candidate error rate 0.25 > 0.1 (${CANDIDATE_ERRORS} of ${CANDIDATE_REQUESTS})`]);
});

test('minRequests: one request short holds the step (insufficient); exactly enough judges it', async () => {
  const short = await check({ ...passingGates, minRequests: CANDIDATE_REQUESTS + 1 }, candidateScrapedAt);
  assert.equal(short.verdict, 'insufficient');
  assert.deepEqual(short.failedGates, []);
  assert.equal(short.message, `${CANDIDATE_REQUESTS} of ${CANDIDATE_REQUESTS + 1} candidate requests`);
  const enough = await check({ ...passingGates, minRequests: CANDIDATE_REQUESTS }, candidateScrapedAt);
  assert.equal(enough.verdict, 'passed', enough.message);
});

test('Prometheus unreachable: the check cannot judge (insufficient) and says it could not query Prometheus', async () => {
  const closed = await freePort();
  const mdep = modelDeployment(passingGates);
  mdep.spec.rollout!.analysis!.prometheusUrl = `http://127.0.0.1:${closed}`;
  const result = await new PrometheusAnalysis().measure(mdep, progressing(), candidateScrapedAt);
  assert.notEqual(result, 'no-baseline');
  const { verdict, message, candidate: numbers } = result as AnalysisResult;
  assert.equal(verdict, 'insufficient');
  assert.match(message, new RegExp(`^cannot query Prometheus at http://127\\.0\\.0\\.1:${closed}: `));
  assert.equal(numbers.requests, 0);
});
