// Removes the objects of model versions that no longer run: the Deployment, Service, PDB and autoscaler of
// every version of the ModelDeployment that the rollout no longer lists (a promoted version's predecessor
// once it drained, a rolled back candidate). The stable version is always listed, so the model is never
// left without pods.
import type { KubernetesObjectApi, V1Deployment } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.ts';
import { MANAGER, labelValue } from '../render/names.ts';
import { isNotFound } from './api-errors.ts';
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
  const selector = `app.kubernetes.io/instance=${mdep.metadata.name},app.kubernetes.io/managed-by=${MANAGER},app.kubernetes.io/component=model-server`;
  const deployments = await objects.list<V1Deployment>('apps/v1', 'Deployment', namespace, undefined, undefined, undefined, undefined, selector);
  return deployments.items.filter((d) => d.metadata?.ownerReferences?.some((o) => o.uid === mdep.metadata.uid));
}

export const versionOf = (d: V1Deployment) => d.metadata?.labels?.['serving.modelship.dev/version'] ?? '';

/** Deletes the objects of versions not in `keep`; returns the names of the versions removed. */
export async function pruneVersions(objects: KubernetesObjectApi, mdep: ModelDeployment, deployments: V1Deployment[], keep: string[]): Promise<string[]> {
  const namespace = mdep.metadata.namespace ?? 'default';
  const kept = new Set(keep.map(labelValue));
  // A Deployment already being deleted (seen in a cache that lags our own delete) is gone already.
  const superseded = deployments.filter((d) => !kept.has(versionOf(d)) && !d.metadata?.deletionTimestamp);
  const removed: string[] = [];
  for (const deployment of superseded) {
    let deleted = false;
    for (const [apiVersion, kind] of PER_VERSION_KINDS) {
      try {
        await objects.delete({ apiVersion, kind, metadata: { name: deployment.metadata!.name, namespace } }, undefined, undefined, undefined, undefined, 'Background');
        if (kind === 'Deployment') deleted = true;
      } catch (error) {
        // Not every version has every kind (an autoscaler of the other engine, say), and KEDA may not be installed.
        if (!isNotFound(error)) throw error;
      }
    }
    if (deleted) removed.push(versionOf(deployment));
  }
  return removed;
}

/**
 * Removes the objects of the routing provider a ModelDeployment left (the router's when it moved to
 * gateway-api, the HTTPRoute when it moved back). Called only when status says the provider changed, so a
 * steady reconcile costs no deletes.
 */
export async function pruneRouting(objects: KubernetesObjectApi, mdep: ModelDeployment, left: string): Promise<number> {
  const namespace = mdep.metadata.namespace ?? 'default';
  const kinds: Array<[string, string, string]> = left === 'gateway-api'
    ? [['gateway.networking.k8s.io/v1', 'HTTPRoute', httpRouteName(mdep)]]
    : routerObjectRefs(mdep);
  let deleted = 0;
  for (const [apiVersion, kind, name] of kinds) {
    try {
      await objects.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, 'Background');
      deleted++;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return deleted;
}
