// spec.pod on a real API server: a ModelDeployment that uses every field is admitted, the Deployments the
// operator renders from what the API server stored are accepted by it (the pod template validated as the
// API validates pods), and what would turn the operator's hardening off cannot be written at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';
import { EVERY_POD_FIELD } from '../support/pod-fields-spec.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
let cluster: LocalCluster;

before(async () => {
  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

const apply = (object: unknown, ...flags: string[]) => cluster.kubectl(['apply', ...flags, '-f', '-'], JSON.stringify(object));
const getJson = async (...args: string[]) => JSON.parse(await cluster.kubectl(['get', '-n', 'ml', ...args, '-o', 'json']));

test('a ModelDeployment using every pod field is admitted, and the API server accepts the Deployments rendered from it', async () => {
  await apply(modelDeployment('ranker', EVERY_POD_FIELD));
  const stored = await getJson('mdep', 'ranker');
  assert.deepEqual(stored.spec.pod, EVERY_POD_FIELD.pod, 'stored as written: no field pruned');
  const { object, errors } = validateModelDeployment(stored);
  assert.deepEqual(errors, [], "the operator's own validation agrees with admission");

  const rendered = renderDesiredState(object, DEFAULT_SETTINGS);
  await apply({ apiVersion: 'v1', kind: 'List', items: rendered }, '--server-side', '--field-manager', 'modelship-operator');

  const server = (await getJson('deployment', 'ranker--v1')).spec.template;
  assert.equal(server.spec.serviceAccountName, 'ranker-reader');
  assert.equal(server.spec.automountServiceAccountToken, false, 'the token comes only through the projected volume that asks for it');
  assert.deepEqual(server.spec.imagePullSecrets, [{ name: 'registry-creds' }]);
  assert.equal(server.spec.priorityClassName, 'model-serving');
  assert.equal(server.metadata.labels.team, 'search');
  assert.equal(server.metadata.labels['app.kubernetes.io/instance'], 'ranker');
  assert.equal(server.metadata.annotations['example.com/owner'], 'search-team@example.com');
  assert.equal(server.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.deepEqual(server.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values, ['gpu-a', 'gpu-b']);
  assert.deepEqual(server.spec.topologySpreadConstraints[0].labelSelector.matchLabels, (await getJson('deployment', 'ranker--v1')).spec.selector.matchLabels,
    'a spread constraint without a selector spreads the pods of the version');
  assert.deepEqual(server.spec.volumes.map((v: { name: string }) => v.name), ['tmp', 'shm', 'vocab', 'tls', 'models', 'identity', 'podinfo', 'vault', 'scratch']);
  const [container] = server.spec.containers;
  assert.deepEqual(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath),
    ['/tmp', '/dev/shm', '/etc/ranker', '/etc/tls', '/models', '/var/run/secrets/aws', '/etc/podinfo', '/mnt/secrets', '/scratch']);
  assert.deepEqual(container.resources, { requests: { cpu: '2', memory: '8Gi' }, limits: { cpu: '4', memory: '8Gi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  assert.equal(server.spec.securityContext.runAsNonRoot, true);

  const router = (await getJson('deployment', 'ranker')).spec.template;
  assert.deepEqual(router.spec.imagePullSecrets, [{ name: 'registry-creds' }], 'the router runs the same image, from the same registry');
  assert.equal(router.spec.priorityClassName, 'model-serving');
  assert.equal(router.metadata.labels.team, 'search');
  assert.equal(router.spec.serviceAccountName, 'ranker-router', 'the router keeps its own identity');
  assert.equal(router.spec.volumes, undefined);
  assert.equal(router.spec.affinity, undefined);
});

test('a hostPath volume is refused: as an unknown field, and once a client lets it be pruned, as a volume without an allowed type', async () => {
  const hostPath = modelDeployment('host', { pod: { volumes: [{ name: 'node', hostPath: { path: '/' } }], volumeMounts: [{ name: 'node', mountPath: '/host' }] } });
  await assert.rejects(apply(hostPath), /unknown field "spec\.pod\.volumes\[0\]\.hostPath"/);
  await assert.rejects(apply(hostPath, '--validate=false'), /spec\.pod\.volumes\[0\]: Invalid value: a volume must set exactly one of emptyDir, configMap, secret, persistentVolumeClaim, projected, downwardAPI, csi, ephemeral/);
});

test('the security context, host namespaces and sidecars are not fields of spec.pod', async () => {
  const asks: Array<[Record<string, unknown>, RegExp]> = [
    [{ securityContext: { runAsUser: 0 } }, /unknown field "spec\.pod\.securityContext"/],
    [{ hostNetwork: true }, /unknown field "spec\.pod\.hostNetwork"/],
    [{ initContainers: [{ name: 'x', image: 'busybox' }] }, /unknown field "spec\.pod\.initContainers"/],
    [{ volumes: [{ name: 'd', emptyDir: {} }], volumeMounts: [{ name: 'd', mountPath: '/d', mountPropagation: 'Bidirectional' }] }, /unknown field "spec\.pod\.volumeMounts\[0\]\.mountPropagation"/],
  ];
  for (const [pod, message] of asks) await assert.rejects(apply(modelDeployment('asks', { pod })), message);
});

test('kubectl explain lists the volume types allowed and what spec.pod is for', async () => {
  const explain = async (field: string) => (await cluster.kubectl(['explain', field])).replace(/\s+/g, ' ');
  const volumes = await explain('mdep.spec.pod.volumes');
  assert.match(volumes, /of one of the types emptyDir, configMap, secret, persistentVolumeClaim, projected, downwardAPI, csi, ephemeral/);
  assert.match(volumes, / emptyDir <Object> /, 'the fields are listed');
  assert.doesNotMatch(volumes, / hostPath <Object> /);
  assert.match(await explain('mdep.spec.pod'), /the router pods get imagePullSecrets, priorityClassName, labels and annotations/);
});
