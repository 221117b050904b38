// The Deployment, Service and PodDisruptionBudget of one model version. Pure functions of the
// ModelDeployment and the operator's settings.
import type { ModelDeployment } from '../api/types.ts';
import { isOperatorEnv, type OperatorEnvName } from '../../api/v1alpha1/schema.ts';
import { gpuPlacement } from './gpu.ts';
import { objectLabels, objectMeta, selectorLabels, versionedName } from './names.ts';
import type { OperatorSettings } from './settings.ts';

export const SERVER_PORT = 8080;
/** The server finishes queued and in-flight requests within this on SIGTERM. */
export const DRAIN_MS = 25_000;
/** Before SIGTERM, wait for endpoint removal to reach the load balancers, so no new request is refused. */
export const PRE_STOP_SECONDS = 5;
const MODEL_CACHE = '/tmp';

function serverEnv(mdep: ModelDeployment, executionProvider: string): Array<{ name: string; value: string }> {
  const { model, runtime = {} } = mdep.spec;
  // Typed by the reserved list, so what admission refuses in runtime.env is exactly what is set here.
  const settings: Record<OperatorEnvName, string | number | undefined> = {
    MODELSHIP_MODEL: model.uri,
    MODELSHIP_SHA256: model.sha256,
    MODELSHIP_NAME: mdep.metadata.name,
    MODELSHIP_VERSION: model.version,
    MODELSHIP_PORT: SERVER_PORT,
    MODELSHIP_MAX_BATCH_SIZE: runtime.maxBatchSize,
    MODELSHIP_MAX_QUEUE_DELAY_MS: runtime.maxQueueDelayMs,
    MODELSHIP_MAX_QUEUE_SIZE: runtime.maxQueueSize,
    MODELSHIP_TIMEOUT_MS: runtime.timeoutMs,
    MODELSHIP_INSTANCES: runtime.instances,
    MODELSHIP_INTRA_OP_THREADS: runtime.intraOpThreads,
    MODELSHIP_EXECUTION_PROVIDER: executionProvider,
    MODELSHIP_DRAIN_TIMEOUT_MS: DRAIN_MS,
    MODELSHIP_MODEL_CACHE_DIR: `${MODEL_CACHE}/models`,
  };
  const env = new Map<string, string>();
  for (const [name, value] of Object.entries(settings)) if (value !== undefined) env.set(name, String(value));
  // The user's env sets any other server setting. Ours are refused at admission; one stored before that rule
  // still never overrides the operator.
  for (const { name, value } of runtime.env ?? []) if (!isOperatorEnv(name)) env.set(name, value ?? '');
  return [...env].map(([name, value]) => ({ name, value }));
}

// The pod hardening and the HTTP surface every pod the operator renders shares (model servers and routers:
// the same image, the same port, the same health paths).
/** A container that cannot gain privileges or write to its image. */
export const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
/** A pod that runs as the image's unprivileged user under the runtime's default seccomp profile. */
const POD_USER = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 };
const SECCOMP = { type: 'RuntimeDefault' };
export const POD_SECURITY = { ...POD_USER, seccompProfile: SECCOMP };
/** Where Prometheus (and the rollout analysis) find a pod's metrics. */
export const SCRAPE_ANNOTATIONS = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(SERVER_PORT), 'prometheus.io/path': '/metrics' };
/** The ClusterIP port 80 in front of the pods' named port. */
export const HTTP_SERVICE_PORTS = [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }];
export const httpProbe = (path: string, periodSeconds: number, failureThreshold: number) => ({
  httpGet: { path, port: 'http' }, periodSeconds, failureThreshold, timeoutSeconds: 2,
});

export function renderDeployment(mdep: ModelDeployment, settings: OperatorSettings, replicas?: number): Record<string, unknown> {
  const placement = gpuPlacement(mdep.spec.gpu, settings);
  const image = mdep.spec.runtime?.image ?? (placement.executionProvider === 'cuda' ? settings.serverImage.cuda : settings.serverImage.cpu);
  const resources = mdep.spec.resources ?? {};
  const container = {
    name: 'server',
    image,
    args: ['serve'],
    ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
    env: serverEnv(mdep, placement.executionProvider),
    resources: {
      ...(resources.requests ? { requests: resources.requests } : {}),
      ...(resources.limits || Object.keys(placement.resources).length > 0 ? { limits: { ...resources.limits, ...placement.resources } } : {}),
    },
    // The server listens before the model loads: liveness holds during a long download, readiness waits.
    readinessProbe: httpProbe('/v2/health/ready', 5, 3),
    livenessProbe: httpProbe('/v2/health/live', 10, 6),
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    securityContext: CONTAINER_SECURITY,
    volumeMounts: [{ name: 'tmp', mountPath: MODEL_CACHE }],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(mdep, versionedName(mdep)),
    spec: {
      // Left out when an autoscaler owns the replica count, so applying never fights it.
      ...(replicas !== undefined ? { replicas } : {}),
      selector: { matchLabels: selectorLabels(mdep) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: objectLabels(mdep),
          annotations: SCRAPE_ANNOTATIONS,
        },
        spec: {
          containers: [container],
          terminationGracePeriodSeconds: PRE_STOP_SECONDS + DRAIN_MS / 1000 + 5,
          // fsGroup: the model cache volume is the server's to write.
          securityContext: { ...POD_USER, fsGroup: 10001, seccompProfile: SECCOMP },
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(Object.keys(placement.nodeSelector).length > 0 ? { nodeSelector: placement.nodeSelector } : {}),
          ...(placement.tolerations.length > 0 ? { tolerations: placement.tolerations } : {}),
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
}

export function renderService(mdep: ModelDeployment): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(mdep, versionedName(mdep)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(mdep),
      ports: HTTP_SERVICE_PORTS,
    },
  };
}

/** Voluntary disruptions (node drains) take at most one pod of a version at a time. */
export function renderPodDisruptionBudget(mdep: ModelDeployment): Record<string, unknown> {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(mdep, versionedName(mdep)),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(mdep) } },
  };
}

/** Where one version's pods answer inside the cluster (the model's address is the router's: routerUrl). */
export function versionUrl(mdep: ModelDeployment, version = mdep.spec.model.version): string {
  return `http://${versionedName(mdep, version)}.${mdep.metadata.namespace ?? 'default'}.svc.cluster.local/v2/models/${mdep.metadata.name}`;
}
