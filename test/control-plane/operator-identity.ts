// The operator's identity in the local cluster, as the chart sets it up: its namespace, the RBAC file, and
// a token for its ServiceAccount. The operator then runs with exactly the permissions it ships with.
import { fileURLToPath } from 'node:url';
import type { LocalCluster } from './local-cluster.ts';

export const OPERATOR_NAMESPACE = 'modelship-system';
const RBAC = fileURLToPath(new URL('../../operator/rbac/operator-rbac.yaml', import.meta.url));

/** Creates the namespace and RBAC, and returns a kubeconfig that authenticates as the operator. */
export async function operatorKubeconfig(cluster: LocalCluster): Promise<string> {
  await cluster.kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  await cluster.kubectl(['apply', '-f', RBAC]);
  const token = (await cluster.kubectl(['create', 'token', '-n', OPERATOR_NAMESPACE, 'modelship-operator', '--duration', '1h'])).trim();
  return cluster.kubeconfigFor('modelship-operator', token);
}
