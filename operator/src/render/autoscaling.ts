// Autoscaling on the server's queue depth: an autoscaling/v2 HPA on the Pods metric (served to the HPA by a
// metrics adapter such as prometheus-adapter), or a KEDA ScaledObject with a Prometheus trigger.
import { SERVER_METRICS } from '../../../contract/metric-names.ts';
import type { ModelDeployment } from '../api/types.ts';
import { objectMeta, versionedName } from './names.ts';
import type { OperatorSettings } from './settings.ts';

export const QUEUE_DEPTH_METRIC = SERVER_METRICS.queueDepth;

/**
 * Up fast (double, or +4 pods, every 15 s, no stabilisation: a queue is already latency), down slowly
 * (half every minute after 5 minutes of lower demand: model pods are slow to start and warm).
 */
export const DEFAULT_BEHAVIOR = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
  },
};

function bounds(mdep: ModelDeployment) {
  const scaling = mdep.spec.scaling ?? {};
  return {
    min: scaling.minReplicas ?? 1,
    max: scaling.maxReplicas ?? 1,
    target: scaling.targetQueueDepth ?? 4,
    behavior: scaling.behavior ?? DEFAULT_BEHAVIOR,
  };
}

/** Whether an autoscaler owns the replica count (otherwise the Deployment states it). */
export function autoscaled(mdep: ModelDeployment): boolean {
  const { min, max } = bounds(mdep);
  return max > min;
}

export function renderHpa(mdep: ModelDeployment): Record<string, unknown> {
  const { min, max, target, behavior } = bounds(mdep);
  const name = versionedName(mdep);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: objectMeta(mdep, name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      // The HPA cannot scale to zero (that needs KEDA's activation); its floor is one pod.
      minReplicas: Math.max(1, min),
      maxReplicas: max,
      metrics: [{
        type: 'Pods',
        pods: { metric: { name: QUEUE_DEPTH_METRIC }, target: { type: 'AverageValue', averageValue: String(target) } },
      }],
      behavior,
    },
  };
}

export function renderScaledObject(mdep: ModelDeployment, settings: OperatorSettings): Record<string, unknown> {
  const { min, max, target, behavior } = bounds(mdep);
  const name = versionedName(mdep);
  const namespace = mdep.metadata.namespace ?? 'default';
  const selector = `namespace="${namespace}",model="${mdep.metadata.name}",version="${mdep.spec.model.version}"`;
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: objectMeta(mdep, name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicaCount: min,
      maxReplicaCount: max,
      advanced: { horizontalPodAutoscalerConfig: { behavior } },
      triggers: [{
        type: 'prometheus',
        metadata: {
          serverAddress: settings.prometheusUrl,
          // Total queue over the version's pods; KEDA divides by the target per pod.
          query: `sum(${QUEUE_DEPTH_METRIC}{${selector}})`,
          threshold: String(target),
          // With minReplicas 0, any queued request wakes the version up.
          activationThreshold: '0',
        },
      }],
    },
  };
}
