// One reconcile of one ModelDeployment: read it, validate, render the desired state, apply what changed,
// then write status from what is observed. Level-triggered and idempotent: run it any number of times.
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import { GROUP, KIND, VERSION } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment } from '../api/types.ts';
import { validateModelDeployment } from '../api/validate.ts';
import { renderDesiredState } from '../render/desired-state.ts';
import { selectorLabels } from '../render/names.ts';
import type { OperatorSettings } from '../render/settings.ts';
import { servingUrl } from '../render/workload.ts';
import { applyIfChanged } from './apply.ts';
import { computeStatus, statusChanged } from './status.ts';

export interface ReconcileResult {
  /** Objects written (applies and the status update); 0 when nothing changed. */
  writes: number;
  found: boolean;
}

export interface Reconciler {
  objects: KubernetesObjectApi;
  /** For the status subresource (which KubernetesObjectApi does not reach). */
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  settings: OperatorSettings;
  now(): string;
}

export async function reconcile(r: Reconciler, namespace: string, name: string): Promise<ReconcileResult> {
  let mdep: ModelDeployment;
  try {
    mdep = await r.objects.read({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace } }) as unknown as ModelDeployment;
  } catch (error) {
    // Deleted: owner references let the garbage collector remove what we created.
    if ((error as { code?: number }).code === 404) return { writes: 0, found: false };
    throw error;
  }
  const { object: defaulted, errors } = validateModelDeployment(mdep);
  let writes = 0;
  let workload;
  if (errors.length === 0) {
    for (const desired of renderDesiredState(defaulted, r.settings)) {
      const { object, written } = await applyIfChanged(r.objects, desired);
      if (written) writes++;
      if (object.kind === 'Deployment') workload = object.status ?? {};
    }
  }
  const status = computeStatus({
    mdep: defaulted,
    invalid: errors,
    workload: workload && { replicas: workload.replicas ?? 0, readyReplicas: workload.readyReplicas ?? 0, updatedReplicas: workload.updatedReplicas ?? 0 },
    desiredReplicas: defaulted.spec.scaling?.minReplicas ?? 1,
    selector: Object.entries(selectorLabels(defaulted)).map(([k, v]) => `${k}=${v}`).join(','),
    url: servingUrl(defaulted),
    now: r.now(),
  });
  if (statusChanged(mdep.status, status)) {
    await r.patchStatus(namespace, name, status);
    writes++;
  }
  return { writes, found: true };
}
