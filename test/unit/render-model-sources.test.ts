// How each model source reaches the server container: settings and Secret references for the sources the
// server fetches itself (s3://, http(s):// with headers), a read-only volume for pvc:// and oci://. What the
// server makes of the rendered variables is read by its own option loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { loadServeOptions } from '../../server-image/src/config/load.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

function podOf(model: Record<string, unknown>, runtime: Record<string, unknown> = {}, monitoring?: Record<string, unknown>) {
  const { object, errors } = validateModelDeployment(modelDeployment('ranker', { model: { version: 'v1', ...model }, runtime, ...(monitoring ? { monitoring } : {}) }));
  assert.deepEqual(errors, []);
  object.metadata.uid = 'uid-1';
  const deployment = renderDesiredState(object, DEFAULT_SETTINGS).find((o) => o.kind === 'Deployment') as Record<string, any>;
  const pod = deployment.spec.template.spec;
  const env = pod.containers[0].env as Array<Record<string, any>>;
  const serverSees = loadServeOptions([], Object.fromEntries(env.filter((e) => 'value' in e).map((e) => [e.name, e.value])));
  return { pod, env, serverSees, mounts: pod.containers[0].volumeMounts as Array<Record<string, unknown>> };
}

const fromSecret = (env: Array<Record<string, any>>, name: string) => env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;

test('s3://: the store settings as server options, the keys only as references to the Secret (a user variable of the same name loses)', () => {
  const { env, serverSees, pod } = podOf(
    { uri: 's3://models/ranker/v1/model.onnx', s3: { endpoint: 'http://minio.storage.svc:9000', region: 'eu-west-1', pathStyle: true, credentialsSecretName: 'model-store' } },
    { env: [{ name: 'AWS_ACCESS_KEY_ID', value: 'from-runtime-env' }] },
  );
  assert.deepEqual([serverSees.model, serverSees.s3Endpoint, serverSees.s3Region, serverSees.s3PathStyle],
    ['s3://models/ranker/v1/model.onnx', 'http://minio.storage.svc:9000', 'eu-west-1', true]);
  assert.deepEqual(fromSecret(env, 'AWS_ACCESS_KEY_ID'), { name: 'model-store', key: 'AWS_ACCESS_KEY_ID' });
  assert.deepEqual(fromSecret(env, 'AWS_SECRET_ACCESS_KEY'), { name: 'model-store', key: 'AWS_SECRET_ACCESS_KEY' });
  assert.equal(env.filter((e) => e.name === 'AWS_ACCESS_KEY_ID').length, 1);
  assert.equal(pod.volumes.length, 1, 'no volume beyond /tmp: the server downloads the object');
});

test('s3:// without a credentials Secret: no keys in the pod (the pod identity or a public object), AWS S3 by default', () => {
  const { env, serverSees } = podOf({ uri: 's3://models/m.onnx' });
  assert.equal(env.some((e) => e.name.startsWith('AWS_')), false);
  assert.deepEqual([serverSees.s3Endpoint, serverSees.s3Region, serverSees.s3PathStyle], [undefined, 'us-east-1', false]);
});

test("http(s):// with headersSecretRef: the headers only as a reference to the Secret's key", () => {
  const { env, serverSees } = podOf({ uri: 'https://models.internal/m.onnx', headersSecretRef: { name: 'model-hub', key: 'headers' } });
  assert.deepEqual(fromSecret(env, 'MODELSHIP_DOWNLOAD_HEADERS'), { name: 'model-hub', key: 'headers' });
  assert.equal(serverSees.downloadHeaders, undefined, 'no value in the pod spec');
});

test('pvc://claim/path: the claim mounted read-only, the server given the path inside it', () => {
  const { pod, mounts, serverSees } = podOf({ uri: 'pvc://model-store/ranker/v1/model.onnx' });
  assert.deepEqual(pod.volumes.find((v: Record<string, unknown>) => v.name === 'model-source'), { name: 'model-source', persistentVolumeClaim: { claimName: 'model-store', readOnly: true } });
  assert.deepEqual(mounts.find((m) => m.name === 'model-source'), { name: 'model-source', mountPath: '/model-source', readOnly: true });
  assert.equal(serverSees.model, '/model-source/ranker/v1/model.onnx');
});

test('oci://registry/repo:tag: an image volume with the reference and pull policy, the server given the file in it', () => {
  const { pod, mounts, serverSees } = podOf({ uri: 'oci://registry.example.com:5000/ml/ranker@sha256:' + 'a'.repeat(64), oci: { file: 'models/ranker.onnx', pullPolicy: 'IfNotPresent' } });
  assert.deepEqual(pod.volumes.find((v: Record<string, unknown>) => v.name === 'model-source'),
    { name: 'model-source', image: { reference: `registry.example.com:5000/ml/ranker@sha256:${'a'.repeat(64)}`, pullPolicy: 'IfNotPresent' } });
  assert.deepEqual(mounts.find((m) => m.name === 'model-source'), { name: 'model-source', mountPath: '/model-source', readOnly: true });
  assert.equal(serverSees.model, '/model-source/models/ranker.onnx');
  assert.equal(podOf({ uri: 'oci://ghcr.io/acme/ranker:v1' }).serverSees.model, '/model-source/model.onnx', 'model.onnx by default');
});

test('a plain https:// model: no volume beyond /tmp, no Secret', () => {
  const { pod, env, serverSees } = podOf({ uri: 'https://models.example.com/m.onnx' });
  assert.deepEqual(pod.volumes.map((v: Record<string, unknown>) => v.name), ['tmp']);
  assert.equal(env.some((e) => 'valueFrom' in e), false);
  assert.equal(serverSees.model, 'https://models.example.com/m.onnx');
});

test('spec.monitoring reaches the server as its drift and prediction-log settings; unset ones keep the server\'s defaults', () => {
  const sha = 'c'.repeat(64);
  const { serverSees } = podOf({ uri: 'https://models.internal/m.onnx' }, {}, {
    baseline: { uri: 'https://models.internal/baseline.json', sha256: sha },
    drift: { windowSeconds: 600, minRows: 50, sampleRate: 0.5 },
    predictionLog: { sink: 'http://collector.logging.svc/events', sampleRate: 0.1, inputElements: 0 },
  });
  assert.deepEqual(
    [serverSees.baseline, serverSees.baselineSha256, serverSees.driftWindowSeconds, serverSees.driftMinRows, serverSees.driftSampleRate],
    ['https://models.internal/baseline.json', sha, 600, 50, 0.5]);
  assert.deepEqual([serverSees.predictionLog, serverSees.predictionLogSampleRate, serverSees.predictionLogInputElements], ['http://collector.logging.svc/events', 0.1, 0]);
  const unset = podOf({ uri: 'https://models.internal/m.onnx' }).serverSees;
  assert.equal(unset.baseline, undefined);
  assert.equal(unset.predictionLog, undefined);
});

test("a pvc:// baseline: a path in the model's mount on the model's claim, its own read-only mount on another", () => {
  const same = podOf({ uri: 'pvc://model-store/ranker/model.onnx' }, {}, { baseline: { uri: 'pvc://model-store/ranker/baseline.json' } });
  assert.equal(same.serverSees.baseline, '/model-source/ranker/baseline.json');
  assert.equal(same.pod.volumes.some((v: Record<string, unknown>) => v.name === 'baseline-source'), false);
  const other = podOf({ uri: 'https://models.internal/m.onnx' }, {}, { baseline: { uri: 'pvc://profiles/ranker/baseline.json' } });
  assert.equal(other.serverSees.baseline, '/baseline-source/ranker/baseline.json');
  assert.deepEqual(other.pod.volumes.find((v: Record<string, unknown>) => v.name === 'baseline-source').persistentVolumeClaim, { claimName: 'profiles', readOnly: true });
  assert.deepEqual(other.mounts.find((m) => m.name === 'baseline-source'), { name: 'baseline-source', mountPath: '/baseline-source', readOnly: true });
});
