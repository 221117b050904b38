// The chart's Grafana dashboard, as `helm template` renders it, against a real Prometheus scraping real model
// servers (a stable version and a retrained candidate, both with a baseline), the real router in front of
// them and the real operator rolling the candidate out on a real kube-apiserver, each labelled as a
// cluster's Prometheus labels their pods (the operator's as the kubernetes-pods job labels the chart's
// operator pod: its own namespace as `namespace`). The router follows the routes the operator writes
// (local-traffic.ts); the operator judges the shadowed candidate on the router's /metrics, finds it
// disagreeing and rolls it back. Every query of every panel, with the dashboard's variables filled in, must
// return series: a panel whose series were renamed or never exported fails here, not on someone's screen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/free-port.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { writeJsonLines } from '../support/reference-data.ts';
import { postJson, runServerCli, startServer, type ServerProcess } from '../support/server-process.ts';
import { startLocalRouter, type LocalRouter } from './local-traffic.ts';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { OPERATOR_NAMESPACE, operatorKubeconfig, startOperator } from './operator-identity.ts';
import { startPrometheus, type LocalPrometheus } from './prometheus.ts';
import { ensureKubeBinaries } from '../../cluster/upstream-binaries.ts';
import { OPERATOR_HEALTH_PORT } from '../../contract/ports.ts';
import type { ROLLOUT_PHASES } from '../../contract/metric-names.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
/** What a person picks in the dashboard's drop-downs. */
const VARIABLES: Record<string, string> = { namespace: 'ml', model: 'mlp', stable: 'v1', candidate: 'v2', drift_window: '5m', __rate_interval: '1m' };
const fill = (expr: string) => expr.replace(/\$([a-z_]\w*)/g, (whole, name: string) => VARIABLES[name] ?? whole);

interface Dashboard {
  panels: Array<{ title: string; type: string; targets: Array<{ expr: string }>; fieldConfig: { defaults: { mappings?: Array<{ options: Record<string, { text: string }> }> } } }>;
  templating: { list: Array<{ name: string }> };
}

let servers: ServerProcess[] = [];
let cluster: LocalCluster;
let operator: ChildProcess | undefined;
let operatorMetrics: string;
let router: LocalRouter;
let prometheus: LocalPrometheus;
const logs: string[] = [];
const context = () => logs.slice(-20).join('');

const kubectlJson = async (...args: string[]) => JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
const rolloutStatus = async () => (await kubectlJson('get', '-n', 'ml', 'mdep', 'mlp')).status?.rollout;
const model = (version: string) => ({ uri: `https://models.example.com/mlp/${version}.onnx`, version });

function helmTemplate(...args: string[]): any[] {
  const rendered = execFileSync(ensureKubeBinaries().helm, ['template', 'modelship', CHART, '--namespace', OPERATOR_NAMESPACE, ...args], { encoding: 'utf8' });
  return parseAllDocuments(rendered).map((d) => d.toJS()).filter(Boolean);
}

/**
 * The labels the kubernetes-pods job (cluster/addons.ts) gives the chart's operator pod when it scrapes it by
 * its prometheus.io annotations: its namespace, its name, and its labels with `.` and `/` as `_`.
 */
function operatorPodLabels(): Record<string, string> {
  const deployment = helmTemplate('--show-only', 'templates/deployment.yaml').find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.metadata;
  assert.equal(pod.annotations['prometheus.io/scrape'], 'true', 'the chart has Prometheus scrape the operator');
  assert.equal(pod.annotations['prometheus.io/port'], String(OPERATOR_HEALTH_PORT), 'at the port the operator serves /metrics on');
  const labels = Object.fromEntries(Object.entries(pod.labels as Record<string, string>).map(([k, v]) => [k.replace(/[^a-zA-Z0-9_]/g, '_'), v]));
  return { ...labels, namespace: deployment.metadata.namespace, pod: 'modelship-operator-6d4cf56db6-x7k2p' };
}

function renderedDashboard(): Dashboard {
  const configMap = helmTemplate('--set', 'monitoring.grafanaDashboard.enabled=true', '--show-only', 'templates/grafana-dashboard.yaml').find((d) => d.kind === 'ConfigMap');
  assert.equal(configMap.metadata.labels.grafana_dashboard, '1', 'the label Grafana\'s dashboard sidecar imports by');
  return JSON.parse(configMap.data['modelship.json']);
}

before(async () => {
  const baseline = join(modelDir, 'dashboard-baseline.json');
  const profiled = await runServerCli(['profile', '--model', modelPath.mlp(), '--data', writeJsonLines(join(modelDir, 'dashboard-reference.jsonl'), 'input', randomRows(1000, MLP.features, 40)), '--out', baseline]);
  assert.equal(profiled.code, 0, profiled.stderr);
  const retrained = writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build());
  servers = await Promise.all([modelPath.mlp(), retrained].map((model, i) => startServer(['--model', model, '--name', 'mlp', '--version', `v${i + 1}`, '--baseline', baseline, '--drift-min-rows', '1'])));

  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
  // The operator must know where the router's metrics will be before the router can start.
  const [routerPort, operatorPort] = [await freePort(), await freePort()];
  operatorMetrics = `http://127.0.0.1:${operatorPort}/metrics`;
  operator = startOperator(await operatorKubeconfig(cluster), ['--workers', '2', '--lease-duration-ms', '3000', '--resync-ms', '5000', '--health-port', String(operatorPort),
    '--router-metrics', `ml/mlp=http://127.0.0.1:${routerPort}/metrics`], (chunk) => logs.push(chunk));
  // Shadow every request to the candidate, checked every 2 s: the retrained candidate disagrees, and its
  // second failed check rolls it back.
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'mlp', namespace: 'ml' },
    spec: { model: model('v1'), rollout: { shadow: { percent: 100, duration: '1m', minComparisons: 10, minAgreement: 0.9 }, steps: [50, 100], stepInterval: '2s', analysis: { minRequests: 10, failureThreshold: 2 } } },
  }));
  router = await startLocalRouter(cluster, 'ml', 'mlp', { v1: servers[0].url, v2: servers[1].url }, (line) => logs.push(line), routerPort);
  prometheus = await startPrometheus({
    targets: [...servers, router].map((p) => new URL(p.url).host),
    // The labels Kubernetes discovery and relabeling give the pods of a ModelDeployment named mlp.
    labels: { namespace: 'ml', app_kubernetes_io_instance: 'mlp' },
    groups: [{ targets: [`127.0.0.1:${operatorPort}`], labels: operatorPodLabels() }],
  });
}, { timeout: 10 * 60_000 });

after(async () => {
  await prometheus?.stop();
  await router?.stop();
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await once(operator, 'exit');
  }
  await Promise.all(servers.map((s) => s.stop()));
  await cluster?.stop();
});

/** Clients sending batches of four rows through the router until stopped; the status of every answer. */
function sendTraffic(): { statuses: number[]; stop(): Promise<void> } {
  const rows = randomRows(400, MLP.features, 41);
  const statuses: number[] = [];
  let sending = true;
  const loop = (async () => {
    for (let i = 0; sending; i++) {
      const batch = rows.slice((i * 4) % rows.length, (i * 4) % rows.length + 4);
      const res = await postJson(`${router.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, MLP.features], data: batch.flat() }] });
      statuses.push(res.status);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    statuses,
    async stop() {
      sending = false;
      await loop;
    },
  };
}

const dashboard = renderedDashboard();
const panel = (title: RegExp) => {
  const found = dashboard.panels.find((p) => title.test(p.title));
  assert.ok(found, `a panel titled ${title}`);
  return found;
};
/** The phase panel's number for each phase, as its value mappings show it. */
const phaseNumber = (phase: (typeof ROLLOUT_PHASES)[number]) => {
  const [mapping] = panel(/^Rollout phase/).fieldConfig.defaults.mappings!;
  const [value] = Object.entries(mapping.options).find(([, shown]) => shown.text === phase)!;
  return Number(value);
};
/** The phase panel's value for ml/mlp now, once Prometheus has scraped it. */
const phaseShown = async () => Number((await prometheus.query(fill(panel(/^Rollout phase/).targets[0].expr)))[0]?.value[1]);
let rolloutStarted: number;

test('every query of every panel of the chart\'s dashboard returns series from real servers, the router and the operator during a rollout', async () => {
  for (const name of ['namespace', 'model', 'stable', 'candidate', 'drift_window']) {
    assert.ok(dashboard.templating.list.some((v) => v.name === name), `the dashboard offers the variable ${name}`);
  }
  const traffic = sendTraffic();
  try {
    await eventually('the phase panel to show Initialized', async () => ((await phaseShown()) === phaseNumber('Initialized') ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, context });
    rolloutStarted = Date.now();
    await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'mlp', '--type', 'merge', '-p', JSON.stringify({ spec: { model: model('v2') } })]);
    // The candidate's pods start (nothing runs pods here: its Deployment is marked ready once the panel saw it wait).
    await eventually('the phase panel to show Progressing', async () => ((await phaseShown()) === phaseNumber('Progressing') ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, context });
    const [candidate] = (await kubectlJson('get', '-n', 'ml', 'deployment', '-l', 'app.kubernetes.io/component=model-server,serving.modelship.dev/version=v2')).items;
    await cluster.kubectl(['-n', 'ml', 'patch', 'deployment', candidate.metadata.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 } })]);
    await eventually('the candidate rolled back', async () => ((await rolloutStatus())?.phase === 'RolledBack' ? true : undefined), { timeoutMs: 60_000, intervalMs: 500, context });
    await eventually('the phase panel to show RolledBack', async () => ((await phaseShown()) === phaseNumber('RolledBack') ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, context });

    const empty: string[] = [];
    await eventually('every panel\'s queries to return series', async () => {
      empty.length = 0;
      for (const { title, targets } of dashboard.panels) {
        for (const target of targets) {
          const expr = fill(target.expr);
          assert.doesNotMatch(expr, /\$[a-z_]/, `${title}: a variable the test does not fill`);
          if ((await prometheus.query(expr)).length === 0) empty.push(`${title}: ${expr}`);
        }
      }
      return empty.length === 0 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000, context: () => `no series for:\n${empty.join('\n')}` });
  } finally {
    await traffic.stop();
  }
  assert.deepEqual(traffic.statuses.filter((s) => s !== 200), [], 'every request answered');
  assert.ok(dashboard.panels.length >= 13);
});

test('the rollout panels show the phases the candidate went through, its versions, its shadow share, its failed checks and its rollback', async () => {
  /** Each series of a panel's query from the rollout's start until now (rolled back), every second, by its candidate label ("" while there was none). */
  const overRollout = async (title: RegExp, target = 0) => {
    // Steps back from now, so that the last one is now (the rollback may have been scraped less than a step ago).
    const end = Date.now();
    const series = await prometheus.queryRange(fill(panel(title).targets[target].expr), end - 1000 * Math.ceil((end - rolloutStarted) / 1000 + 5), end, 1);
    for (const { metric } of series) assert.deepEqual({ ...metric, candidate: undefined }, { namespace: 'ml', name: 'mlp', stable: 'v1', candidate: undefined }, `${title}: the ModelDeployment's namespace (not the operator pod's) and its stable version`);
    return new Map(series.map((s) => [s.metric.candidate ?? '', s.values.map(([, v]) => Number(v))]));
  };
  const changes = (values: number[] = []) => values.filter((v, i) => v !== values[i - 1]);
  assert.equal(panel(/^Rollout phase/).type, 'state-timeline');
  const phases = await overRollout(/^Rollout phase/);
  assert.deepEqual([...phases.keys()].sort(), ['', 'v2']);
  assert.deepEqual(changes(phases.get('')), [phaseNumber('Initialized')], 'before the rollout: v1 alone');
  assert.deepEqual(changes(phases.get('v2')), (['Progressing', 'Shadowing', 'RolledBack'] as const).map(phaseNumber), 'v2 waited for its pods, shadowed, and was rolled back');

  const weight = await overRollout(/candidate's share of traffic/, 0);
  assert.deepEqual(changes(weight.get('v2')), [0], 'a shadowed candidate gets no real traffic');
  const shadow = (await overRollout(/candidate's share of traffic/, 1)).get('v2')!;
  assert.deepEqual(changes(shadow), [0, 100, 0], 'every request copied to it while it shadowed, none before or after');
  const failed = (await overRollout(/failed checks/)).get('v2')!;
  assert.deepEqual([failed[0], failed.at(-1)], [0, 2], 'none when it started, failureThreshold when it was rolled back');
  assert.ok(changes(failed).every((v, i, all) => i === 0 || v > all[i - 1]), `counted up: ${changes(failed)}`);
  const rolledBack = await prometheus.query(fill(panel(/rolled back/).targets[0].expr));
  assert.deepEqual(rolledBack.map((s) => s.metric), [{ namespace: 'ml', name: 'mlp' }]);
  assert.ok(Number(rolledBack[0].value[1]) > 0, 'the rollback counted');
});

test('a deleted ModelDeployment\'s rollout series leave the operator\'s /metrics', async () => {
  const series = async () => (await (await fetch(operatorMetrics)).text()).split('\n').filter((line) => /^modelship_operator_(rollout_|rollbacks_total)/.test(line));
  assert.ok((await series()).some((line) => line.includes('name="mlp"')));
  await cluster.kubectl(['delete', '-n', 'ml', 'mdep', 'mlp']);
  await eventually('the series of mlp gone', async () => ((await series()).length === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, context });
});
