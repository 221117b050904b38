// The ModelDeployment API on a real API server: the generated CRD installs, every example applies, `kubectl
// explain` is useful, contradictory specs are refused at admission with the CEL message, and the printer
// columns and scale subresource work as users see them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { INVALID_SPECS, modelDeployment } from '../support/invalid-model-deployments.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/modeldeployments/', import.meta.url));

let cluster: LocalCluster;
before(async () => {
  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

describe('valid ModelDeployments', () => {
  test('every example applies, with defaults filled in by the API server', async () => {
    for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
      await cluster.kubectl(['apply', '-n', 'ml', '-f', join(EXAMPLES, file)]);
    }
    const sentiment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'sentiment', '-o', 'json']));
    assert.deepEqual(sentiment.spec.gpu, { mode: 'timeSliced' });
    assert.deepEqual(sentiment.spec.scaling, { minReplicas: 1, maxReplicas: 1, targetQueueDepth: 4, engine: 'hpa' });
    assert.equal(sentiment.spec.runtime.maxBatchSize, 64);
    const churn = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'churn-classifier', '-o', 'json']));
    assert.deepEqual(churn.spec.rollout.steps, [5, 20, 50, 100]);
    assert.equal(churn.spec.rollout.routing.provider, 'router', 'routing defaults to the built-in router');
    const ab = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'recommender', '-o', 'json']));
    assert.deepEqual([ab.spec.rollout.strategy, ab.spec.rollout.abTest.weight, ab.spec.rollout.routing.stickyHeader], ['abTest', 30, 'x-user-id']);
    const embedder = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'modeldeployment', 'embedder', '-o', 'json']));
    assert.equal(embedder.spec.scaling.engine, 'hpa');
    assert.equal(embedder.spec.scaling.targetQueueDepth, 4);
    const tagger = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'product-tagger', '-o', 'json']));
    assert.deepEqual(tagger.spec.runtime.cache, { store: 'redis', ttlSeconds: 300, redis: { url: 'redis://redis.cache.svc:6379/0', passwordSecretRef: { name: 'redis-auth', key: 'password' } } });
  });

  test('printer columns show version, GPU mode and age', async () => {
    const table = await cluster.kubectl(['get', '-n', 'ml', 'mdep']);
    assert.match(table, /^NAME\s+VERSION\s+STABLE\s+READY\s+GPU\s+PHASE\s+ROLLOUT\s+CANARY\s+AGE/);
    assert.match(table, /\nembedder\s+v2\s+.*mig/);
    assert.match(table, /\nfraud-classifier\s+2024-06-01\s+.*none/);
  });

  test('kubectl explain describes the fields', async () => {
    const gpu = await cluster.kubectl(['explain', 'modeldeployment.spec.gpu']);
    assert.match(gpu, /MIG slices of\s+`profile`/);
    const profile = await cluster.kubectl(['explain', 'mdep.spec.gpu.profile']);
    assert.match(profile, /MIG profile for mode mig, e\.g\. 1g\.10gb/);
  });

  test('the scale subresource sets the replica floor, within the CEL bound', async () => {
    await cluster.kubectl(['scale', '-n', 'ml', 'mdep', 'fraud-classifier', '--replicas', '3']);
    const scaled = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
    assert.equal(scaled.spec.scaling.minReplicas, 3);
    await assert.rejects(cluster.kubectl(['scale', '-n', 'ml', 'mdep', 'fraud-classifier', '--replicas', '9']), /scaling.minReplicas must not exceed scaling.maxReplicas/);
  });
});

describe('model sources', () => {
  const SOURCES: Array<[string, Record<string, unknown>]> = [
    ['s3', { uri: 's3://models/ranker/v1/model.onnx', s3: { endpoint: 'http://minio.storage.svc:9000', region: 'eu-west-1', pathStyle: true, credentialsSecretName: 'model-store' } }],
    ['http-headers', { uri: 'https://models.internal/ranker.onnx', headersSecretRef: { name: 'model-hub', key: 'headers' } }],
    ['pvc', { uri: 'pvc://model-store/ranker/v1/model.onnx' }],
    ['oci', { uri: 'oci://registry.example.com/ml/ranker:v1', oci: { file: 'models/ranker.onnx', pullPolicy: 'IfNotPresent' } }],
  ];
  for (const [name, model] of SOURCES) {
    test(`${name}: the ModelDeployment is admitted and the Deployment the operator renders for it is accepted by the API server`, async () => {
      const object = modelDeployment(`source-${name}`, { model: { version: 'v1', ...model } });
      await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(object));
      const { object: stored, errors } = validateModelDeployment(object);
      assert.deepEqual(errors, []);
      stored.metadata.uid = '00000000-0000-0000-0000-000000000001';
      const deployment = renderDesiredState(stored, DEFAULT_SETTINGS).find((o) => o.kind === 'Deployment')!;
      // Server-side: defaulting and the full apps/v1 and core/v1 validation (an image volume included) run.
      const accepted = JSON.parse(await cluster.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(deployment)));
      const volumes = accepted.spec.template.spec.volumes as Array<Record<string, any>>;
      if (name === 'pvc') assert.deepEqual(volumes.find((v) => v.name === 'model-source')?.persistentVolumeClaim, { claimName: 'model-store', readOnly: true });
      if (name === 'oci') assert.deepEqual(volumes.find((v) => v.name === 'model-source')?.image, { reference: 'registry.example.com/ml/ranker:v1', pullPolicy: 'IfNotPresent' });
    });
  }
});

describe('contradictory ModelDeployments are refused at admission with a clear message', () => {
  INVALID_SPECS.forEach(({ what, spec, message, field }, i) => {
    test(what, async () => {
      const error = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment(`bad-${i}`, spec))).then(() => undefined, (e: Error) => e);
      assert.ok(error, 'the API server accepted it');
      assert.ok(error.message.includes(field) && error.message.includes(message), error.message);
    });
  });

  const schemaRefusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown GPU mode', { gpu: { mode: 'tpu' } }, /spec\.gpu\.mode: Unsupported value: "tpu"/],
    ['an unknown scaling engine', { scaling: { engine: 'vpa' } }, /spec\.scaling\.engine: Unsupported value: "vpa"/],
    ['a malformed checksum', { model: { uri: 'x', version: 'v1', sha256: 'abc' } }, /spec\.model\.sha256: Invalid value: "abc"/],
    ['a model without a version', { model: { uri: 'x' } }, /spec\.model\.version: Required value/],
    // Passed on to the Deployment and the autoscaler as they are, so typed as core/v1 and autoscaling/v2 type them.
    ['a toleration that lasts "forever"', { gpu: { mode: 'full', tolerations: [{ key: 'maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 'forever' }] } },
      /spec\.gpu\.tolerations\[0\]\.tolerationSeconds: Invalid value: "string".*must be of type integer/],
    ['an unknown toleration operator', { gpu: { tolerations: [{ key: 'k', operator: 'Matches' }] } }, /spec\.gpu\.tolerations\[0\]\.operator: Unsupported value: "Matches"/],
    ['a scaling policy without a period', { scaling: { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 4 }] } } } }, /spec\.scaling\.behavior\.scaleUp\.policies\[0\]\.periodSeconds: Required value/],
  ];
  schemaRefusals.forEach(([what, spec, message], i) => {
    test(what, async () => {
      await assert.rejects(cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment(`schema-${i}`, spec))), message);
    });
  });
});
