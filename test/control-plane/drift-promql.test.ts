// The drift counters read by a real Prometheus, as the operator and dashboards will read them: three real
// servers (v1 the MLP, v2 the retrained MLP, v3 the MLP again) with the same baseline, scraped every second
// with the namespace label a cluster's relabeling gives pods, all sent the same rows. The documented PSI
// query (contract/drift-queries.ts) over the counters gives each feature the PSI of the server's own window
// gauge, and the prediction-shift query sees the retrained candidate's predictions move from the stable
// version's while a candidate of the same model shows none; the operator's prometheus analysis provider
// judges its rollout gate (analysis.maxPredictionShift) on those queries.
//
// Why the shares come out exact: every bin counter exists at 0 from the first scrape, which is waited for
// before any row is sent, so increase() has nothing to extrapolate back to; at the end it extrapolates every
// series of one server by the same factor (they share their scrape timestamps), which a share cancels.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { writeJsonLines } from '../support/reference-data.ts';
import { metricValue, postJson, runServerCli, startServer, type ServerProcess } from '../support/server-process.ts';
import { startPrometheus, type LocalPrometheus } from './prometheus.ts';
import { DRIFT_METRICS } from '../../contract/metric-names.ts';
import { driftPsiQuery, predictionShiftQuery } from '../../contract/drift-queries.ts';
import { PrometheusAnalysis } from '../../operator/src/rollout/analysis.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import type { RolloutStatus } from '../../operator/src/rollout/types.ts';

const ROWS = randomRows(600, MLP.features, 31).map((row) => row.map((v, i) => (i < 2 ? v * 0.5 : v)));
let servers: ServerProcess[] = [];
let prometheus: LocalPrometheus;
/** Before any row was sent (and before the first scrape): the start of the rollout check's window. */
let trafficStartedAt: number;

before(async () => {
  const baseline = join(modelDir, 'promql-baseline.json');
  const profiled = await runServerCli(['profile', '--model', modelPath.mlp(), '--data', writeJsonLines(join(modelDir, 'promql-reference.jsonl'), 'input', randomRows(2000, MLP.features, 30)), '--out', baseline]);
  assert.equal(profiled.code, 0, profiled.stderr);
  const retrained = writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build());
  const models = [modelPath.mlp(), retrained, modelPath.mlp()];
  servers = await Promise.all(models.map((model, i) => startServer(['--model', model, '--name', 'mlp', '--version', String(i + 1), '--baseline', baseline, '--drift-min-rows', '1', '--drift-max-rows-per-second', '0'])));
  trafficStartedAt = Date.now();
  prometheus = await startPrometheus({ targets: servers.map((s) => `127.0.0.1:${s.port}`), labels: { namespace: 'ml' } });
  await eventually('a first scrape of every server, before any row', () => rowsScraped(0), { context: () => prometheus.logs() });
  for (const server of servers) {
    for (let start = 0; start < ROWS.length; start += 50) {
      const batch = ROWS.slice(start, start + 50);
      const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, MLP.features], data: batch.flat() }] });
      assert.equal(res.status, 200);
    }
  }
  await eventually('every row scraped', () => rowsScraped(ROWS.length), { context: () => prometheus.logs() });
});

after(async () => {
  await prometheus?.stop();
  await Promise.all(servers.map((s) => s.stop()));
});

const rowsScraped = async (rows: number) => {
  const result = await prometheus.query(`${DRIFT_METRICS.rows}{namespace="ml"}`);
  return result.length === servers.length && result.every((r) => Number(r.value[1]) === rows) ? true : undefined;
};

test('PSI from the counters in PromQL equals the window gauge; the prediction shift query tells a retrained candidate from the same model', async () => {
  const psiByFeature = await prometheus.query(driftPsiQuery('input', '5m', 'namespace="ml",version="1"'));
  assert.equal(psiByFeature.length, MLP.features);
  for (const { metric, value } of psiByFeature) {
    const gauge = await metricValue(servers[0].url, DRIFT_METRICS.input.psi, { feature: metric.feature });
    assert.ok(Math.abs(Number(value[1]) - gauge) < 1e-9, `${metric.feature}: PromQL ${value[1]}, gauge ${gauge}`);
  }
  // The client halved features 0 and 1: they drift, the rest do not.
  const psi = new Map(psiByFeature.map((r) => [r.metric.feature, Number(r.value[1])]));
  assert.ok(psi.get('input[0]')! > 0.25 && psi.get('input[1]')! > 0.25);
  assert.ok(psi.get('input[5]')! < 0.1);

  const shift = async (candidate: string) => {
    const [result] = await prometheus.query(predictionShiftQuery('5m', `namespace="ml",model="mlp",version="${candidate}"`, 'namespace="ml",model="mlp",version="1"'));
    assert.equal(result.metric.output, 'probabilities');
    return Number(result.value[1]);
  };
  assert.ok(await shift('2') > 1, 'the retrained model predicts other classes');
  assert.ok(Math.abs(await shift('3')) < 1e-12, 'the same model on the same rows predicts the same classes');
});

test('provider prometheus: a canary check fails a retrained candidate on its prediction shift and passes the same model', async () => {
  const mdep = { apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'mlp', namespace: 'ml' },
    spec: { model: { uri: 'x', version: '2' }, monitoring: { baseline: { uri: 'https://m/baseline.json' } },
      rollout: { analysis: { provider: 'prometheus', prometheusUrl: prometheus.url, minRequests: 10, maxPredictionShift: 0.1 } } } } as ModelDeployment;
  const check = async (candidate: string) => {
    const status: RolloutStatus = { phase: 'Progressing', stable: { version: '1', uri: 'a' }, candidate: { version: candidate, uri: 'b' }, step: 0, canaryWeight: 50, failedChecks: 0,
      windowStartedAt: new Date(trafficStartedAt).toISOString(), message: '' };
    const result = await new PrometheusAnalysis().measure(mdep, status, Date.now());
    assert.ok(result !== 'no-baseline');
    return result;
  };
  const retrained = await check('2');
  assert.equal(retrained.verdict, 'failed', retrained.message);
  assert.equal(retrained.predictionShift?.output, 'probabilities');
  assert.ok(retrained.predictionShift!.psi! > 1, JSON.stringify(retrained.predictionShift));
  // increase() extrapolates the window's end by the same factor for every bin: the shares, and so the PSI,
  // are exact; the rows at least all that were sent.
  assert.ok(retrained.predictionShift!.candidateRows >= ROWS.length && retrained.predictionShift!.stableRows >= ROWS.length, JSON.stringify(retrained.predictionShift));
  assert.deepEqual(retrained.failedGates, [`prediction shift PSI ${Number(retrained.predictionShift!.psi!.toPrecision(3))} > 0.1 (output probabilities, ${retrained.predictionShift!.candidateRows} candidate and ${retrained.predictionShift!.stableRows} stable rows)`]);
  const same = await check('3');
  assert.equal(same.verdict, 'passed', same.message);
  assert.ok(Math.abs(same.predictionShift!.psi!) < 1e-12, JSON.stringify(same.predictionShift));
});
