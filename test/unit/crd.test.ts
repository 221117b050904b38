// The CRD is generated from the TypeScript schema; the committed file must be exactly what it renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { modelDeploymentCrdYaml } from '../../operator/api/crd.ts';

test('crds/modeldeployment.yaml matches the schema (run `make crds` after changing it)', () => {
  const committed = readFileSync(new URL('../../crds/modeldeployment.yaml', import.meta.url), 'utf8');
  assert.equal(committed, modelDeploymentCrdYaml());
});
