// spec.pod and spec.resources on the rendered pods, on plain data: which pods get which field, the
// defaults the operator fills in, and the operator's own labels, annotations, volumes and mounts kept its
// own. (What admission refuses is in test/support/invalid-model-deployments.ts, held against both the
// operator's validation and the real API server.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { OPERATOR_KEY_PREFIX, OPERATOR_POD_ANNOTATIONS, OPERATOR_POD_LABELS, OPERATOR_VOLUMES, quantityValue } from '../../operator/api/v1alpha1/schema.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';
import { EVERY_POD_FIELD } from '../support/pod-fields-spec.ts';

function stored(spec: Record<string, unknown>) {
  const { object, errors } = validateModelDeployment(modelDeployment('ranker', spec));
  assert.deepEqual(errors, []);
  return object;
}
type Obj = Record<string, any>;
const deployments = (objects: Obj[]) => ({
  server: objects.find((o) => o.kind === 'Deployment' && o.metadata.labels['app.kubernetes.io/component'] === 'model-server')!.spec.template,
  router: objects.find((o) => o.kind === 'Deployment' && o.metadata.labels['app.kubernetes.io/component'] === 'router')!.spec.template,
});
const render = (spec: Record<string, unknown>) => deployments(renderDesiredState(stored(spec), DEFAULT_SETTINGS) as Obj[]);

test('the model-server pods get every field of spec.pod, beside what the operator sets', () => {
  const { server } = render(EVERY_POD_FIELD);
  const { pod } = EVERY_POD_FIELD;
  assert.equal(server.spec.serviceAccountName, pod.serviceAccountName);
  assert.deepEqual(server.spec.imagePullSecrets, pod.imagePullSecrets);
  assert.equal(server.spec.priorityClassName, pod.priorityClassName);
  assert.deepEqual(server.spec.affinity, pod.affinity);
  assert.deepEqual(server.metadata.labels, { ...pod.labels, 'app.kubernetes.io/name': 'modelship-server', 'app.kubernetes.io/instance': 'ranker', 'serving.modelship.dev/version': 'v1', 'app.kubernetes.io/managed-by': 'modelship', 'app.kubernetes.io/component': 'model-server' });
  assert.deepEqual(server.metadata.annotations, { ...pod.annotations, 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });
  assert.deepEqual(server.spec.volumes.slice(1), pod.volumes, "after the operator's /tmp");
  assert.deepEqual(server.spec.containers[0].volumeMounts.slice(1), pod.volumeMounts);
  assert.equal(server.spec.automountServiceAccountToken, false, 'a token only through a projected volume that asks for one');
  // The hardening is the operator's whatever spec.pod says.
  assert.deepEqual(server.spec.containers[0].securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  assert.deepEqual(server.spec.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
});

test("a GPU pod carries the CPU and memory of spec.resources beside the GPU of spec.gpu", () => {
  const { server } = render(EVERY_POD_FIELD);
  assert.deepEqual(server.spec.containers[0].resources, { requests: { cpu: '2', memory: '8Gi' }, limits: { cpu: '4', memory: '8Gi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(server.spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
});

test('the router pods get the pull secrets, priority class, labels and annotations, and keep their own identity and placement', () => {
  const { router } = render(EVERY_POD_FIELD);
  const { pod } = EVERY_POD_FIELD;
  assert.deepEqual(router.spec.imagePullSecrets, pod.imagePullSecrets);
  assert.equal(router.spec.priorityClassName, pod.priorityClassName);
  assert.equal(router.metadata.labels.team, 'search');
  assert.equal(router.metadata.labels['app.kubernetes.io/name'], 'modelship-router');
  assert.equal(router.metadata.annotations['example.com/owner'], pod.annotations['example.com/owner']);
  assert.equal(router.spec.serviceAccountName, 'ranker-router');
  for (const field of ['affinity', 'topologySpreadConstraints', 'volumes']) assert.equal(router.spec[field], undefined, field);
});

test("a spread constraint without a labelSelector spreads the pods of its version; one with a selector keeps it", () => {
  const { server } = render(EVERY_POD_FIELD);
  const [own, given] = server.spec.topologySpreadConstraints;
  assert.deepEqual(own, { ...EVERY_POD_FIELD.pod.topologySpreadConstraints[0], labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'modelship-server', 'app.kubernetes.io/instance': 'ranker', 'serving.modelship.dev/version': 'v1' } } });
  assert.deepEqual(given, EVERY_POD_FIELD.pod.topologySpreadConstraints[1]);
});

test('without spec.pod the pods are as before: no empty fields added', () => {
  const { server, router } = render({});
  for (const field of ['serviceAccountName', 'imagePullSecrets', 'priorityClassName', 'affinity', 'topologySpreadConstraints']) {
    assert.equal(field in server.spec, false, field);
    assert.equal(field in router.spec, field === 'serviceAccountName', field);
  }
  assert.deepEqual(server.spec.volumes.map((v: Obj) => v.name), ['tmp']);
});

test('every label and annotation the operator puts on a pod, and every volume and mount, is one admission keeps out of spec.pod', () => {
  // A model on a claim and its baseline on another: the operator mounts both beside its /tmp.
  const { server, router } = render({
    model: { uri: 'pvc://model-store/ranker/model.onnx', version: 'v1' }, rollout: { strategy: 'canary' },
    monitoring: { baseline: { uri: 'pvc://profiles/ranker/baseline.json' } },
  });
  const reservedLabel = (k: string) => (OPERATOR_POD_LABELS as readonly string[]).includes(k) || k.startsWith(OPERATOR_KEY_PREFIX);
  const reservedAnnotation = (k: string) => (OPERATOR_POD_ANNOTATIONS as readonly string[]).includes(k) || k.startsWith(OPERATOR_KEY_PREFIX);
  for (const template of [server, router]) {
    for (const key of Object.keys(template.metadata.labels)) assert.ok(reservedLabel(key), key);
    for (const key of Object.keys(template.metadata.annotations)) assert.ok(reservedAnnotation(key), key);
  }
  assert.deepEqual(Object.fromEntries(server.spec.containers[0].volumeMounts.map((m: Obj) => [m.name, m.mountPath])), OPERATOR_VOLUMES);
  assert.deepEqual(server.spec.volumes.map((v: Obj) => v.name), Object.keys(OPERATOR_VOLUMES));
});

test("the operator's labels and annotations win over spec.pod's, even in a spec stored without admission", () => {
  const mdep = stored({});
  mdep.spec.pod = { labels: { 'app.kubernetes.io/instance': 'other' }, annotations: { 'prometheus.io/port': '9999' } };
  const { server, router } = deployments(renderDesiredState(mdep, DEFAULT_SETTINGS) as Obj[]);
  assert.equal(server.metadata.labels['app.kubernetes.io/instance'], 'ranker');
  assert.equal(router.metadata.labels['app.kubernetes.io/instance'], 'ranker');
  assert.equal(server.metadata.annotations['prometheus.io/port'], '8080');
});

test('quantities compare as the API server compares them', () => {
  const cases: Array<[string | number, number]> = [['100m', 0.1], ['0.1', 0.1], [2, 2], ['1Gi', 2 ** 30], ['1G', 1e9], ['1e3', 1000], ['1.5Mi', 1.5 * 2 ** 20], ['500u', 0.0005], ['+2k', 2000]];
  for (const [quantity, value] of cases) assert.equal(quantityValue(quantity), value, String(quantity));
  assert.ok(quantityValue('1Gi') > quantityValue('1000Mi'));
  assert.equal(quantityValue('1000m'), quantityValue('1'));
  assert.ok(Number.isNaN(quantityValue('lots')));
});
