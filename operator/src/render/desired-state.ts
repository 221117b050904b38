// Everything a ModelDeployment should produce, rendered in one pure function; the reconciler applies the
// result with server-side apply, and `modelship render` prints it.
import type { ModelDeployment } from '../api/types.ts';
import { autoscaled, renderHpa, renderScaledObject } from './autoscaling.ts';
import type { OperatorSettings } from './settings.ts';
import { renderDeployment, renderPodDisruptionBudget, renderService } from './workload.ts';

export function renderDesiredState(mdep: ModelDeployment, settings: OperatorSettings): Array<Record<string, unknown>> {
  const scaled = autoscaled(mdep);
  const objects = [
    renderDeployment(mdep, settings, scaled ? undefined : mdep.spec.scaling?.minReplicas ?? 1),
    renderService(mdep),
    renderPodDisruptionBudget(mdep),
  ];
  if (scaled) objects.push(mdep.spec.scaling?.engine === 'keda' ? renderScaledObject(mdep, settings) : renderHpa(mdep));
  return objects;
}
