// The local control plane itself: real etcd and kube-apiserver built from upstream, RBAC on, reachable
// with kubectl through a kubeconfig that verifies the server's certificate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { KUBERNETES_VERSION } from '../../cluster/upstream-binaries.ts';

let cluster: LocalCluster;
before(async () => {
  cluster = await startLocalCluster();
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

test('kubectl reaches the API server and it reports the version built', async () => {
  const version = JSON.parse(await cluster.kubectl(['version', '-o', 'json']));
  assert.equal(version.serverVersion.gitVersion, KUBERNETES_VERSION);
  assert.equal(version.clientVersion.gitVersion, KUBERNETES_VERSION);
  const namespaces = await cluster.kubectl(['get', 'namespaces', '-o', 'name']);
  assert.match(namespaces, /namespace\/default/);
  assert.match(namespaces, /namespace\/kube-system/);
});

test('objects round-trip through etcd', async () => {
  await cluster.kubectl(['create', 'namespace', 'roundtrip']);
  await cluster.kubectl(['-n', 'roundtrip', 'create', 'configmap', 'c', '--from-literal=k=v']);
  const value = await cluster.kubectl(['-n', 'roundtrip', 'get', 'configmap', 'c', '-o', 'jsonpath={.data.k}']);
  assert.equal(value, 'v');
});

test('RBAC is enforced: an identity without grants is forbidden', async () => {
  await assert.rejects(
    cluster.kubectl(['get', 'pods', '-A', '--as', 'system:serviceaccount:default:nobody']),
    /forbidden/,
  );
});
