// Everything a ModelDeployment should produce, rendered in one pure function of the spec, the rollout's
// state and the operator's settings; the reconciler applies the result with server-side apply, and
// `modelship render` prints it. Each running version (stable, candidate, retiring) gets its own
// Deployment, Service, PDB and autoscaler sized to its share; the traffic split goes to the router's
// routes ConfigMap, or to an HTTPRoute with provider gateway-api.
import type { ModelDeployment } from '../api/types.ts';
import { replicaRange, versionShares, type VersionShare } from '../rollout/traffic.ts';
import type { RolloutStatus } from '../rollout/types.ts';
import { autoscaled, renderHpa, renderScaledObject } from './autoscaling.ts';
import { renderHttpRoute } from './http-route.ts';
import { versionedName } from './names.ts';
import { renderRouterAccess, renderRouterDeployment, renderRouterService, renderRoutesConfigMap } from './router.ts';
import type { OperatorSettings } from './settings.ts';
import { renderDeployment, renderPodDisruptionBudget, renderService } from './workload.ts';

/** Before the first reconcile has recorded anything, spec.model is the stable version. */
export const initialRollout = (mdep: ModelDeployment): RolloutStatus =>
  ({ phase: 'Initialized', stable: mdep.spec.model, canaryWeight: 0, failedChecks: 0, message: '' });

/** The ModelDeployment as one version sees it: that version's model, and its share of the replica range. */
export function versionView(mdep: ModelDeployment, share: VersionShare): ModelDeployment {
  const range = replicaRange(mdep.spec.scaling ?? {}, share);
  return { ...mdep, spec: { ...mdep.spec, model: share.model, scaling: { ...mdep.spec.scaling, minReplicas: range.min, maxReplicas: range.max } } };
}

function renderVersion(view: ModelDeployment, settings: OperatorSettings): Array<Record<string, unknown>> {
  const scaled = autoscaled(view);
  const objects = [
    renderDeployment(view, settings, scaled ? undefined : view.spec.scaling?.minReplicas ?? 1),
    renderService(view),
    renderPodDisruptionBudget(view),
  ];
  if (scaled) objects.push(view.spec.scaling?.engine === 'keda' ? renderScaledObject(view, settings) : renderHpa(view));
  return objects;
}

export function renderDesiredState(mdep: ModelDeployment, settings: OperatorSettings, rollout: RolloutStatus = initialRollout(mdep)): Array<Record<string, unknown>> {
  const shares = versionShares(rollout);
  const objects = shares.flatMap((share) => renderVersion(versionView(mdep, share), settings));
  const routing = mdep.spec.rollout?.routing;
  if (routing?.provider === 'gateway-api') {
    const service = (share: VersionShare) => versionedName(mdep, share.model.version);
    const shadow = shares.find((s) => s.shadowPercent > 0);
    objects.push(renderHttpRoute(mdep, {
      backends: shares.map((s) => ({ version: s.model.version, service: service(s), port: 80, weight: s.weight })),
      ...(shadow ? { mirror: { version: shadow.model.version, service: service(shadow), port: 80, percent: shadow.shadowPercent } } : {}),
    }, { parentRefs: routing.gateway?.parentRefs ?? [], hostnames: routing.gateway?.hostnames }));
  } else {
    objects.push(...renderRouterAccess(mdep), renderRoutesConfigMap(mdep, shares), renderRouterDeployment(mdep, settings), renderRouterService(mdep));
  }
  return objects;
}
