// The Helm chart, with the real helm binary against the simulated cluster, as a platform team installs it:
// values validated by values.schema.json, the CRD and the operator's RBAC installed, two operator replicas
// scheduled and Ready, and uninstall removing the operator (CRDs stay, as Helm keeps them).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { addGpuNodes } from './gpu-nodes.ts';
import { eventually } from '../support/eventually.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
let cluster: LocalCluster;

const helm = async (...args: string[]) => {
  const { stdout } = await promisify(execFile)(cluster.binaries.helm, [...args, '--kubeconfig', cluster.kubeconfig]);
  return stdout;
};

before(async () => {
  cluster = await startLocalCluster({ simulated: true });
  await addGpuNodes(cluster);
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

test('values that break the schema are refused, and no release or operator is installed', async () => {
  await assert.rejects(helm('install', 'bad', CHART, '-n', 'modelship-system', '--create-namespace', '--set', 'gpu.migStrategy=weird'),
    /at '\/gpu\/migStrategy': value must be one of 'mixed', 'single'/);
  await assert.rejects(helm('install', 'bad', CHART, '-n', 'modelship-system', '--create-namespace', '--set', 'replicas=0'), /at '\/replicas': minimum: got 0, want 1/);
  // (Helm installs a chart's crds/ before rendering templates, so the CRD itself may already be there.)
  assert.equal((await helm('list', '-A', '-q')).trim(), '');
  assert.equal((await cluster.kubectl(['get', 'deployments', '-A', '-o', 'name'])).trim(), '');
});

test('the templates carry the values into the operator\'s arguments', async () => {
  const docs = parseAllDocuments(await helm('template', 'ms', CHART, '-n', 'ops', '--set', 'gpu.migStrategy=single', '--set', 'workers=8')).map((d) => d.toJS());
  const deployment = docs.find((d) => d?.kind === 'Deployment');
  const args = deployment.spec.template.spec.containers[0].args;
  assert.ok(args.includes('--mig-strategy=single') && args.includes('--workers=8') && args.includes('--lease-namespace=ops'), args.join(' '));
  const binding = docs.find((d) => d?.kind === 'ClusterRoleBinding');
  assert.equal(binding.subjects[0].namespace, 'ops');
});

test('helm install brings up the CRD, the RBAC and two Ready operator replicas; uninstall removes them', async () => {
  await helm('install', 'modelship', CHART, '-n', 'modelship-system', '--create-namespace', '--wait', '--timeout', '120s');
  await cluster.kubectl(['wait', '--for', 'condition=Established', 'crd/modeldeployments.serving.modelship.dev', '--timeout=30s']);
  const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'modelship-system', 'deployment', 'modelship-operator', '-o', 'json']));
  assert.equal(deployment.status.readyReplicas, 2);
  assert.equal(deployment.spec.template.spec.serviceAccountName, 'modelship-operator');
  const can = await cluster.kubectl(['auth', 'can-i', 'patch', 'modeldeployments.serving.modelship.dev', '--subresource=status', '-n', 'ml',
    '--as', 'system:serviceaccount:modelship-system:modelship-operator']);
  assert.equal(can.trim(), 'yes');
  await helm('uninstall', 'modelship', '-n', 'modelship-system', '--wait');
  await eventually('the operator to be removed', async () => {
    const left = await cluster.kubectl(['get', '-n', 'modelship-system', 'deployment,serviceaccount', '-l', 'app.kubernetes.io/name=modelship-operator', '-o', 'name']);
    return left.trim() === '' ? true : undefined;
  });
  assert.match(await cluster.kubectl(['get', 'crd', '-o', 'name']), /modeldeployments\.serving\.modelship\.dev/);
});
