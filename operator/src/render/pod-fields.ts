// spec.pod on the pods the operator renders: what a platform team requires on every pod. Admission keeps
// the operator's own labels, annotations, volumes and mounts out of spec.pod; the operator's still win here,
// so no stored spec can take its selectors or its scrape settings.
import type { ModelDeploymentSpec } from '../api/types.ts';

type PodSpecFields = NonNullable<ModelDeploymentSpec['pod']>;

/** Pod template metadata: the user's labels and annotations beside the operator's. */
export function podMetadata(pod: PodSpecFields | undefined, labels: Record<string, string>, annotations: Record<string, string>) {
  return { labels: { ...pod?.labels, ...labels }, annotations: { ...pod?.annotations, ...annotations } };
}

/** What every pod gets, model server and router alike: the pull secrets of the registry and the priority. */
export function clusterPodFields(pod: PodSpecFields | undefined): Record<string, unknown> {
  return {
    ...(pod?.imagePullSecrets?.length ? { imagePullSecrets: pod.imagePullSecrets } : {}),
    ...(pod?.priorityClassName ? { priorityClassName: pod.priorityClassName } : {}),
  };
}

/**
 * What only the model-server pods get: their identity and placement. A spread constraint without a
 * labelSelector counts the pods of the same version (with none, it would count no pod and spread nothing).
 */
export function modelServerPodFields(pod: PodSpecFields | undefined, versionSelector: Record<string, string>): Record<string, unknown> {
  const spread = pod?.topologySpreadConstraints?.map((c) => (c.labelSelector ? c : { ...c, labelSelector: { matchLabels: versionSelector } }));
  return {
    ...clusterPodFields(pod),
    ...(pod?.serviceAccountName ? { serviceAccountName: pod.serviceAccountName } : {}),
    ...(pod?.affinity ? { affinity: pod.affinity } : {}),
    ...(spread?.length ? { topologySpreadConstraints: spread } : {}),
  };
}
