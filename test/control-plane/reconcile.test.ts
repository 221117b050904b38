// One reconcile against the real API server: the rendered objects are created by server-side apply and
// owned by the ModelDeployment, status is written through the status subresource, and a second reconcile
// with nothing changed makes zero writes (counted at the client).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { kubeClients } from '../../operator/src/controller/kube-client.ts';
import { reconcile, type Reconciler } from '../../operator/src/controller/reconcile.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';
import { RouterAnalysis } from '../../operator/src/rollout/analysis.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const RANKER = fileURLToPath(new URL('../../examples/modeldeployments/gpu-full.yaml', import.meta.url));

let cluster: LocalCluster;
let reconciler: Reconciler;
const writes: string[] = [];

before(async () => {
  cluster = await startLocalCluster({ gatewayApi: true, crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
  await cluster.kubectl(['apply', '-n', 'ml', '-f', RANKER]);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  const clients = kubeClients(config);
  // Count every write the reconciler makes, at the client.
  const objects = new Proxy(clients.objects, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (['create', 'patch', 'replace', 'delete'].includes(String(property))) writes.push(`${String(property)} ${(args[0] as { kind: string }).kind}`);
        return value.apply(target, args);
      };
    },
  });
  reconciler = {
    objects,
    patchStatus: async (namespace, name, status) => {
      writes.push('status');
      await clients.patchStatus(namespace, name, status);
    },
    listNodes: () => clients.listNodes(),
    nodeUsage: () => clients.nodeUsage(),
    scheduledPods: (mdep, version) => clients.scheduledPods(mdep, version),
    drift: async (_mdep, version) => ({ kind: 'unavailable', version, reason: 'no pods in this test' }),
    analysis: () => new RouterAnalysis(clients.routerMetricsUrls, clients.serverMetricsUrls),
    recordEvent: async (mdep, event) => {
      writes.push(`event ${event.reason}`);
      await clients.recordEvent(mdep, event);
    },
    settings: DEFAULT_SETTINGS,
    clock: () => Date.now(),
  };
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

test('the first reconcile creates the rendered objects, owned by the ModelDeployment, and writes status', async () => {
  const result = await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes.sort(), [
    'event Applied', 'event GPUCapacityMissing',
    'patch ConfigMap', 'patch Deployment', 'patch Deployment', 'patch HorizontalPodAutoscaler', 'patch PodDisruptionBudget',
    'patch Role', 'patch RoleBinding', 'patch Service', 'patch Service', 'patch ServiceAccount', 'status',
  ]);
  assert.equal(result.writes, 11);

  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'ranker', '-o', 'json']));
  const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'ranker--v7', '-o', 'json', '--show-managed-fields']));
  assert.equal(deployment.metadata.ownerReferences[0].uid, mdep.metadata.uid);
  assert.ok(deployment.metadata.managedFields.some((f: { manager: string; operation: string }) => f.manager === 'modelship-operator' && f.operation === 'Apply'));
  const [server] = deployment.spec.template.spec.containers;
  assert.equal(server.resources.limits['nvidia.com/gpu'], '1');
  assert.equal(deployment.spec.template.spec.nodeSelector['nvidia.com/gpu.product'], 'NVIDIA-H100-80GB-HBM3');
  const hpa = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'hpa', 'ranker--v7', '-o', 'json']));
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [2, 8]);

  assert.equal(mdep.status.observedGeneration, mdep.metadata.generation);
  assert.equal(mdep.status.phase, 'Pending', 'no node has an H100 yet');
  const missing = mdep.status.conditions.find((c: { type: string }) => c.type === 'GPUCapacityMissing');
  assert.equal(missing.status, 'True');
  assert.match(missing.message, /no node has the labels nvidia.com\/gpu.product=NVIDIA-H100-80GB-HBM3/);
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=ranker', '-o', 'custom-columns=TYPE:.type,REASON:.reason', '--no-headers']);
  assert.match(events, /Warning\s+GPUCapacityMissing/);
  assert.match(events, /Normal\s+Applied/);
  assert.equal(mdep.status.url, 'http://ranker.ml.svc.cluster.local/v2/models/ranker', 'the router\'s Service: the same address whatever version serves');
  const routes = JSON.parse(JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'configmap', 'ranker-routes', '-o', 'json'])).data['routes.json']);
  assert.deepEqual(routes, { versions: [{ name: 'v7', url: 'http://ranker--v7.ml.svc', weight: 100 }] });
  assert.equal(mdep.status.rollout.phase, 'Initialized');
  assert.equal(mdep.status.rollout.stable.version, 'v7');
  const ready = mdep.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  assert.deepEqual([ready.status, ready.reason], ['False', 'PodsNotReady']);
});

test('a reconcile with nothing changed makes zero writes', async () => {
  writes.length = 0;
  const result = await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes, []);
  assert.equal(result.writes, 0);
});

test('drift in an owned object is undone', async () => {
  await cluster.kubectl(['-n', 'ml', 'patch', 'hpa', 'ranker--v7', '--type', 'merge', '-p', '{"spec":{"maxReplicas":99},"metadata":{"annotations":{"serving.modelship.dev/applied-hash":"tampered"}}}']);
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes, ['patch HorizontalPodAutoscaler', 'event Applied']);
  const hpa = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'hpa', 'ranker--v7', '-o', 'json']));
  assert.equal(hpa.spec.maxReplicas, 8);
});

test('a node that advertises the GPU clears GPUCapacityMissing', async () => {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: 'gpu-node-1', labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' } },
  }));
  await cluster.kubectl(['patch', 'node', 'gpu-node-1', '--subresource=status', '--type=merge', '-p',
    JSON.stringify({ status: { capacity: { 'nvidia.com/gpu': '8' }, allocatable: { 'nvidia.com/gpu': '8' } } })]);
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes, ['status']);
  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'ranker', '-o', 'json']));
  assert.equal(mdep.status.conditions.find((c: { type: string }) => c.type === 'GPUCapacityMissing').status, 'False');
  assert.equal(mdep.status.phase, 'Progressing');
});

test('moving to routing provider gateway-api applies an HTTPRoute and removes the router', async () => {
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'ranker', '--type', 'merge', '-p', JSON.stringify({ spec: { rollout: {
    routing: { provider: 'gateway-api', gateway: { parentRefs: [{ name: 'web', namespace: 'gateways' }], hostnames: ['ranker.example.com'] } },
    analysis: { provider: 'prometheus', prometheusUrl: 'http://prometheus.monitoring.svc:9090' },
  } } })]);
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes.filter((w) => w.startsWith('delete')).sort(), ['delete ConfigMap', 'delete Deployment', 'delete Role', 'delete RoleBinding', 'delete Service', 'delete ServiceAccount']);
  const route = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'httproute', 'ranker', '-o', 'json']));
  assert.deepEqual(route.spec.rules[0].backendRefs.map((b: { name: string; weight: number }) => [b.name, b.weight]), [['ranker--v7', 100]]);
  assert.deepEqual(route.spec.hostnames, ['ranker.example.com']);
  const left = await cluster.kubectl(['get', '-n', 'ml', 'deployment,service,configmap', '-l', 'app.kubernetes.io/component=router', '-o', 'name']);
  assert.equal(left.trim(), '');
  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'ranker', '-o', 'json']));
  assert.equal(mdep.status.url, 'http://ranker.example.com/v2/models/ranker');
  assert.equal(mdep.status.routing, 'gateway-api');
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes, [], 'steady again: no deletes, no writes');
});

test('a Deployment left under an earlier name of a running version goes once the one named now is ready', async () => {
  const ranker = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'ranker', '-o', 'json']));
  const labels = { 'app.kubernetes.io/name': 'modelship-server', 'app.kubernetes.io/instance': 'ranker', 'serving.modelship.dev/version': 'v7', 'app.kubernetes.io/managed-by': 'modelship', 'app.kubernetes.io/component': 'model-server' };
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'ranker-v7', namespace: 'ml', labels, ownerReferences: [{ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', name: 'ranker', uid: ranker.metadata.uid, controller: true }] },
    spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'server', image: 'ghcr.io/modelship/modelship-server:0.0.9' }] } } },
  }));
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.equal(writes.join(', '), '', 'kept while ranker--v7 has no ready pod: its Service reaches the old pods meanwhile');
  await cluster.kubectl(['-n', 'ml', 'patch', 'deployment', 'ranker--v7', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } })]);
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'ranker');
  assert.deepEqual(writes.filter((w) => w.startsWith('delete') || w.startsWith('event')), ['delete Deployment', 'event Ready']);
  assert.equal(await cluster.kubectl(['get', '-n', 'ml', 'deployment', '-l', 'serving.modelship.dev/version=v7', '-o', 'name']), 'deployment.apps/ranker--v7\n');
});

const applyJson = (object: unknown) => cluster.kubectl(['apply', '-f', '-'], JSON.stringify(object));
const getJson = async (...args: string[]) => JSON.parse(await cluster.kubectl(['get', '-n', 'ml', ...args, '-o', 'json']));
type Condition = { type: string; status: string; reason: string; message: string };
const condition = (mdep: { status: { conditions: Condition[] } }, type: string) => mdep.status.conditions.find((c) => c.type === type)!;
const modelDeployment = (name: string, version: string, spec: Record<string, unknown> = {}) =>
  ({ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name, namespace: 'ml' }, spec: { model: { uri: 'https://models.example.com/m.onnx', version }, ...spec } });

test('objects of the names the operator wants but another owner (or none) controls are left untouched and reported as a Conflict', async () => {
  const ranker = await getJson('mdep', 'ranker');
  // Someone's own Deployment with the name of clash's v1 Deployment, and a Service of another ModelDeployment with the router's.
  await applyJson({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'clash--v1', namespace: 'ml', labels: { app: 'theirs' } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'theirs' } }, template: { metadata: { labels: { app: 'theirs' } }, spec: { containers: [{ name: 'c', image: 'registry.example.com/theirs:1' }] } } },
  });
  await applyJson({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'clash', namespace: 'ml', ownerReferences: [{ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', name: 'ranker', uid: ranker.metadata.uid, controller: true }] },
    spec: { selector: { app: 'theirs' }, ports: [{ port: 80 }] },
  });
  const [deploymentBefore, serviceBefore] = [await getJson('deployment', 'clash--v1'), await getJson('service', 'clash')];
  await applyJson(modelDeployment('clash', 'v1'));
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'clash');

  const [deployment, service] = [await getJson('deployment', 'clash--v1'), await getJson('service', 'clash')];
  assert.equal(deployment.metadata.resourceVersion, deploymentBefore.metadata.resourceVersion, 'their Deployment is untouched');
  assert.equal(service.metadata.resourceVersion, serviceBefore.metadata.resourceVersion, "the other ModelDeployment's Service is untouched");
  assert.deepEqual(writes.filter((w) => w.startsWith('patch')).sort(), [
    'patch ConfigMap', 'patch Deployment', 'patch PodDisruptionBudget', 'patch Role', 'patch RoleBinding', 'patch Service', 'patch ServiceAccount',
  ], "the rest is applied: the router's Deployment, the version's Service and PDB, the routes and the router's access");
  const mdep = await getJson('mdep', 'clash');
  const message = 'not applied: Deployment/clash--v1 already exists, with no owner; Service/clash already exists, owned by ModelDeployment/ranker';
  assert.deepEqual(condition(mdep, 'Ready'), { ...condition(mdep, 'Ready'), status: 'False', reason: 'Conflict', message });
  assert.deepEqual(condition(mdep, 'Degraded'), { ...condition(mdep, 'Degraded'), status: 'True', reason: 'Conflict', message });
  assert.equal(mdep.status.phase, 'Degraded');
  const events = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=clash,reason=Conflict', '-o', 'jsonpath={range .items[*]}{.type} {.message}{"\\n"}{end}']);
  assert.equal(events, `Warning ${message}\n`);

  writes.length = 0;
  const again = await reconcile(reconciler, 'ml', 'clash');
  assert.deepEqual([writes, again.writes, again.requeueAfterMs], [[], 0, undefined], 'an ordinary state: no writes, no Event, no early retry');
});

test('the conflict clears once the namesake is gone, and moving the routing provider deletes only what the ModelDeployment owns', async () => {
  await cluster.kubectl(['delete', '-n', 'ml', 'deployment', 'clash--v1']);
  await reconcile(reconciler, 'ml', 'clash');
  const deployment = await getJson('deployment', 'clash--v1');
  assert.equal(deployment.metadata.ownerReferences[0].name, 'clash');
  let mdep = await getJson('mdep', 'clash');
  assert.equal(condition(mdep, 'Ready').message, 'not applied: Service/clash already exists, owned by ModelDeployment/ranker');

  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'clash', '--type', 'merge', '-p', JSON.stringify({ spec: { rollout: {
    routing: { provider: 'gateway-api', gateway: { parentRefs: [{ name: 'web' }] } },
    analysis: { provider: 'prometheus', prometheusUrl: 'http://prometheus.monitoring.svc:9090' },
  } } })]);
  writes.length = 0;
  await reconcile(reconciler, 'ml', 'clash');
  assert.deepEqual(writes.filter((w) => w.startsWith('delete')).sort(), ['delete ConfigMap', 'delete Deployment', 'delete Role', 'delete RoleBinding', 'delete ServiceAccount'], "the router's objects, not ranker's Service");
  assert.equal((await getJson('service', 'clash')).metadata.ownerReferences[0].name, 'ranker');
  mdep = await getJson('mdep', 'clash');
  assert.deepEqual([condition(mdep, 'Ready').reason, condition(mdep, 'Degraded').status], ['PodsNotReady', 'False']);
});

// Two versions whose 40-bit name hashes agree (found by a birthday search; see test/unit/names.test.ts).
const CLASHING = { name: 'fraud-detection-transaction-scoring-ensemble-eu-west-1-production', versions: ['v469224', 'v496721'] };

test('a version that would share the running version\'s objects is refused: nothing applied, status and an Event say why', async () => {
  const [stable, next] = CLASHING.versions;
  await applyJson(modelDeployment(CLASHING.name, stable));
  await reconcile(reconciler, 'ml', CLASHING.name);
  const versionDeployments = async () => (await getJson('deployment', '-l', 'app.kubernetes.io/component=model-server')).items
    .filter((d: { metadata: { ownerReferences: Array<{ name: string }> } }) => d.metadata.ownerReferences[0].name === CLASHING.name);
  const before = await versionDeployments();
  assert.equal(before.length, 1);
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', CLASHING.name, '--type', 'merge', '-p', JSON.stringify({ spec: { model: { uri: 'https://models.example.com/next.onnx', version: next } } })]);
  writes.length = 0;
  await reconcile(reconciler, 'ml', CLASHING.name);
  assert.deepEqual(writes, ['status', 'event VersionConflict']);
  const [deployment, ...more] = await versionDeployments();
  assert.equal(more.length, 0);
  assert.equal(deployment.metadata.resourceVersion, before[0].metadata.resourceVersion, 'the stable version\'s Deployment is untouched');
  assert.equal(deployment.metadata.labels['serving.modelship.dev/version'], stable);
  const mdep = await getJson('mdep', CLASHING.name);
  assert.equal(mdep.status.rollout.stable.version, stable, 'the rollout keeps its stable version');
  const degraded = condition(mdep, 'Degraded');
  assert.deepEqual([degraded.status, degraded.reason], ['True', 'VersionConflict']);
  assert.equal(degraded.message, `versions ${stable} and ${next} would share the objects named ${deployment.metadata.name}: version ${next} is not started`);
});

test('a deleted ModelDeployment is not an error', async () => {
  assert.deepEqual(await reconcile(reconciler, 'ml', 'nonexistent'), { writes: 0, found: false });
});
