// The `modelship` CLI as users run it: validate and render the examples, refuse bad input with the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

const BIN = fileURLToPath(new URL('../../operator/bin/modelship.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/modeldeployments/', import.meta.url));
const run = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8' });

test('validate accepts the examples and names each', () => {
  const result = run(['validate', '-f', `${EXAMPLES}gpu-mig.yaml`]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'embedder: valid\n');
});

test('validate refuses with the field and the admission message, exit 1', () => {
  const result = run(['validate', '-f', '-'], JSON.stringify(modelDeployment('bad', { gpu: { mode: 'mig' } })));
  assert.equal(result.status, 1);
  assert.match(result.stderr, /bad: invalid\n  spec\.gpu\.profile: gpu\.mode mig requires gpu\.profile, e\.g\. 1g\.10gb/);
});

test('render prints the objects as YAML documents, honouring the MIG strategy', () => {
  const result = run(['render', '-f', `${EXAMPLES}gpu-mig.yaml`, '--mig-strategy', 'single']);
  assert.equal(result.status, 0, result.stderr);
  const docs = parseAllDocuments(result.stdout).map((d) => d.toJS());
  assert.deepEqual(docs.map((d) => d.kind), ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service']);
  assert.deepEqual(docs[0].spec.template.spec.containers[0].resources.limits, { 'nvidia.com/gpu': '1' });
});

test('usage errors exit 2 and say what is wrong', () => {
  assert.equal(run([]).status, 2);
  const noFile = run(['render']);
  assert.equal(noFile.status, 2);
  assert.match(noFile.stderr, /-f FILE is required/);
  const badChoice = run(['render', '-f', `${EXAMPLES}gpu-mig.yaml`, '--mig-strategy', 'odd']);
  assert.equal(badChoice.status, 2);
  assert.match(badChoice.stderr, /--mig-strategy: must be one of mixed, single/);
});

test('operator --watch-namespaces refuses a name that is not a namespace, exit 2, before connecting anywhere', () => {
  const result = run(['operator', '--kubeconfig', '/nonexistent', '--watch-namespaces', 'team-a,Team_B']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--watch-namespaces: 'Team_B' is not a namespace name/);
});
