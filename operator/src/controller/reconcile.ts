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
import { isNotFound } from './api-errors.ts';
import { pruneSupersededVersions } from './prune.ts';
import { computeStatus, statusChanged, transitionEvents, type Condition, type EventRecord } from './status.ts';
import { gpuPlacement } from '../render/gpu.ts';
import { gpuCapacityProblem, type NodeInfo } from '../render/gpu-capacity.ts';

export interface ReconcileResult {
  /** Objects written (applies and the status update); 0 when nothing changed. */
  writes: number;
  found: boolean;
}

export interface Reconciler {
  objects: KubernetesObjectApi;
  /** Nodes as the GPU capacity check sees them (the controller serves these from its informer cache). */
  listNodes(): Promise<NodeInfo[]>;
  recordEvent(mdep: ModelDeployment, event: EventRecord): Promise<void>;
  /** For the status subresource (which KubernetesObjectApi does not reach). */
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  settings: OperatorSettings;
  now(): string;
}

/** What every status computation needs beside the observation. */
function statusBasics(mdep: ModelDeployment, r: Reconciler) {
  return {
    mdep,
    desiredReplicas: mdep.spec.scaling?.minReplicas ?? 1,
    selector: Object.entries(selectorLabels(mdep)).map(([k, v]) => `${k}=${v}`).join(','),
    url: servingUrl(mdep),
    now: r.now(),
  };
}

export async function reconcile(r: Reconciler, namespace: string, name: string): Promise<ReconcileResult> {
  let mdep: ModelDeployment;
  try {
    mdep = await r.objects.read({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace } }) as unknown as ModelDeployment;
  } catch (error) {
    // Deleted: owner references let the garbage collector remove what we created.
    if (isNotFound(error)) return { writes: 0, found: false };
    throw error;
  }
  const { object: defaulted, errors } = validateModelDeployment(mdep);
  let writes = 0;
  let workload;
  let gpuProblem: string | undefined;
  const applied: string[] = [];
  if (errors.length === 0) {
    try {
      for (const desired of renderDesiredState(defaulted, r.settings)) {
        const { object, written } = await applyIfChanged(r.objects, desired);
        if (written) {
          writes++;
          applied.push(`${object.kind}/${object.metadata.name}`);
        }
        if (object.kind === 'Deployment') workload = object.status ?? {};
      }
    } catch (error) {
      // Say so in status (kstatus: Degraded), then fail the reconcile so the queue retries with backoff.
      const failed = computeStatus({ ...statusBasics(defaulted, r), invalid: [], applyFailure: (error as Error).message.slice(0, 1000) });
      if (statusChanged(mdep.status, failed)) await r.patchStatus(namespace, name, failed).catch(() => undefined);
      throw error;
    }
    gpuProblem = gpuCapacityProblem(gpuPlacement(defaulted.spec.gpu, r.settings), await r.listNodes());
  }
  const status = computeStatus({
    ...statusBasics(defaulted, r),
    invalid: errors,
    workload: workload && { replicas: workload.replicas ?? 0, readyReplicas: workload.readyReplicas ?? 0, updatedReplicas: workload.updatedReplicas ?? 0 },
    gpuProblem,
  });
  if (statusChanged(mdep.status, status)) {
    await r.patchStatus(namespace, name, status);
    writes++;
  }
  if (status.phase === 'Ready') {
    const removed = await pruneSupersededVersions(r.objects, defaulted);
    writes += removed.length;
    for (const version of removed) {
      await r.recordEvent(defaulted, { type: 'Normal', reason: 'Superseded', message: `removed version ${version}: ${defaulted.spec.model.version} is rolled out` });
    }
  }
  const events = transitionEvents(mdep.status?.conditions as Condition[] | undefined, status.conditions as Condition[]);
  if (applied.length > 0) events.unshift({ type: 'Normal', reason: 'Applied', message: `applied ${applied.join(', ')}` });
  for (const event of events) await r.recordEvent(defaulted, event);
  return { writes, found: true };
}
