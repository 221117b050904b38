// The operator on a simulated cluster: real kube-apiserver, controller-manager and scheduler, with kwok
// nodes that advertise GPUs the way NVIDIA's device plugin and GPU Feature Discovery do (whole GPUs, MIG
// slices under the mixed strategy, time-sliced shares), tainted as real GPU nodes are. Deployments create
// pods, the scheduler places them by the rendered resources, selectors and tolerations, kwok makes them
// Ready, the garbage collector follows owner references.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { eventually as poll } from '../support/eventually.ts';
import { addGpuNodes } from './gpu-nodes.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/modeldeployments/', import.meta.url));
let cluster: LocalCluster;
let operator: ChildProcess;
const logs: string[] = [];

const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  poll(what, probe, { timeoutMs, intervalMs: 250, context: () => logs.slice(-10).join('') });
const getJson = async (...args: string[]) => JSON.parse(await cluster.kubectl([...args, '-o', 'json']));

before(async () => {
  cluster = await startLocalCluster({ simulated: true, crds: [CRD] });
  await addGpuNodes(cluster);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  operator = startOperator(await operatorKubeconfig(cluster), [], (chunk) => logs.push(chunk));
  await cluster.kubectl(['apply', '-n', 'ml', '-f', EXAMPLES]);
}, { timeout: 60 * 60_000 });
after(async () => {
  if (operator?.exitCode === null) operator.kill('SIGKILL');
  await cluster?.stop();
});

const expectations: Array<[string, string, string]> = [
  ['fraud-classifier', 'fraud-classifier--2024-06-01', 'cpu-node'],
  ['ranker', 'ranker--v7', 'h100-node'],
  ['embedder', 'embedder--v2', 'mig-node'],
  ['sentiment', 'sentiment--v1', 'shared-node'],
];

test('each GPU mode lands on the node kind that advertises it, and its pods become Ready', async () => {
  for (const [name, deployment, node] of expectations) {
    const pods = await eventually(`Ready pods of ${name}`, async () => {
      const list = await getJson('get', 'pods', '-n', 'ml', '-l', `app.kubernetes.io/instance=${name},app.kubernetes.io/name=modelship-server`);
      const ready = list.items.filter((p: any) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length > 0 && ready.length === list.items.length ? list.items : undefined;
    });
    for (const pod of pods) assert.equal(pod.spec.nodeName, node, `${name} ran on ${pod.spec.nodeName}`);
    assert.equal(pods[0].metadata.labels['serving.modelship.dev/version'], deployment.slice(name.length + 2));
  }
});

test('status turns Ready with the stable version once the pods are ready, as kubectl get shows it', async () => {
  await eventually('the ranker at its minimum of 2 ready pods', async () => {
    const mdep = await getJson('get', '-n', 'ml', 'mdep', 'ranker');
    return mdep.status?.phase === 'Ready' && mdep.status.readyReplicas === 2 ? mdep : undefined;
  });
  for (const [name] of expectations) {
    await eventually(`${name} Ready`, async () => {
      const mdep = await getJson('get', '-n', 'ml', 'mdep', name);
      return mdep.status?.phase === 'Ready' && mdep.status.stableVersion === mdep.spec.model.version ? true : undefined;
    });
  }
  await cluster.kubectl(['wait', '-n', 'ml', '--for=condition=Ready', 'mdep', '--all', '--timeout=30s']);
  const table = await cluster.kubectl(['get', '-n', 'ml', 'mdep']);
  assert.match(table, /\nranker\s+v7\s+v7\s+2\s+full\s+Ready/);
  assert.match(table, /\nembedder\s+v2\s+v2\s+1\s+mig\s+Ready/);
});

test('without spec.rollout a new version starts beside the old one, takes all traffic once Ready, and the old one is removed after draining', async () => {
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'ranker', '--type', 'merge', '-p', '{"spec":{"model":{"uri":"https://models.example.com/ranker/v8/model.onnx","version":"v8"}}}']);
  const mdep = await eventually('v8 to be the stable version', async () => {
    const m = await getJson('get', '-n', 'ml', 'mdep', 'ranker');
    return m.status?.stableVersion === 'v8' && m.status.phase === 'Ready' ? m : undefined;
  });
  assert.equal(mdep.status.url, 'http://ranker.ml.svc.cluster.local/v2/models/ranker', 'the address does not change with the version');
  assert.equal(mdep.status.rollout.phase, 'Succeeded');
  const routes = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'configmap', 'ranker-routes', '-o', 'jsonpath={.data.routes\\.json}']));
  assert.deepEqual(routes.versions.map((v: { name: string; weight: number }) => [v.name, v.weight]), [['v8', 100]]);
  await eventually('the v7 objects to be gone', async () => {
    const left = await cluster.kubectl(['get', '-n', 'ml', 'deployment,service,pdb,hpa', '-l', 'serving.modelship.dev/version=v7', '-o', 'name']);
    return left.trim() === '' ? true : undefined;
  });
  const ready = await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'ranker--v8', '-o', 'jsonpath={.status.readyReplicas}']);
  assert.equal(ready, '2');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=ranker', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
  assert.match(events, /RolloutStarted: rolling out v8 from stable v7 \(cutover once ready\)/);
  assert.match(events, /Promoting: candidate v8 becomes stable/);
  assert.match(events, /Promoted: version v8 is stable/);
  assert.match(events, /VersionRemoved: removed version v7/);
});

test('an owned object deleted behind the operator\'s back is put back at once (watched, not waiting for a resync)', async () => {
  const before = await getJson('get', '-n', 'ml', 'configmap', 'ranker-routes');
  await cluster.kubectl(['delete', '-n', 'ml', 'configmap', 'ranker-routes']);
  const after = await eventually('the routes ConfigMap back', async () => {
    const c = await getJson('get', '-n', 'ml', 'configmap', 'ranker-routes').catch(() => undefined);
    return c && c.metadata.uid !== before.metadata.uid ? c : undefined;
  }, 10_000);
  assert.deepEqual(after.data, before.data);
});

test('a GPU no node has is reported in status, not left as silent Pending pods', async () => {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('needs-b200', { gpu: { mode: 'full', product: 'NVIDIA-B200' } })));
  const condition = await eventually('GPUCapacityMissing', async () => {
    const mdep = await getJson('get', '-n', 'ml', 'mdep', 'needs-b200');
    return mdep.status?.conditions?.find((c: any) => c.type === 'GPUCapacityMissing' && c.status === 'True');
  });
  assert.match(condition.message, /no node has the labels nvidia.com\/gpu.product=NVIDIA-B200 \(4 nodes checked\)/);
  assert.equal((await getJson('get', '-n', 'ml', 'mdep', 'needs-b200')).status.phase, 'Pending');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=needs-b200,reason=GPUCapacityMissing', '-o', 'name']);
  assert.notEqual(events.trim(), '');
});

test("spec.pod reaches the scheduled pods: node affinity and anti-affinity placed by the scheduler, the PriorityClass's value, the labels", async () => {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'model-serving' }, value: 100_000 }));
  const nodes = ['h100-node', 'shared-node'];
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('placed', {
    // A CPU model that may run on the GPU nodes (tolerating their taint), on one of two of them by node
    // affinity, one pod per node by anti-affinity.
    gpu: { mode: 'none', tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] },
    scaling: { minReplicas: 2, maxReplicas: 2 },
    pod: {
      priorityClassName: 'model-serving',
      labels: { team: 'search' },
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] }] } },
        podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'placed' } } }] },
      },
    },
  })));
  const pods = await eventually('two scheduled pods of placed', async () => {
    const list = await getJson('get', 'pods', '-n', 'ml', '-l', 'app.kubernetes.io/instance=placed,app.kubernetes.io/name=modelship-server');
    return list.items.length === 2 && list.items.every((p: any) => p.spec.nodeName) ? list.items : undefined;
  });
  assert.deepEqual(pods.map((p: any) => p.spec.nodeName).sort(), nodes);
  for (const pod of pods) {
    assert.equal(pod.spec.priority, 100_000, 'the PriorityClass was resolved by the API server');
    assert.equal(pod.metadata.labels.team, 'search');
  }
});

test("a PriorityClass that is not there: status says the pods cannot be created, and why, instead of leaving no pods unexplained", async () => {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('unplaceable', { pod: { priorityClassName: 'not-there' } })));
  const ready = await eventually('Ready False, reason PodsNotCreated', async () => {
    const mdep = await getJson('get', '-n', 'ml', 'mdep', 'unplaceable');
    return mdep.status?.conditions?.find((c: any) => c.type === 'Ready' && c.reason === 'PodsNotCreated');
  });
  assert.match(ready.message, /0 of 1 pods of version v1 ready; pods of version v1 cannot be created: .*no PriorityClass with name not-there was found/);
  const mdep = await getJson('get', '-n', 'ml', 'mdep', 'unplaceable');
  assert.equal(mdep.status.phase, 'Degraded');
});

test('deleting a ModelDeployment garbage-collects everything it created', async () => {
  await cluster.kubectl(['delete', '-n', 'ml', 'mdep', 'sentiment', '--wait=false']);
  await eventually('the Deployment, Service and PDB to be collected', async () => {
    const left = await cluster.kubectl(['get', '-n', 'ml', 'deployment,service,pdb,pods', '-l', 'app.kubernetes.io/instance=sentiment', '-o', 'name']);
    return left.trim() === '' ? true : undefined;
  });
});
