// Rollouts end to end: the operator on a simulated cluster (real kube-apiserver, controller-manager,
// scheduler, kwok pods) runs each rollout; the traffic is real: a real router process (the one the
// operator's Deployment would run) watches the routes ConfigMap the operator writes, with the router's own
// ServiceAccount token, and splits real inference requests between real model servers on loopback. The
// operator reads the router's /metrics for its checks (--router-metrics, as an operator outside the
// cluster does). In a cluster the same flow runs with the router pods and per-version Services instead of
// the loopback processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { eventually as poll } from '../support/eventually.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { addGpuNodes, GPU_NODES } from './gpu-nodes.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { startClientLoad, startLocalRouter, type LocalRouter } from './local-traffic.ts';
import { freePort } from '../support/free-port.ts';
import { modelDir } from '../support/model-files.ts';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));

let cluster: LocalCluster;
let operatorConfig: string;
let operator: ChildProcess | undefined;
let router: LocalRouter | undefined;
let routerUrl: string;
const servers: ServerProcess[] = [];
const logs: string[] = [];
const rows = randomRows(64, MLP.features, 5);

const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000) =>
  poll(what, probe, { timeoutMs, intervalMs: 200, context: () => logs.slice(-15).join('') });
const getJson = async (...args: string[]) => JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
const mdep = () => getJson('get', '-n', 'ml', 'mdep', 'iris');
const patchSpec = (spec: Record<string, unknown>) => cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'iris', '--type', 'merge', '-p', JSON.stringify({ spec })]);
const model = (version: string) => ({ uri: `https://models.example.com/iris/${version}.onnx`, version });

const startIrisOperator = (routerMetrics: string) => startOperator(operatorConfig,
  ['--workers', '2', '--lease-duration-ms', '3000', '--resync-ms', '5000', '--router-metrics', `ml/iris=${routerMetrics}`], (chunk) => logs.push(chunk));

let load: ReturnType<typeof startClientLoad>;
const answers = () => load.answers;

/** The rollout's phase and weight as they change, sampled from status. */
async function watchRollout(until: (status: any) => boolean, timeoutMs = 90_000): Promise<Array<{ phase: string; weight: number }>> {
  const seen: Array<{ phase: string; weight: number }> = [];
  await eventually('the rollout to finish', async () => {
    const rollout = (await mdep()).status?.rollout;
    if (!rollout) return undefined;
    const last = seen.at(-1);
    if (!last || last.phase !== rollout.phase || last.weight !== rollout.canaryWeight) seen.push({ phase: rollout.phase, weight: rollout.canaryWeight });
    return until(rollout) ? true : undefined;
  }, timeoutMs);
  return seen;
}

before(async () => {
  cluster = await startLocalCluster({ simulated: true, crds: [CRD] });
  await addGpuNodes(cluster);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  operatorConfig = await operatorKubeconfig(cluster);
  // v1 and v2 are the same classifier (they agree); v3 is retrained (it disagrees).
  const [same, retrained] = [writeModel(modelDir, 'iris.onnx', MLP.build()), writeModel(modelDir, 'iris-retrained.onnx', MLP_RETRAINED.build())];
  for (const [version, path] of [['v1', same], ['v2', same], ['v3', retrained]]) {
    servers.push(await startServer(['--model', path, '--name', 'iris', '--version', version]));
  }
  const deadPort = await freePort();
  // The operator must know where the router's metrics will be before the router can start.
  const routerPort = await freePort();
  routerUrl = `http://127.0.0.1:${routerPort}`;
  operator = startIrisOperator(`${routerUrl}/metrics`);
  await cluster.kubectl(['apply', '-n', 'ml', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
    spec: { model: model('v1'), rollout: { steps: [20, 60, 100], stepInterval: '2s', analysis: { minRequests: 10, maxErrorRate: 0.02, failureThreshold: 2 } } },
  }));
  const upstreams = { v1: servers[0].url, v2: servers[1].url, v3: servers[2].url, v4: `http://127.0.0.1:${deadPort}`, v5: servers[1].url, v6: servers[0].url, v7: servers[1].url, v8: servers[0].url, v9: servers[2].url };
  router = await startLocalRouter(cluster, 'ml', 'iris', upstreams, (line) => logs.push(line), routerPort);
  load = startClientLoad(routerUrl, 'iris', rows);
  await eventually('iris Ready on v1', async () => ((await mdep()).status?.phase === 'Ready' ? true : undefined));
}, { timeout: 60 * 60_000 });

after(async () => {
  await load?.stop();
  await router?.stop();
  if (operator && operator.exitCode === null) operator.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
  await cluster?.stop();
});

const since = (t: number) => answers().filter((a) => a.at >= t);

test('a canary that passes its checks climbs the steps and is promoted; clients never see an error', async () => {
  const started = Date.now();
  await patchSpec({ model: model('v2') });
  const seen = await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v2');
  const weights = seen.filter((s) => s.phase === 'Progressing' && s.weight > 0).map((s) => s.weight);
  assert.deepEqual(weights, [20, 60, 100], `phases seen: ${JSON.stringify(seen)}`);
  assert.ok(seen.some((s) => s.phase === 'Promoting'));
  const status = (await mdep()).status;
  assert.equal(status.stableVersion, 'v2');
  assert.equal(status.rollout.lastAnalysis.verdict, 'passed');
  assert.ok(status.rollout.lastAnalysis.candidate.requests >= 10);
  const during = since(started);
  assert.deepEqual(during.filter((a) => a.status !== 200), [], 'no client request failed during the rollout');
  assert.ok(during.some((a) => a.version === 'v2') && during.some((a) => a.version === 'v1'), 'both versions answered during the canary');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=iris', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
  for (const step of ['20%', '60%', '100%']) assert.match(events, new RegExp(`StepAdvanced: candidate v2 at weight ${step}`));
  assert.match(events, /Promoted: version v2 is stable/);
  await eventually('v1 removed', async () => ((await cluster.kubectl(['get', '-n', 'ml', 'deployment', '-l', 'serving.modelship.dev/version=v1', '-o', 'name'])).trim() === '' ? true : undefined));
});

test('a shadowed candidate that disagrees is rolled back before any client gets its answer', async () => {
  const started = Date.now();
  await patchSpec({
    model: model('v3'),
    rollout: { shadow: { percent: 50, duration: '6s', minComparisons: 20, minAgreement: 0.9 } },
  });
  const seen = await watchRollout((r) => r.phase === 'RolledBack' && r.candidate?.version === 'v3');
  assert.ok(seen.some((s) => s.phase === 'Shadowing'), JSON.stringify(seen));
  assert.ok(seen.every((s) => s.weight === 0), 'no real traffic reached the candidate');
  const status = (await mdep()).status;
  assert.equal(status.stableVersion, 'v2');
  assert.match(status.rollout.message, /top-1 agreement 0\.\d+ < 0\.9/);
  assert.ok(status.rollout.lastAnalysis.shadow.comparisons >= 1);
  assert.equal(status.conditions.find((c: any) => c.type === 'Degraded').reason, 'RolledBack');
  assert.equal(since(started).filter((a) => a.version === 'v3').length, 0, 'clients only got the stable answers');
  assert.deepEqual(since(started).filter((a) => a.status !== 200), []);
  await eventually('the candidate removed', async () => ((await cluster.kubectl(['get', '-n', 'ml', 'deployment', '-l', 'serving.modelship.dev/version=v3', '-o', 'name'])).trim() === '' ? true : undefined));
});

test('a canary that returns errors fails its checks and is rolled back automatically', async () => {
  await patchSpec({ model: model('v4'), rollout: { shadow: null } });
  const seen = await watchRollout((r) => r.phase === 'RolledBack' && r.candidate?.version === 'v4');
  assert.ok(seen.some((s) => s.phase === 'Progressing' && s.weight === 20), JSON.stringify(seen));
  const status = (await mdep()).status;
  assert.match(status.rollout.message, /candidate error rate [0-9.]+ > 0\.02/);
  assert.equal(status.rollout.failedChecks, 2);
  const routes = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'configmap', 'iris-routes', '-o', 'jsonpath={.data.routes\\.json}']));
  assert.deepEqual(routes.versions.map((v: any) => [v.name, v.weight]), [['v2', 100]]);
  const after = Date.now() + 1500;
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(since(after).filter((a) => a.status !== 200), [], 'once rolled back, every request succeeds again');
});

test('a pause by annotation holds the weight; resuming goes on from there', async () => {
  await patchSpec({ model: model('v5'), rollout: { stepInterval: '2s' } });
  await watchRollout((r) => r.phase === 'Progressing' && r.canaryWeight === 20 && r.candidate?.version === 'v5');
  await cluster.kubectl(['-n', 'ml', 'annotate', 'mdep', 'iris', 'serving.modelship.dev/paused=true']);
  await watchRollout((r) => r.paused === true);
  const pausedAt = (await mdep()).status.rollout.canaryWeight;
  // Three step intervals: unpaused, the rollout would have moved on.
  await new Promise((r) => setTimeout(r, 6000));
  const still = (await mdep()).status.rollout;
  assert.equal(still.canaryWeight, pausedAt, 'no step while paused');
  assert.match(still.message, /paused at weight/);
  await cluster.kubectl(['-n', 'ml', 'annotate', 'mdep', 'iris', 'serving.modelship.dev/paused-']);
  const seen = await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v5');
  assert.ok(seen.some((s) => s.phase === 'Progressing' && s.weight > pausedAt), JSON.stringify(seen));
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=iris', '-o', 'jsonpath={range .items[*]}{.reason}{"\\n"}{end}']);
  assert.match(events, /RolloutPaused/);
  assert.match(events, /RolloutResumed/);
});

test('an abort by annotation sends all traffic back to the stable version at once', async () => {
  await patchSpec({ model: model('v8'), rollout: { stepInterval: '1h' } });
  await watchRollout((r) => r.phase === 'Progressing' && r.canaryWeight === 20 && r.candidate?.version === 'v8');
  await cluster.kubectl(['-n', 'ml', 'annotate', 'mdep', 'iris', 'serving.modelship.dev/abort=true']);
  await watchRollout((r) => r.phase === 'Aborted' && r.candidate?.version === 'v8');
  const routes = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'configmap', 'iris-routes', '-o', 'jsonpath={.data.routes\\.json}']));
  assert.deepEqual(routes.versions.map((v: any) => [v.name, v.weight]), [['v5', 100]]);
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=iris,reason=RolloutAborted', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /rollout of v8 aborted by annotation/);
  await cluster.kubectl(['-n', 'ml', 'annotate', 'mdep', 'iris', 'serving.modelship.dev/abort-']);
});

test('an operator restarted mid-rollout resumes at the step it reached', async () => {
  await patchSpec({ model: model('v6'), rollout: { stepInterval: '3s' } });
  await watchRollout((r) => r.phase === 'Progressing' && r.canaryWeight === 60 && r.candidate?.version === 'v6');
  operator!.kill('SIGKILL');
  await once(operator!, 'exit');
  const during = (await mdep()).status.rollout;
  assert.equal(during.canaryWeight, 60);
  operator = startIrisOperator(`${routerUrl}/metrics`);
  const seen = await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v6');
  const weights = seen.filter((s) => s.phase === 'Progressing').map((s) => s.weight);
  assert.ok(weights.every((w) => w >= 60), `never back to an earlier step: ${JSON.stringify(seen)}`);
  assert.ok(weights.includes(100), JSON.stringify(seen));
});

test('an A/B split: fixed weights, the same user always on the same version, never promoted', async () => {
  await patchSpec({ model: model('v9'), rollout: { strategy: 'abTest', abTest: { weight: 30 }, stepInterval: '2s', routing: { stickyHeader: 'x-user-id' } } });
  await watchRollout((r) => r.phase === 'ABTesting' && r.candidate?.version === 'v9');
  const routes = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'configmap', 'iris-routes', '-o', 'jsonpath={.data.routes\\.json}']));
  assert.deepEqual(routes.versions.map((v: any) => [v.name, v.weight]), [['v9', 30], ['v6', 70]]);
  assert.equal(routes.stickyHeader, 'x-user-id');
  await eventually('the router to read the sticky table', async () => {
    const table = await (await fetch(`${routerUrl}/v2/router/routes`)).json() as { stickyHeader?: string };
    return table.stickyHeader === 'x-user-id' ? true : undefined;
  });
  // v9 is served by the retrained model's server (answers say v3), v6 by the first one (answers say v1).
  const served = async (user: string) => {
    const response = await fetch(`${routerUrl}/v2/models/iris/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-user-id': user },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: rows[0] }] }),
    });
    return ((await response.json()) as { model_version: string }).model_version;
  };
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const first = await Promise.all(users.map(served));
  const again = await Promise.all(users.map(served));
  assert.deepEqual(again, first, 'each user stays on their version');
  const onCandidate = first.filter((v) => v === 'v3').length;
  assert.ok(onCandidate >= 200 * 0.3 - 4 * Math.sqrt(200 * 0.3 * 0.7) && onCandidate <= 200 * 0.3 + 4 * Math.sqrt(200 * 0.3 * 0.7), `${onCandidate} of 200 users on the candidate at 30%`);
  await eventually('an observation recorded', async () => ((await mdep()).status.rollout.lastAnalysis?.verdict === 'observed' ? true : undefined));
  await new Promise((r) => setTimeout(r, 4000));
  const status = (await mdep()).status;
  assert.equal(status.rollout.phase, 'ABTesting', 'never promoted');
  assert.equal(status.stableVersion, 'v6');
  // Ending the test is a commit: back to the stable version, and back to canary rollouts.
  await patchSpec({ model: model('v6'), rollout: { strategy: 'canary', abTest: null, routing: { stickyHeader: null } } });
  await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v6' && !r.candidate);
});

test('GPU room: a candidate whose first pod cannot fit gets none, a step that cannot fit waits, and both go on when nodes appear', async () => {
  // Time-sliced shares (the node has 4). First the stable version moves onto them and takes all 4.
  await patchSpec({ gpu: { mode: 'timeSliced' }, scaling: { minReplicas: 4, maxReplicas: 4 }, rollout: { steps: [20, 100], stepInterval: '2s' } });
  await eventually('4 stable pods on the shared node', async () => {
    const pods = JSON.parse(await cluster.kubectl(['get', 'pods', '-n', 'ml', '-l', 'serving.modelship.dev/version=v6', '-o', 'json'])).items;
    const placed = pods.filter((p: any) => p.spec.nodeName === 'shared-node' && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    return placed.length === 4 && pods.length === 4 ? true : undefined;
  });
  await patchSpec({ model: model('v7') });
  const waiting = await eventually('the candidate held for GPU room', async () => {
    const rollout = (await mdep()).status?.rollout;
    return rollout?.candidate?.version === 'v7' && rollout.holding ? rollout : undefined;
  });
  assert.equal(waiting.holding, '1 more pod with 1 nvidia.com/gpu.shared each needed, the nodes have room for 0');
  assert.equal(await cluster.kubectl(['get', 'deployment', '-n', 'ml', 'iris--v7', '-o', 'jsonpath={.spec.replicas}']), '0', 'no candidate pod, so none is Pending');
  const pendingPods = async () => JSON.parse(await cluster.kubectl(['get', 'pods', '-n', 'ml', '--field-selector', 'status.phase=Pending', '-o', 'json'])).items.length;
  assert.equal(await pendingPods(), 0);

  // A node with 2 shares: room for the candidate's first pod (20% of 4 is 1 pod), not for the 100% step (3 more).
  const shared = GPU_NODES.find((n) => n.name === 'shared-node')!;
  await addGpuNodes(cluster, [{ ...shared, name: 'shared-node-2', resources: { 'nvidia.com/gpu.shared': '2' } }]);
  const held = await eventually('the 100% step held', async () => {
    const rollout = (await mdep()).status?.rollout;
    return rollout?.candidate?.version === 'v7' && rollout.canaryWeight === 20 && rollout.holding ? rollout : undefined;
  });
  assert.equal(held.holding, '3 more pods with 1 nvidia.com/gpu.shared each needed, the nodes have room for 1');
  assert.match(held.message, /holding before weight 100%/);
  assert.equal(await pendingPods(), 0, 'no Pending pods: the step waits instead');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=iris', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
  assert.match(events, /CandidateHeld: candidate v7 waits for GPU room: 1 more pod/);
  assert.match(events, /StepHeld: holding before weight 100%: 3 more pods/);

  await addGpuNodes(cluster, [{ ...shared, name: 'shared-node-3' }]);
  const done = await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v7');
  assert.ok(done.some((s) => s.phase === 'Progressing' && s.weight === 100), JSON.stringify(done));
});
