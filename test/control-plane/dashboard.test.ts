// The chart's Grafana dashboard, as `helm template` renders it, against a real Prometheus scraping real model
// servers (a stable version and a retrained candidate, both with a baseline) and a real router splitting
// traffic between them with shadow copies, labelled as a cluster's Prometheus labels pods. Every query of
// every panel, with the dashboard's variables filled in, must return series: a panel whose series were
// renamed or never exported fails here, not on someone's screen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { writeJsonLines } from '../support/reference-data.ts';
import { postJson, runServerCli, startServer, type ServerProcess } from '../support/server-process.ts';
import { startRouter, writeRoutes, type RouterProcess } from '../router/router-process.ts';
import { startPrometheus, type LocalPrometheus } from './prometheus.ts';
import { ensureKubeBinaries } from '../../cluster/upstream-binaries.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
/** What a person picks in the dashboard's drop-downs. */
const VARIABLES: Record<string, string> = { namespace: 'ml', model: 'mlp', stable: 'v1', candidate: 'v2', drift_window: '5m', __rate_interval: '1m' };

let servers: ServerProcess[] = [];
let router: RouterProcess;
let prometheus: LocalPrometheus;

before(async () => {
  const baseline = join(modelDir, 'dashboard-baseline.json');
  const profiled = await runServerCli(['profile', '--model', modelPath.mlp(), '--data', writeJsonLines(join(modelDir, 'dashboard-reference.jsonl'), 'input', randomRows(1000, MLP.features, 40)), '--out', baseline]);
  assert.equal(profiled.code, 0, profiled.stderr);
  const retrained = writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build());
  servers = await Promise.all([modelPath.mlp(), retrained].map((model, i) => startServer(['--model', model, '--name', 'mlp', '--version', `v${i + 1}`, '--baseline', baseline, '--drift-min-rows', '1'])));
  router = await startRouter(['--routes-file', writeRoutes({
    versions: [{ name: 'v1', url: servers[0].url, weight: 80 }, { name: 'v2', url: servers[1].url, weight: 20 }],
    shadow: { version: 'v2', percent: 100 },
  })]);
  prometheus = await startPrometheus({
    targets: [...servers, router].map((p) => `127.0.0.1:${p.port}`),
    // The labels Kubernetes discovery and relabeling give the pods of a ModelDeployment named mlp.
    labels: { namespace: 'ml', app_kubernetes_io_instance: 'mlp' },
  });
});

after(async () => {
  await prometheus?.stop();
  await router?.stop();
  await Promise.all(servers.map((s) => s.stop()));
});

function renderedDashboard(): { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ name: string }> } } {
  const rendered = execFileSync(ensureKubeBinaries().helm, ['template', 'modelship', CHART, '--set', 'monitoring.grafanaDashboard.enabled=true',
    '--show-only', 'templates/grafana-dashboard.yaml'], { encoding: 'utf8' });
  const configMap = parseAllDocuments(rendered).map((d) => d.toJS()).find((d) => d?.kind === 'ConfigMap');
  assert.equal(configMap.metadata.labels.grafana_dashboard, '1', 'the label Grafana\'s dashboard sidecar imports by');
  return JSON.parse(configMap.data['modelship.json']);
}

test('every query of every panel of the chart\'s dashboard returns series from real servers and a real router', async () => {
  const dashboard = renderedDashboard();
  for (const name of ['namespace', 'model', 'stable', 'candidate', 'drift_window']) {
    assert.ok(dashboard.templating.list.some((v) => v.name === name), `the dashboard offers the variable ${name}`);
  }
  const rows = randomRows(400, MLP.features, 41);
  // Traffic for 20 s, scraped every second: rates over the 1 m interval and increases get many samples.
  const sending = (async () => {
    const deadline = Date.now() + 20_000;
    for (let i = 0; Date.now() < deadline; i++) {
      const batch = rows.slice((i * 4) % rows.length, (i * 4) % rows.length + 4);
      const res = await postJson(`${router.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, MLP.features], data: batch.flat() }] });
      assert.equal(res.status, 200);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await sending;
  const fill = (expr: string) => expr.replace(/\$(\w+)/g, (whole, name: string) => VARIABLES[name] ?? whole);
  const empty: string[] = [];
  await eventually('every panel\'s queries to return series', async () => {
    empty.length = 0;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const expr = fill(target.expr);
        assert.doesNotMatch(expr, /\$/, `${panel.title}: a variable the test does not fill`);
        if ((await prometheus.query(expr)).length === 0) empty.push(`${panel.title}: ${expr}`);
      }
    }
    return empty.length === 0 ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 1000, context: () => `no series for:\n${empty.join('\n')}` });
  assert.ok(dashboard.panels.length >= 9);
});
