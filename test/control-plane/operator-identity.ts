// The operator's identity in the local cluster, as the chart sets it up: its namespace, the RBAC file, and
// a token for its ServiceAccount. The operator then runs with exactly the permissions it ships with.
import { spawn, type ChildProcess } from 'node:child_process';
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

const OPERATOR_BIN = fileURLToPath(new URL('../../operator/bin/modelship.js', import.meta.url));

/**
 * Starts `modelship operator` as that identity, campaigning for the Lease in the operator's namespace, as
 * the chart's Deployment runs it. Its output goes to `log` (or this process's own output when omitted).
 */
export function startOperator(kubeconfig: string, args: string[] = [], log?: (chunk: string) => void): ChildProcess {
  const child = spawn(process.execPath, [OPERATOR_BIN, 'operator', '--kubeconfig', kubeconfig, '--health-port', '0', '--lease-namespace', OPERATOR_NAMESPACE, ...args],
    { stdio: log ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  if (log) {
    child.stdout!.on('data', (d) => log(String(d)));
    child.stderr!.on('data', (d) => log(String(d)));
  }
  return child;
}
