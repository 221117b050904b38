// `modelship validate` logic: the CRD's schema and rules outside the API server, with the same messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { INVALID_SPECS, modelDeployment } from '../support/invalid-model-deployments.ts';

const examples = new URL('../../examples/modeldeployments/', import.meta.url);

test('every example is valid, and defaults are applied as the API server applies them', () => {
  for (const file of readdirSync(examples).filter((f) => f.endsWith('.yaml'))) {
    const { errors } = validateModelDeployment(parse(readFileSync(new URL(file, examples), 'utf8')));
    assert.deepEqual(errors, [], file);
  }
  const { object } = validateModelDeployment(modelDeployment('d', { gpu: { mode: 'timeSliced' } }));
  assert.deepEqual(object.spec.gpu, { mode: 'timeSliced' });
  assert.deepEqual(object.spec.scaling, { minReplicas: 1, maxReplicas: 1, targetQueueDepth: 4, engine: 'hpa' });
  assert.equal(object.spec.runtime?.maxBatchSize, 64);
});

for (const { what, spec, message, field } of INVALID_SPECS) {
  test(`refuses ${what} with the admission message`, () => {
    const { errors } = validateModelDeployment(modelDeployment('bad', spec));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.ok(errors[0].startsWith(`${field}`) && errors[0].includes(message), errors[0]);
  });
}

test('schema errors name the field', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ gpu: { mode: 'tpu' } }, /^spec\.gpu\.mode: must be one of none, full, mig, timeSliced$/],
    [{ model: { uri: 'x' } }, /^spec\.model\.version: required$/],
    [{ model: { uri: 'x', version: 'v1', sha256: 'abc' } }, /^spec\.model\.sha256: must match pattern/],
    [{ scaling: { targetQueueDepth: 0 } }, /^spec\.scaling\.targetQueueDepth: must be > 0$/],
    [{ gpu: { mdoe: 'full' } }, /^spec\.gpu\.mdoe: unknown field$/],
    [{ resources: { requests: { cpu: 'lots' } } }, /^spec\.resources\.requests\.cpu: must match pattern/],
    [{ gpu: { mode: 'full', tolerations: [{ key: 'k', effect: 'NoExecute', tolerationSeconds: 'forever' }] } }, /^spec\.gpu\.tolerations\.0\.tolerationSeconds: must be integer$/],
    [{ scaling: { behavior: { scaleDown: { selectPolicy: 'Slowest' } } } }, /^spec\.scaling\.behavior\.scaleDown\.selectPolicy: must be one of Max, Min, Disabled$/],
    // What would turn the pods' hardening off is not a field of spec.pod.
    [{ pod: { volumes: [{ name: 'node', hostPath: { path: '/' } }] } }, /^spec\.pod\.volumes\.0\.hostPath: unknown field$/],
    [{ pod: { securityContext: { runAsUser: 0 } } }, /^spec\.pod\.securityContext: unknown field$/],
    [{ pod: { volumes: [{ name: 'd', emptyDir: {} }], volumeMounts: [{ name: 'd', mountPath: '/data/../tmp' }] } }, /^spec\.pod\.volumeMounts\.0\.mountPath: must match pattern/],
    [{ pod: { serviceAccountName: 'Not_A_Name' } }, /^spec\.pod\.serviceAccountName: must match pattern/],
  ];
  for (const [spec, message] of cases) {
    const { errors } = validateModelDeployment(modelDeployment('bad', spec));
    assert.ok(errors.some((e) => message.test(e)), `${JSON.stringify(spec)} -> ${errors.join(' | ')}`);
  }
  assert.deepEqual(validateModelDeployment({ ...modelDeployment('x', {}), kind: 'Deployment' }).errors, ['kind: must be ModelDeployment']);
});
