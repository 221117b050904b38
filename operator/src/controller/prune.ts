// Removes the objects of model versions that no longer serve: once the version in spec is rolled out, the
// Deployment, Service, PDB and autoscaler of every other version of the same ModelDeployment go. Until
// then the old version keeps serving, so an update never leaves the model without ready pods.
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.ts';
import { MANAGER, labelValue } from '../render/names.ts';
import { isNotFound } from './api-errors.ts';

const PER_VERSION_KINDS: Array<[string, string]> = [
  ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  ['keda.sh/v1alpha1', 'ScaledObject'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['v1', 'Service'],
  ['apps/v1', 'Deployment'],
];

/** Deletes the superseded versions' objects; returns the names of the versions removed. */
export async function pruneSupersededVersions(objects: KubernetesObjectApi, mdep: ModelDeployment): Promise<string[]> {
  const namespace = mdep.metadata.namespace ?? 'default';
  const selector = `app.kubernetes.io/instance=${mdep.metadata.name},app.kubernetes.io/managed-by=${MANAGER}`;
  const current = labelValue(mdep.spec.model.version);
  const deployments = await objects.list('apps/v1', 'Deployment', namespace, undefined, undefined, undefined, undefined, selector);
  const superseded = deployments.items.filter((d) => d.metadata?.labels?.['serving.modelship.dev/version'] !== current
    && d.metadata?.ownerReferences?.some((o) => o.uid === mdep.metadata.uid));
  for (const deployment of superseded) {
    for (const [apiVersion, kind] of PER_VERSION_KINDS) {
      try {
        await objects.delete({ apiVersion, kind, metadata: { name: deployment.metadata!.name, namespace } }, undefined, undefined, undefined, undefined, 'Background');
      } catch (error) {
        // Not every version has every kind (an autoscaler of the other engine, say), and KEDA may not be installed.
        if (!isNotFound(error)) throw error;
      }
    }
  }
  return superseded.map((d) => d.metadata!.labels!['serving.modelship.dev/version']);
}
