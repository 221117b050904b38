// A namespaced install on a real API server: the chart with watchNamespaces grants the operator its rules
// as a Role in each listed namespace and nothing writable cluster-wide (`kubectl auth can-i` as its
// ServiceAccount says so), and the operator, run as that ServiceAccount with --watch-namespaces, reconciles
// ModelDeployments in those namespaces with only those permissions and leaves the others alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { OPERATOR_NAMESPACE, startOperator } from './operator-identity.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import { versionedName } from '../../operator/src/render/names.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';
import { eventually } from '../support/eventually.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
const OPERATOR = `system:serviceaccount:${OPERATOR_NAMESPACE}:modelship-operator`;
let cluster: LocalCluster;
let operator: ChildProcess | undefined;
const logs: string[] = [];

/** `kubectl auth can-i` as the operator: 'yes' or 'no' (kubectl exits 1 on no, printing at most a warning). */
const operatorCan = (...args: string[]) => cluster.kubectl(['auth', 'can-i', ...args, '--as', OPERATOR]).then(
  (out) => out.trim(),
  (error: Error) => (/error:/i.test(error.message) ? Promise.reject(error) : 'no'));

before(async () => {
  cluster = await startLocalCluster();
  for (const namespace of ['team-a', 'team-b', 'other']) await cluster.kubectl(['create', 'namespace', namespace]);
  await promisify(execFile)(cluster.binaries.helm, ['install', 'modelship', CHART, '-n', OPERATOR_NAMESPACE, '--create-namespace',
    '--set', 'watchNamespaces={team-a,team-b}', '--kubeconfig', cluster.kubeconfig]);
  await cluster.kubectl(['wait', '--for', 'condition=Established', '--timeout=60s', 'crd/modeldeployments.serving.modelship.dev']);
}, { timeout: 60 * 60_000 });
after(async () => {
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await once(operator, 'exit');
  }
  await cluster?.stop();
});

test('the operator may create and delete what it renders in the watched namespaces, and nowhere else', async () => {
  for (const namespace of ['team-a', 'team-b']) {
    for (const [verb, resource] of [['create', 'deployments.apps'], ['delete', 'deployments.apps'], ['create', 'configmaps'], ['create', 'serviceaccounts'],
      ['create', 'roles.rbac.authorization.k8s.io'], ['create', 'rolebindings.rbac.authorization.k8s.io'], ['watch', 'modeldeployments.serving.modelship.dev']]) {
      assert.equal(await operatorCan(verb, resource, '-n', namespace), 'yes', `${verb} ${resource} in ${namespace}`);
    }
    assert.equal(await operatorCan('patch', 'modeldeployments.serving.modelship.dev', '--subresource=status', '-n', namespace), 'yes');
  }
  for (const [verb, resource] of [['create', 'deployments.apps'], ['delete', 'configmaps'], ['create', 'roles.rbac.authorization.k8s.io'], ['list', 'modeldeployments.serving.modelship.dev']]) {
    assert.equal(await operatorCan(verb, resource, '-n', 'other'), 'no', `${verb} ${resource} in other`);
    assert.equal(await operatorCan(verb, resource, '--all-namespaces'), 'no', `${verb} ${resource} cluster-wide`);
  }
  assert.equal(await operatorCan('create', 'deployments.apps', '-n', 'kube-system'), 'no');
  assert.equal(await operatorCan('get', 'secrets', '-n', 'team-a'), 'no');
  // Cluster-wide it only reads: node capacity, and the pods already using GPUs.
  assert.equal(await operatorCan('watch', 'nodes'), 'yes');
  assert.equal(await operatorCan('list', 'pods', '--all-namespaces'), 'yes');
  assert.equal(await operatorCan('get', 'pods', '-n', 'other'), 'no');
  assert.equal(await operatorCan('patch', 'nodes'), 'no');
  await assert.rejects(cluster.kubectl(['get', 'clusterrole', 'modelship-operator']), /NotFound/, 'the namespaced rules exist only as Roles');
});

test('run as its ServiceAccount with --watch-namespaces, the operator reconciles a ModelDeployment in a watched namespace and leaves the others alone', async () => {
  const token = (await cluster.kubectl(['create', 'token', '-n', OPERATOR_NAMESPACE, 'modelship-operator', '--duration', '1h'])).trim();
  operator = startOperator(cluster.kubeconfigFor('modelship-operator', token), ['--watch-namespaces', 'team-a,team-b', '--workers', '2'], (chunk) => logs.push(chunk));
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('ranker', {}, 'other')));
  const watched = modelDeployment('ranker', {}, 'team-a');
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(watched));
  const context = () => logs.slice(-20).join('');
  await eventually('the model server Deployment in team-a', () => cluster.kubectl(['get', '-n', 'team-a', 'deployment', versionedName(watched as unknown as ModelDeployment), '-o', 'name']), { context });
  const status = await eventually('status in team-a', async () => {
    const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'team-a', 'mdep', 'ranker', '-o', 'json']));
    return mdep.status?.observedGeneration === mdep.metadata.generation ? mdep.status : undefined;
  }, { context });
  assert.ok(status.phase, JSON.stringify(status));
  // The router's own ServiceAccount, Role and RoleBinding: granting a Role takes holding what it grants.
  assert.match(await cluster.kubectl(['get', '-n', 'team-a', 'role,rolebinding,serviceaccount', '-l', 'app.kubernetes.io/managed-by', '-o', 'name']), /role\.rbac\.authorization\.k8s\.io\/ranker/);
  assert.equal((await cluster.kubectl(['get', '-n', 'other', 'deployments', '-o', 'name'])).trim(), '');
  assert.equal(JSON.parse(await cluster.kubectl(['get', '-n', 'other', 'mdep', 'ranker', '-o', 'json'])).status, undefined);
  assert.doesNotMatch(logs.join(''), /forbidden/i);
});
