// The CRD is generated from the TypeScript schema; the committed file must be exactly what it renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { modelDeploymentCrdYaml } from '../../operator/api/crd.ts';
import { CHART_FILES } from '../../charts/generate.ts';

test('crds/modeldeployment.yaml matches the schema (run `make crds` after changing it)', () => {
  const committed = readFileSync(new URL('../../crds/modeldeployment.yaml', import.meta.url), 'utf8');
  assert.equal(committed, modelDeploymentCrdYaml());
});

test('the chart carries the generated CRD and the operator RBAC file (run `make generate` after changing them)', () => {
  for (const [path, render] of CHART_FILES) assert.equal(readFileSync(path, 'utf8'), render(), path);
});
