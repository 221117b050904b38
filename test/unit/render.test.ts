// Rendering of desired state: pure functions from a ModelDeployment and the operator's settings to the
// objects it applies. GPU placement for every mode and device-plugin setting, the pod's safety and
// lifecycle settings, autoscaling, names and ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuPlacement, GPU_TOLERATION } from '../../operator/src/render/gpu.ts';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS, type OperatorSettings } from '../../operator/src/render/settings.ts';
import { DRAIN_MS } from '../../operator/src/render/workload.ts';
import { DEFAULT_DOWNLOAD_MAX_BYTES, SERVE_OPTIONS } from '../../contract/settings/serve-options.ts';
import { loadServeOptions } from '../../server-image/src/config/load.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

const settings = (o: Partial<OperatorSettings> = {}): OperatorSettings => ({ ...DEFAULT_SETTINGS, ...o });
/** A ModelDeployment as the API server would store it (defaults applied), with a uid. */
function stored(spec: Record<string, unknown>) {
  const { object, errors } = validateModelDeployment(modelDeployment('ranker', spec));
  assert.deepEqual(errors, []);
  object.metadata.uid = 'uid-1';
  return object;
}
const byKind = (objects: Array<Record<string, any>>, kind: string) => objects.find((o) => o.kind === kind)!;

test('GPU placement for every mode and device-plugin setting', () => {
  const cases: Array<[Record<string, unknown>, Partial<OperatorSettings>, Record<string, string>, Record<string, string>]> = [
    [{ mode: 'full', count: 2 }, {}, { 'nvidia.com/gpu': '2' }, {}],
    [{ mode: 'full', product: 'NVIDIA-H100-80GB-HBM3' }, {}, { 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' }],
    [{ mode: 'mig', profile: '1g.10gb' }, { migStrategy: 'mixed' }, { 'nvidia.com/mig-1g.10gb': '1' }, { 'nvidia.com/mig.strategy': 'mixed' }],
    [{ mode: 'mig', profile: '1g.5gb', product: 'NVIDIA-A100-SXM4-40GB' }, { migStrategy: 'single' }, { 'nvidia.com/gpu': '1' },
      { 'nvidia.com/mig.strategy': 'single', 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB-MIG-1g.5gb' }],
    [{ mode: 'timeSliced' }, { timeSlicing: 'renamed' }, { 'nvidia.com/gpu.shared': '1' }, { 'nvidia.com/gpu.sharing-strategy': 'time-slicing' }],
    [{ mode: 'timeSliced', product: 'Tesla-T4' }, { timeSlicing: 'unrenamed' }, { 'nvidia.com/gpu': '1' },
      { 'nvidia.com/gpu.sharing-strategy': 'time-slicing', 'nvidia.com/gpu.product': 'Tesla-T4-SHARED' }],
  ];
  for (const [gpu, s, resources, nodeSelector] of cases) {
    const placement = gpuPlacement(gpu, settings(s));
    assert.deepEqual(placement.resources, resources, JSON.stringify(gpu));
    assert.deepEqual(placement.nodeSelector, nodeSelector, JSON.stringify(gpu));
    assert.deepEqual(placement.tolerations, [GPU_TOLERATION]);
    assert.equal(placement.executionProvider, 'cuda');
  }
  assert.deepEqual(gpuPlacement({ mode: 'none' }, settings()), { resources: {}, nodeSelector: {}, tolerations: [], executionProvider: 'cpu' });
});

test("a GPU deployment: CUDA image and provider, extended resource beside the user's limits, toleration", () => {
  const mdep = stored({
    gpu: { mode: 'full', count: 1, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }] },
    resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: '8Gi' } },
    runtime: { env: [{ name: 'MODELSHIP_LOG_LEVEL', value: 'debug' }] },
  });
  // As stored before admission refused operator-set variables in runtime.env.
  mdep.spec.runtime!.env!.push({ name: 'MODELSHIP_MAX_BATCH_SIZE', value: '8' });
  const objects = renderDesiredState(mdep, settings());
  const pod = byKind(objects, 'Deployment').spec.template.spec;
  const [server] = pod.containers;
  assert.equal(server.image, DEFAULT_SETTINGS.serverImage.cuda);
  assert.deepEqual(server.resources, { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: '8Gi', 'nvidia.com/gpu': '1' } });
  const env = Object.fromEntries(server.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  assert.equal(env.MODELSHIP_EXECUTION_PROVIDER, 'cuda');
  assert.equal(env.MODELSHIP_MODEL, 'https://models.example.com/m.onnx');
  assert.equal(env.MODELSHIP_LOG_LEVEL, 'debug');
  assert.equal(env.MODELSHIP_MAX_BATCH_SIZE, '64', "an operator-set variable stored before admission refused it does not override the operator's");
  assert.equal(server.env.filter((e: { name: string }) => e.name === 'MODELSHIP_MAX_BATCH_SIZE').length, 1, 'no duplicate names');
  assert.deepEqual(pod.tolerations, [GPU_TOLERATION, { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }]);
});

test('pods are hardened, probed on the health endpoints and given longer than the drain to stop', () => {
  const deployment = byKind(renderDesiredState(stored({}), settings()), 'Deployment');
  const pod = deployment.spec.template.spec;
  const [server] = pod.containers;
  assert.equal(server.image, DEFAULT_SETTINGS.serverImage.cpu);
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.deepEqual(server.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  assert.equal(server.readinessProbe.httpGet.path, '/v2/health/ready');
  assert.equal(server.livenessProbe.httpGet.path, '/v2/health/live');
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > DRAIN_MS + server.lifecycle.preStop.sleep.seconds * 1000);
  assert.equal(deployment.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.deepEqual(server.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
  assert.deepEqual(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
});

test("the /tmp volume's sizeLimit fits the server's download cap, the user's own cap when they set one", () => {
  const volumeOf = (mdep: ReturnType<typeof stored>) => byKind(renderDesiredState(mdep, settings()), 'Deployment').spec.template.spec.volumes[0];
  const mib = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)![1]) * 1024 ** 2;

  const byDefault = volumeOf(stored({}));
  assert.equal(byDefault.name, 'tmp');
  assert.equal(SERVE_OPTIONS.downloadMaxBytes.default, DEFAULT_DOWNLOAD_MAX_BYTES, 'the server caps downloads at the same number');
  const headroom = mib(byDefault.emptyDir.sizeLimit) - DEFAULT_DOWNLOAD_MAX_BYTES;
  assert.ok(headroom > 0 && headroom <= 512 * 1024 ** 2, `a model at the cap fits, with bounded headroom: ${byDefault.emptyDir.sizeLimit}`);

  const bigger = volumeOf(stored({ runtime: { env: [{ name: 'MODELSHIP_DOWNLOAD_MAX_BYTES', value: String(8 * 1024 ** 3) }] } }));
  assert.equal(mib(bigger.emptyDir.sizeLimit) - 8 * 1024 ** 3, headroom, "the user's cap, with the same headroom");
});

test('runtime.cache reaches the server as the settings it reads, the Redis password only as a Secret reference', () => {
  const serverEnvOf = (spec: Record<string, unknown>) => byKind(renderDesiredState(stored(spec), settings()), 'Deployment').spec.template.spec.containers[0].env as Array<Record<string, any>>;
  // What the server makes of the rendered variables, read by its own loader.
  const serverSees = (env: Array<Record<string, any>>) => loadServeOptions([], Object.fromEntries(env.filter((e) => 'value' in e).map((e) => [e.name, e.value])));

  const none = serverSees(serverEnvOf({}));
  assert.equal(none.cache, 'none');

  const memory = serverSees(serverEnvOf({ runtime: { cache: { store: 'memory', ttlSeconds: 30, maxMiB: 64, maxEntryKiB: 16 } } }));
  assert.deepEqual([memory.cache, memory.cacheTtlSeconds, memory.cacheMaxBytes, memory.cacheMaxEntryBytes], ['memory', 30, 64 * 1024 ** 2, 16 * 1024]);

  const env = serverEnvOf({ runtime: { cache: { store: 'redis', redis: { url: 'redis://redis.cache:6379/2', timeoutMs: 15, passwordSecretRef: { name: 'redis-auth', key: 'password' } } } } });
  const redis = serverSees(env);
  assert.deepEqual([redis.cache, redis.cacheTtlSeconds, redis.cacheRedisUrl, redis.cacheRedisTimeoutMs], ['redis', 60, 'redis://redis.cache:6379/2', 15]);
  assert.deepEqual(env.find((e) => e.name === 'MODELSHIP_CACHE_REDIS_PASSWORD'), {
    name: 'MODELSHIP_CACHE_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } },
  });
});

test('fixed replicas: the Deployment states them and no autoscaler is rendered', () => {
  const objects = renderDesiredState(stored({ scaling: { minReplicas: 3, maxReplicas: 3 } }), settings());
  assert.deepEqual(objects.map((o) => o.kind), ['Deployment', 'Service', 'PodDisruptionBudget', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service']);
  assert.equal(byKind(objects, 'Deployment').spec.replicas, 3);
});

test('HPA on queue depth: Pods metric, the target as average value, fast up and slow down', () => {
  const objects = renderDesiredState(stored({ scaling: { minReplicas: 0, maxReplicas: 6, targetQueueDepth: 8 } }), settings());
  const deployment = byKind(objects, 'Deployment');
  assert.equal('replicas' in deployment.spec, false, 'the HPA owns the replica count');
  const hpa = byKind(objects, 'HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  assert.equal(hpa.spec.minReplicas, 1, 'an HPA cannot scale to zero');
  assert.equal(hpa.spec.maxReplicas, 6);
  assert.deepEqual(hpa.spec.metrics, [{ type: 'Pods', pods: { metric: { name: 'modelship_queue_depth' }, target: { type: 'AverageValue', averageValue: '8' } } }]);
  assert.equal(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds, 0);
  assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 300);
});

test("KEDA: a Prometheus trigger on the version's total queue, scale to zero allowed", () => {
  const objects = renderDesiredState(stored({ scaling: { engine: 'keda', minReplicas: 0, maxReplicas: 4, targetQueueDepth: 2 } }), settings({ prometheusUrl: 'http://prom:9090' }));
  const so = byKind(objects, 'ScaledObject');
  assert.equal(so.apiVersion, 'keda.sh/v1alpha1');
  assert.equal(so.spec.minReplicaCount, 0);
  assert.deepEqual(so.spec.triggers[0].metadata, {
    serverAddress: 'http://prom:9090',
    query: 'sum(modelship_queue_depth{namespace="ml",model="ranker",version="v1"})',
    threshold: '2',
    activationThreshold: '0',
  });
  assert.equal(objects.some((o) => o.kind === 'HorizontalPodAutoscaler'), false);
});

test("every object is owned by the ModelDeployment and selects only its version's pods", () => {
  const objects = renderDesiredState(stored({ scaling: { maxReplicas: 2 } }), settings());
  for (const o of objects as Array<Record<string, any>>) {
    if (o.metadata.labels['app.kubernetes.io/component'] === 'router') continue;
    assert.equal(o.metadata.name, 'ranker--v1');
    assert.equal(o.metadata.namespace, 'ml');
    assert.deepEqual(o.metadata.ownerReferences, [{ apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', name: 'ranker', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
  }
  assert.deepEqual(byKind(objects, 'Service').spec.selector, byKind(objects, 'Deployment').spec.selector.matchLabels);
  assert.equal(byKind(objects, 'Service').spec.selector['serving.modelship.dev/version'], 'v1');
});

const V0 = { version: 'v0', uri: 'https://models.example.com/v0.onnx' };
const V1 = { version: 'v1', uri: 'https://models.example.com/m.onnx' };

test('a canary step: each version its own Deployment and autoscaler sized to its share; the routes carry the weights, candidate first', () => {
  const mdep = stored({ scaling: { minReplicas: 4, maxReplicas: 20 }, rollout: { routing: { stickyHeader: 'x-user-id' } } });
  const objects = renderDesiredState(mdep, settings(), { phase: 'Progressing', stable: V0, candidate: V1, step: 1, canaryWeight: 20, failedChecks: 0, message: '' });
  const hpas = Object.fromEntries(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o: Record<string, any>) => [o.metadata.name, [o.spec.minReplicas, o.spec.maxReplicas]]));
  assert.deepEqual(hpas, { 'ranker--v1': [1, 4], 'ranker--v0': [4, 16] }, '20% of 4..20 is 1..4 (at least one pod); 80% is 4..16');
  const models = objects.filter((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.labels['app.kubernetes.io/component'] === 'model-server')
    .map((o: Record<string, any>) => o.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'MODELSHIP_MODEL').value);
  assert.deepEqual(models, [V1.uri, V0.uri], 'the stable version runs the model recorded in status, not spec');
  const routes = JSON.parse((objects.find((o) => o.kind === 'ConfigMap') as Record<string, any>).data['routes.json']);
  assert.deepEqual(routes, {
    versions: [{ name: 'v1', url: 'http://ranker--v1.ml.svc', weight: 20 }, { name: 'v0', url: 'http://ranker--v0.ml.svc', weight: 80 }],
    stickyHeader: 'x-user-id',
  });
});

test('shadowing: the candidate gets copies and no traffic, and replicas for the copies', () => {
  const mdep = stored({ scaling: { minReplicas: 2, maxReplicas: 10 } });
  const objects = renderDesiredState(mdep, settings(), { phase: 'Shadowing', stable: V0, candidate: V1, canaryWeight: 0, shadowPercent: 30, failedChecks: 0, message: '' });
  const routes = JSON.parse((objects.find((o) => o.kind === 'ConfigMap') as Record<string, any>).data['routes.json']);
  assert.deepEqual(routes.shadow, { version: 'v1', percent: 30 });
  assert.deepEqual(routes.versions.map((v: { weight: number }) => v.weight), [0, 100]);
  const hpa = objects.find((o: Record<string, any>) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'ranker--v1') as Record<string, any>;
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [1, 3]);
});

test('the router: the model\'s stable Service, reading its own routes ConfigMap with a Role limited to it', () => {
  const objects = renderDesiredState(stored({ rollout: { routing: { replicas: 3 } } }), settings());
  const router = objects.find((o: Record<string, any>) => o.kind === 'Deployment' && o.metadata.name === 'ranker') as Record<string, any>;
  assert.equal(router.spec.replicas, 3);
  assert.deepEqual(router.spec.template.spec.containers[0].args, ['route', '--routes-configmap', 'ml/ranker-routes', '--port', '8080']);
  assert.equal(router.spec.template.spec.serviceAccountName, 'ranker-router');
  const service = objects.find((o: Record<string, any>) => o.kind === 'Service' && o.metadata.name === 'ranker') as Record<string, any>;
  assert.deepEqual(service.spec.selector, router.spec.selector.matchLabels);
  const role = byKind(objects, 'Role');
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['ranker-routes'], verbs: ['get', 'list', 'watch'] }]);
});

test('the router object references name every object the router renderers make', async () => {
  const { routerObjectRefs } = await import('../../operator/src/render/router.ts');
  const rendered = renderDesiredState(stored({}), settings()).filter((o: Record<string, any>) => o.metadata.labels['app.kubernetes.io/component'] === 'router');
  const refs = (objects: Array<Record<string, any>>) => objects.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(routerObjectRefs(stored({})).map(([apiVersion, kind, name]) => `${apiVersion}/${kind}/${name}`).sort(), refs(rendered));
});
