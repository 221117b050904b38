// Conformance with Triton's load generator: perf_analyzer 2.48.0 (NVIDIA's binary from the tritonclient
// wheel, set up in the cache by perf-analyzer.ts) drives the real server and the real router at concurrency
// 1 and 64, with zero data and with a real-data JSON file, as the README tells users to, and with its
// default random data (refused by default, computed with allowNonFinite). Every run must finish and report
// both levels; the server side of its report, which it computes from our /v2/models/{name}/stats, must
// agree with what it counted itself and with the server's /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import { GraphBuilder } from '../models/onnx-builder.ts';
import { sampleSum, scrape, startRouter, writeRoutes, type RouterProcess } from '../router/router-process.ts';
import { perfAnalyzer, runPerfAnalyzer, type Level, type PerfAnalyzer, type Run } from './perf-analyzer.ts';

/**
 * How far perf_analyzer's own request count and the server's may differ in one level: it brackets each
 * measurement window with a /stats call, so the requests in flight at each end of a window (up to the
 * concurrency), and those answered while a /stats call is under way, can land on either side.
 */
const countTolerance = (level: Level) => 2 * level.concurrency + 0.05 * level.client.requests;

const hostPort = (url: string) => url.replace(/^http:\/\//, '');

/** perf_analyzer's data file: real rows, one per request, in its JSON input format. */
function realDataFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'modelship-perf-data-')), 'mlp-rows.json');
  writeFileSync(path, JSON.stringify({ data: randomRows(64, MLP.features, 7).map((row) => ({ input: row })) }));
  return path;
}

/**
 * An identity model over 512 floats a row: perf_analyzer's default random data fills inputs with random
 * bytes, which over 512 floats include a NaN (element 298, its generator being seeded the same every run).
 */
function wideIdentityModel(): string {
  const bytes = new GraphBuilder('wide_identity')
    .input('x', 'FP32', ['batch', 512])
    .node('Identity', ['x'], ['y'])
    .output('y', 'FP32', ['batch', 512])
    .toBytes();
  return writeModel(modelDir, 'wide_identity.onnx', bytes);
}

/** The server's own counts, from /metrics. */
async function serverCounts(url: string): Promise<{ successes: number; others: number }> {
  const text = await scrape(url);
  const all = sampleSum(text, 'modelship_inference_requests_total');
  const successes = sampleSum(text, 'modelship_inference_requests_total', { outcome: 'success' });
  return { successes, others: all - successes };
}

function assertBothLevels(run: Run): void {
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.levels.map((l) => l.concurrency), [1, 64], run.output);
  for (const level of run.levels) {
    assert.ok(level.client.requests > 0 && level.client.throughput > 0, run.output);
    assert.ok(level.client.p50Us > 0 && level.client.p99Us >= level.client.p50Us, run.output);
  }
}

/** The server side of the report against perf_analyzer's own measurements, level by level. */
function assertServerSideAgrees(run: Run): void {
  for (const level of run.levels) {
    const { client, server } = level;
    const context = `concurrency ${level.concurrency}: ${JSON.stringify(level)}`;
    assert.ok(Math.abs(client.requests - server.successes) <= countTolerance(level), `requests: perf_analyzer counted ${client.requests}, the server ${server.successes}; ${context}`);
    // One row a request: rows computed and requests answered are the same count, seen a moment apart.
    assert.ok(Math.abs(server.inferences - server.successes) <= countTolerance(level), context);
    assert.ok(server.executions >= 1 && server.executions <= server.inferences, context);
    // The server's time of a request lies within the client's, and its phases within the server's time
    // (perf_analyzer's "overhead" is what is left; a phase counted twice would make it negative).
    assert.ok(server.avgUs <= client.avgUs, context);
    assert.ok(server.queueUs + server.computeInputUs + server.computeInferUs + server.computeOutputUs <= server.avgUs, context);
    assert.ok(server.computeInferUs > 0, context);
  }
}

let pa: PerfAnalyzer;
before(() => {
  pa = perfAnalyzer();
});

describe('perf_analyzer against the server', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp()]);
  });
  after(() => server?.stop());

  const measured = async (options: Record<string, string>) => {
    const before = await serverCounts(server.url);
    const run = await runPerfAnalyzer(pa, hostPort(server.url), 'mlp', options);
    const after = await serverCounts(server.url);
    return { run, successes: after.successes - before.successes, others: after.others - before.others };
  };

  for (const [what, inputData] of [['zero data', 'zero'], ['a real-data JSON file', realDataFile()]]) {
    test(`${what}: both levels reported, the server's statistics agree with perf_analyzer's counts and with /metrics`, async () => {
      const { run, successes, others } = await measured({ '--input-data': inputData });
      assertBothLevels(run);
      assertServerSideAgrees(run);
      // Everything it measured was answered with success, and the server counted at least that many.
      assert.equal(others, 0, 'no request failed');
      const reported = run.levels.reduce((n, l) => n + l.client.requests, 0);
      assert.ok(successes >= reported, `/metrics counted ${successes} successes, perf_analyzer measured ${reported}`);
    });
  }
});

describe("perf_analyzer's default random data (random bytes, NaN among them)", () => {
  let strict: ServerProcess;
  let lenient: ServerProcess;
  before(async () => {
    const model = wideIdentityModel();
    [strict, lenient] = await Promise.all([
      startServer(['--model', model]),
      startServer(['--model', model, '--allow-non-finite', 'true']),
    ]);
  });
  after(() => Promise.all([strict?.stop(), lenient?.stop()]));

  test('is refused by default, and the error names the setting that accepts it', async () => {
    const run = await runPerfAnalyzer(pa, hostPort(strict.url), 'wide_identity', { '--concurrency-range': '1:1' });
    assert.notEqual(run.code, 0, run.output);
    assert.match(run.output, /input 'x': element \d+ is NaN; the model takes finite numbers \(the server setting allowNonFinite lets them through\)/);
  });

  test('is computed at both levels with allowNonFinite', async () => {
    const run = await runPerfAnalyzer(pa, hostPort(lenient.url), 'wide_identity');
    assertBothLevels(run);
    assertServerSideAgrees(run);
  });
});

describe('perf_analyzer through the router in front of two versions', () => {
  let v1: ServerProcess;
  let v2: ServerProcess;
  let router: RouterProcess;
  before(async () => {
    // Numeric versions, as Triton's are: perf_analyzer reads the statistics of the highest one.
    [v1, v2] = await Promise.all([
      startServer(['--model', modelPath.mlp(), '--version', '1']),
      startServer(['--model', writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build()), '--name', 'mlp', '--version', '2']),
    ]);
    router = await startRouter(['--routes-file', writeRoutes({ versions: [{ name: '2', url: v2.url, weight: 50 }, { name: '1', url: v1.url, weight: 50 }] })]);
  });
  after(async () => {
    await Promise.all([router?.stop(), v1?.stop(), v2?.stop()]);
  });

  test('zero data: both levels reported, and both versions answered', async () => {
    const before = await Promise.all([serverCounts(v1.url), serverCounts(v2.url)]);
    const run = await runPerfAnalyzer(pa, hostPort(router.url), 'mlp', { '--input-data': 'zero' });
    const after = await Promise.all([serverCounts(v1.url), serverCounts(v2.url)]);
    assertBothLevels(run);
    const reported = run.levels.reduce((n, l) => n + l.client.requests, 0);
    const answered = after.map((a, i) => a.successes - before[i].successes);
    assert.ok(answered[0] > 0 && answered[1] > 0, `each version answered some: ${answered}`);
    assert.ok(answered[0] + answered[1] >= reported, `the versions answered ${answered}, perf_analyzer measured ${reported}`);
    assert.deepEqual(after.map((a, i) => a.others - before[i].others), [0, 0], 'no request failed');
  });
});
