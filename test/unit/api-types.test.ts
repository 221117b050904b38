// The API's TypeScript types are derived from the schema: `make test` type-checks this file, and each
// expected-error directive below fails the type check if the derived type stops refusing what the schema refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelDeploymentSpec, GpuMode } from '../../operator/src/api/types.ts';

const valid: ModelDeploymentSpec = {
  model: { uri: 'https://m/x.onnx', version: 'v1', sha256: 'a'.repeat(64) },
  gpu: { mode: 'mig', profile: '1g.10gb', count: 1, nodeSelector: { zone: 'a' } },
  scaling: { minReplicas: 0, maxReplicas: 3, engine: 'keda' },
  resources: { requests: { cpu: '2', memory: 1 } },
  runtime: { env: [{ name: 'MODELSHIP_LOG_LEVEL', value: 'debug' }] },
};

// @ts-expect-error model.version is required by the schema
const noVersion: ModelDeploymentSpec = { model: { uri: 'x' } };
// @ts-expect-error gpu.mode is an enum in the schema
const badMode: GpuMode = 'tpu';
// @ts-expect-error scaling.engine is an enum in the schema
const badEngine: ModelDeploymentSpec = { model: { uri: 'x', version: 'v1' }, scaling: { engine: 'vpa' } };
// @ts-expect-error minReplicas is an integer, not a string
const badReplicas: ModelDeploymentSpec = { model: { uri: 'x', version: 'v1' }, scaling: { minReplicas: '2' } };
// @ts-expect-error env entries need a name
const badEnv: ModelDeploymentSpec = { model: { uri: 'x', version: 'v1' }, runtime: { env: [{ value: 'x' }] } };

test('the derived types admit a full valid spec (the refusals above are checked by tsc)', () => {
  assert.equal(valid.gpu?.mode, 'mig');
  assert.ok([noVersion, badMode, badEngine, badReplicas, badEnv].length === 5);
});
