// The third part of `make demo`: rollouts with real traffic. The operator runs on a local simulated
// cluster; the router and two model servers run as local processes beside it (kwok's pods run no
// containers), with clients sending requests through the router the whole time. A GitOps-style patch of
// spec.model first shadows, then canaries the new version, which is promoted; then a retrained model that
// disagrees with the stable one is caught in its shadow phase and rolled back before any client sees it.
// Last, the clients' data drifts from the model's baseline, and the Drifting condition says so.
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../test/control-plane/local-cluster.ts';
import { operatorKubeconfig, startOperator } from '../test/control-plane/operator-identity.ts';
import { addGpuNodes } from '../test/control-plane/gpu-nodes.ts';
import { startClientLoad, startLocalRouter } from '../test/control-plane/local-traffic.ts';
import { freePort } from '../test/support/free-port.ts';
import { startServer } from '../test/support/server-process.ts';
import { DRIFTED_FEATURES, drifted, EXAMPLE_BASELINE, REFERENCE_ROWS } from './models/reference-data.ts';
import { columnDrift } from '../operator/src/monitoring/drift-judgement.ts';
import { scrapeText } from '../operator/src/monitoring/scrape.ts';
import { describeDrift } from '../cluster/scenario.ts';

const path = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CRD = path('../crds/modeldeployment.yaml');
const model = (version: string) => ({ uri: `https://models.example.com/iris/${version}.onnx`, version });

console.log('\nrollouts: a local control plane, the operator, a router and two model servers with clients sending requests...');
const cluster = await startLocalCluster({ simulated: true, crds: [CRD] });
// What the operator's Deployments would run for the spec below: drift against the MLP's baseline over 20 s.
const monitoring = ['--baseline', path(`./models/${EXAMPLE_BASELINE}`), '--drift-window-seconds', '20'];
const servers = [
  await startServer(['--model', path('./models/mlp.onnx'), '--name', 'iris', '--version', 'v1', ...monitoring]),
  await startServer(['--model', path('./models/mlp.onnx'), '--name', 'iris', '--version', 'v2', ...monitoring]),
  await startServer(['--model', path('./models/mlp-retrained.onnx'), '--name', 'iris', '--version', 'v3', ...monitoring]),
];
const routerPort = await freePort();
let operator: ReturnType<typeof startOperator> | undefined;
let stopAll = async () => {};
try {
  await addGpuNodes(cluster);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  operator = startOperator(await operatorKubeconfig(cluster), ['--log-level', 'warn', '--router-metrics', `ml/iris=http://127.0.0.1:${routerPort}/metrics`,
    ...['v1', 'v2', 'v3'].flatMap((version, i) => ['--server-metrics', `ml/iris/${version}=${servers[i].url}/metrics`])]);
  const iris = {
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
    spec: {
      model: model('v1'),
      monitoring: { baseline: { uri: 'https://models.example.com/iris/baseline.json' }, drift: { windowSeconds: 20 } },
      rollout: {
        shadow: { percent: 50, duration: '4s', minComparisons: 30, minAgreement: 0.95, maxDivergence: 0.01 },
        steps: [10, 50, 100], stepInterval: '2s',
        analysis: { minRequests: 20, maxErrorRate: 0.01, maxLatencyP99Ratio: 3, failureThreshold: 2 },
      },
    },
  };
  console.log('$ kubectl apply -f iris.yaml   # v1, with a shadow-then-canary rollout policy');
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(iris));
  const router = await startLocalRouter(cluster, 'ml', 'iris', { v1: servers[0].url, v2: servers[1].url, v3: servers[2].url }, () => undefined, routerPort);
  // The clients read this array on every request: replacing its rows changes what they send.
  const rowsSent = REFERENCE_ROWS.slice(0, 500);
  const load = startClientLoad(router.url, 'iris', rowsSent, 3, 4);
  stopAll = async () => {
    await load.stop();
    await router.stop();
  };
  await cluster.kubectl(['wait', '-n', 'ml', '--for=condition=Ready', 'mdep/iris', '--timeout=120s']);

  /** Prints each change of the rollout with what the clients got since the previous line. */
  const follow = async (done: (rollout: any) => boolean) => {
    const started = Date.now();
    let last = '';
    let counted = load.answers.length;
    for (;;) {
      const rollout = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'iris', '-o', 'json'])).status?.rollout ?? {};
      const line = `${(rollout.phase ?? '').padEnd(11)} weight ${String(rollout.canaryWeight ?? 0).padStart(3)}%${rollout.shadowPercent ? ` shadow ${rollout.shadowPercent}%` : ''}  ${rollout.message ?? ''}`;
      if (line !== last) {
        const answers = load.answers.slice(counted);
        counted = load.answers.length;
        const byVersion = new Map<string, number>();
        for (const a of answers) byVersion.set(a.status === 200 ? a.version! : `HTTP ${a.status}`, (byVersion.get(a.status === 200 ? a.version! : `HTTP ${a.status}`) ?? 0) + 1);
        const got = [...byVersion].map(([v, n]) => `${v}:${n}`).join(' ') || '-';
        console.log(`  +${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${line}   [clients got ${got}]`);
        last = line;
      }
      if (done(rollout)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  console.log('\n$ kubectl patch mdep iris --type merge -p \'{"spec":{"model":{"version":"v2",...}}}\'   # same classifier, new build');
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'iris', '--type', 'merge', '-p', JSON.stringify({ spec: { model: model('v2') } })]);
  await follow((r) => r.phase === 'Succeeded' && r.stable?.version === 'v2');

  console.log('\n$ kubectl patch mdep iris ... version v3   # a retrained classifier that disagrees with v2');
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'iris', '--type', 'merge', '-p', JSON.stringify({ spec: { model: model('v3') } })]);
  await follow((r) => r.phase === 'RolledBack');

  console.log(`\nthe clients' features ${DRIFTED_FEATURES.join(', ')} move down by 0.8 (of their [-1, 1) range): the stable version's drift, as its server and the operator see it`);
  const driftFrom = Date.now();
  rowsSent.splice(0, rowsSent.length, ...drifted(REFERENCE_ROWS.slice(0, 500)));
  let lastDrift = '';
  for (;;) {
    const conditions = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'iris', '-o', 'json'])).status?.conditions ?? [];
    const drifting = conditions.find((c: { type: string }) => c.type === 'Drifting');
    const line = describeDrift({ condition: drifting, columns: columnDrift([await scrapeText(`${servers[1].url}/metrics`)]) });
    if (line !== lastDrift) console.log(`  +${((Date.now() - driftFrom) / 1000).toFixed(1).padStart(5)}s  ${line}`);
    lastDrift = line;
    if (drifting?.status === 'True') {
      console.log(`  ${drifting.message}`);
      break;
    }
    if (Date.now() - driftFrom > 120_000) throw new Error('Drifting did not turn True within 120 s');
    await new Promise((r) => setTimeout(r, 1000));
  }

  console.log('\n$ kubectl get mdep -n ml');
  console.log(await cluster.kubectl(['get', 'mdep', '-n', 'ml']));
  console.log('$ kubectl get events -n ml --field-selector involvedObject.kind=ModelDeployment,involvedObject.name=iris');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.kind=ModelDeployment,involvedObject.name=iris', '--sort-by', '.lastTimestamp', '-o', 'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message']);
  console.log(events.split('\n').filter((l) => !/\bApplied\b/.test(l)).join('\n'));
  const failed = load.answers.filter((a) => a.status !== 200).length;
  console.log(`clients: ${load.answers.length} requests, ${failed} failed, ${load.answers.filter((a) => a.version === 'v3').length} answered by v3`);
} finally {
  await stopAll();
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await once(operator, 'exit');
  }
  await Promise.all(servers.map((s) => s.stop()));
  await cluster.stop();
}
