// Removes the objects of model versions that no longer run: the Deployment, Service, PDB and autoscaler of
// every version of the ModelDeployment that the rollout no longer lists (a promoted version's predecessor
// once it drained, a rolled back candidate). The stable version is always listed, so the model is never
// left without pods. Only objects the ModelDeployment controls are deleted: a namesake of another owner
// (reported as a conflict when applying) is left alone.
import type { KubernetesObjectApi, V1Deployment } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.ts';
import { instanceLabel, labelValue, MANAGER, versionedName } from '../render/names.ts';
import { apiStatus, isNotFound } from './api-errors.ts';
import { isControlledBy } from './ownership.ts';
import { httpRouteName } from '../render/http-route.ts';
import { routerObjectRefs } from '../render/router.ts';

const PER_VERSION_KINDS: Array<[string, string]> = [
  ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  ['keda.sh/v1alpha1', 'ScaledObject'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['v1', 'Service'],
  ['apps/v1', 'Deployment'],
];

/** The Deployments of a ModelDeployment's model versions (one list call; the reconciler reads their readiness too). */
export async function listVersionDeployments(objects: KubernetesObjectApi, mdep: ModelDeployment): Promise<V1Deployment[]> {
  const namespace = mdep.metadata.namespace ?? 'default';
  const selector = `app.kubernetes.io/instance=${instanceLabel(mdep)},app.kubernetes.io/managed-by=${MANAGER},app.kubernetes.io/component=model-server`;
  const deployments = await objects.list<V1Deployment>('apps/v1', 'Deployment', namespace, undefined, undefined, undefined, undefined, selector);
  return deployments.items.filter((d) => d.metadata?.ownerReferences?.some((o) => o.uid === mdep.metadata.uid));
}

export const versionOf = (d: V1Deployment) => d.metadata?.labels?.['serving.modelship.dev/version'] ?? '';

/**
 * Deletes the object if the ModelDeployment controls it; whether it did. The uid precondition makes the
 * delete fail rather than remove a namesake created since the read.
 */
async function deleteOwned(objects: KubernetesObjectApi, mdep: ModelDeployment, apiVersion: string, kind: string, name: string): Promise<boolean> {
  const ref = { apiVersion, kind, metadata: { name, namespace: mdep.metadata.namespace ?? 'default' } };
  try {
    const live = await objects.read(ref);
    if (!isControlledBy(live, mdep.metadata.uid)) return false;
    await objects.delete(ref, undefined, undefined, undefined, undefined, 'Background', { preconditions: { uid: live.metadata?.uid } });
    return true;
  } catch (error) {
    // Not every version has every kind (an autoscaler of the other engine, say), and KEDA may not be
    // installed; 409: replaced by a namesake since the read.
    if (isNotFound(error) || apiStatus(error) === 409) return false;
    throw error;
  }
}

/** Whether the Deployment now named for a version serves as much as the one it replaces did (at least a pod). */
function replaced(stale: V1Deployment, current: V1Deployment | undefined): boolean {
  const ready = current?.status?.readyReplicas ?? 0;
  return ready >= 1 && ready >= Math.min(stale.status?.readyReplicas ?? 0, current?.spec?.replicas ?? 1);
}

/**
 * Deletes the objects of versions not in `keep`; returns the versions whose Deployment went. A kept
 * version's Deployment under another name (made by an operator that named objects otherwise) goes too,
 * once the one named now is ready: both carry the version's pod labels, so its Service reaches the old
 * pods meanwhile.
 */
export async function pruneVersions(objects: KubernetesObjectApi, mdep: ModelDeployment, deployments: V1Deployment[], keep: string[]): Promise<string[]> {
  const nameOf = new Map(keep.map((version) => [labelValue(version), versionedName(mdep, version)]));
  const byName = new Map(deployments.map((d) => [d.metadata?.name, d]));
  const superseded = deployments.filter((d) => {
    // A Deployment already being deleted (seen in a cache that lags our own delete) is gone already.
    if (d.metadata?.deletionTimestamp) return false;
    const name = nameOf.get(versionOf(d));
    return name === undefined || (name !== d.metadata?.name && replaced(d, byName.get(name)));
  });
  const removed: string[] = [];
  for (const deployment of superseded) {
    let deleted = false;
    for (const [apiVersion, kind] of PER_VERSION_KINDS) {
      if (await deleteOwned(objects, mdep, apiVersion, kind, deployment.metadata!.name!) && kind === 'Deployment') deleted = true;
    }
    if (deleted && !nameOf.has(versionOf(deployment))) removed.push(versionOf(deployment));
  }
  return removed;
}

/**
 * Removes the objects of the routing provider a ModelDeployment left (the router's when it moved to
 * gateway-api, the HTTPRoute when it moved back). Called only when status says the provider changed, so a
 * steady reconcile costs no deletes.
 */
export async function pruneRouting(objects: KubernetesObjectApi, mdep: ModelDeployment, left: string): Promise<number> {
  const kinds: Array<[string, string, string]> = left === 'gateway-api'
    ? [['gateway.networking.k8s.io/v1', 'HTTPRoute', httpRouteName(mdep)]]
    : routerObjectRefs(mdep);
  let deleted = 0;
  for (const [apiVersion, kind, name] of kinds) {
    if (await deleteOwned(objects, mdep, apiVersion, kind, name)) deleted++;
  }
  return deleted;
}
