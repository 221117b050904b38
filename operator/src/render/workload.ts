// The Deployment, Service and PodDisruptionBudget of one model version. Pure functions of the
// ModelDeployment and the operator's settings.
import { SERVER_PORT } from '../../../contract/ports.ts';
import { DEFAULT_DOWNLOAD_MAX_BYTES, envName, serveEnv } from '../../../contract/settings/serve-options.ts';
import type { ModelDeployment } from '../api/types.ts';
import { isOperatorEnv, OPERATOR_VOLUMES, type OperatorSetOption } from '../../api/v1alpha1/schema.ts';
import { gpuPlacement } from './gpu.ts';
import { baselineSource, modelSource, type BaselineSource, type ModelSource } from './model-source.ts';
import { monitoringSettings } from './monitoring.ts';
import { objectLabels, objectMeta, selectorLabels, versionedName } from './names.ts';
import { modelServerPodFields, podMetadata } from './pod-fields.ts';
import type { OperatorSettings } from './settings.ts';

/** The server finishes queued and in-flight requests within this on SIGTERM. */
export const DRAIN_MS = 25_000;
/** Before SIGTERM, wait for endpoint removal to reach the load balancers, so no new request is refused. */
export const PRE_STOP_SECONDS = 5;
const MODEL_CACHE = OPERATOR_VOLUMES.tmp;
/**
 * Room in /tmp beyond the largest model download. The server writes a download beside its target and
 * renames it, after removing an earlier copy, so one model's bytes are on the volume at a time; the rest is
 * a margin for whatever else lands in /tmp (Node and ONNX Runtime write nothing there today).
 */
const TMP_HEADROOM_BYTES = 256 * 1024 ** 2;
const KIB = 1024;
const MIB = 1024 ** 2;

/** A container environment variable: a value, or a Secret's key the kubelet reads. */
type EnvVar = { name: string; value: string } | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

/**
 * The /tmp emptyDir's sizeLimit: the server's download cap (the user's MODELSHIP_DOWNLOAD_MAX_BYTES when
 * they set one, else the server's default) plus headroom. A download at the cap fits; one beyond it fails
 * in the server, saying why, before the volume could fill and the kubelet evict the pod.
 */
function tmpSizeLimit(env: EnvVar[]): string {
  const found = env.find((e) => e.name === envName('downloadMaxBytes'));
  const set = Number(found && 'value' in found ? found.value : undefined);
  const cap = Number.isSafeInteger(set) && set > 0 ? set : DEFAULT_DOWNLOAD_MAX_BYTES;
  return `${Math.ceil((cap + TMP_HEADROOM_BYTES) / MIB)}Mi`;
}

function serverEnv(mdep: ModelDeployment, executionProvider: string, source: ModelSource, baseline: BaselineSource | undefined): EnvVar[] {
  const { model, runtime = {} } = mdep.spec;
  const cache = runtime.cache;
  // Typed by the reserved list, so what admission refuses in runtime.env is exactly what is set here.
  const operatorSet: Record<OperatorSetOption, string | number | boolean | undefined> = {
    model: source.model,
    sha256: model.sha256,
    name: mdep.metadata.name,
    version: model.version,
    port: SERVER_PORT,
    maxBatchSize: runtime.maxBatchSize,
    maxQueueDelayMs: runtime.maxQueueDelayMs,
    maxQueueSize: runtime.maxQueueSize,
    timeoutMs: runtime.timeoutMs,
    instances: runtime.instances,
    intraOpThreads: runtime.intraOpThreads,
    executionProvider,
    drainTimeoutMs: DRAIN_MS,
    modelCacheDir: `${MODEL_CACHE}/models`,
    cache: cache?.store,
    cacheTtlSeconds: cache?.ttlSeconds,
    cacheMaxBytes: cache?.maxMiB !== undefined ? cache.maxMiB * MIB : undefined,
    cacheMaxEntryBytes: cache?.maxEntryKiB !== undefined ? cache.maxEntryKiB * KIB : undefined,
    cacheRedisUrl: cache?.redis?.url,
    cacheRedisTimeoutMs: cache?.redis?.timeoutMs,
    s3Endpoint: source.s3Endpoint,
    s3Region: source.s3Region,
    s3PathStyle: source.s3PathStyle,
    ...monitoringSettings(mdep.spec.monitoring, baseline),
  };
  const env = new Map(serveEnv(operatorSet).map(({ name, value }) => [name, value]));
  // The user's env sets any other server setting. Ours are refused at admission; one stored before that rule
  // still never overrides the operator.
  // The model source's credentials (AWS keys from a Secret) win over a user's variable of the same name.
  const fromSecrets = new Set(source.secretEnv.map((v) => v.name));
  for (const { name, value } of runtime.env ?? []) if (!isOperatorEnv(name) && !fromSecrets.has(name)) env.set(name, value ?? '');
  const vars: EnvVar[] = [...env].map(([name, value]) => ({ name, value }));
  vars.push(...source.secretEnv);
  // The password never appears in the pod spec: the kubelet reads it from the Secret.
  const password = cache?.redis?.passwordSecretRef;
  if (password) vars.push({ name: envName('cacheRedisPassword'), valueFrom: { secretKeyRef: { name: password.name, key: password.key } } });
  return vars;
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
/** Up to two minutes to start listening, checked every 2 s (the model's download is readiness's business). */
export const STARTUP_PROBE = httpProbe('/v2/health/live', 2, 60);

export function renderDeployment(mdep: ModelDeployment, settings: OperatorSettings, replicas?: number): Record<string, unknown> {
  const placement = gpuPlacement(mdep.spec.gpu, settings);
  const image = mdep.spec.runtime?.image ?? (placement.executionProvider === 'cuda' ? settings.serverImage.cuda : settings.serverImage.cpu);
  const resources = mdep.spec.resources ?? {};
  const source = modelSource(mdep.spec.model);
  const baselineUri = mdep.spec.monitoring?.baseline?.uri;
  const baseline = baselineUri === undefined ? undefined : baselineSource(baselineUri, mdep.spec.model);
  const env = serverEnv(mdep, placement.executionProvider, source, baseline);
  const pod = mdep.spec.pod;
  const container = {
    name: 'server',
    image,
    args: ['serve'],
    ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
    env,
    resources: {
      ...(resources.requests ? { requests: resources.requests } : {}),
      ...(resources.limits || Object.keys(placement.resources).length > 0 ? { limits: { ...resources.limits, ...placement.resources } } : {}),
    },
    // The server listens before the model loads: liveness holds during a long download, readiness waits.
    // Liveness starts counting once the process answers at all: a node busy starting many pods (or a slow
    // volume) must not get a starting server killed before it listens.
    startupProbe: STARTUP_PROBE,
    readinessProbe: httpProbe('/v2/health/ready', 5, 3),
    livenessProbe: httpProbe('/v2/health/live', 10, 6),
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    securityContext: CONTAINER_SECURITY,
    volumeMounts: [{ name: 'tmp', mountPath: MODEL_CACHE }, ...source.volumeMounts, ...baseline?.volumeMounts ?? [], ...pod?.volumeMounts ?? []],
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
        metadata: podMetadata(pod, objectLabels(mdep), SCRAPE_ANNOTATIONS),
        spec: {
          ...modelServerPodFields(pod, selectorLabels(mdep)),
          containers: [container],
          terminationGracePeriodSeconds: PRE_STOP_SECONDS + DRAIN_MS / 1000 + 5,
          // fsGroup: the model cache volume is the server's to write.
          securityContext: { ...POD_USER, fsGroup: 10001, seccompProfile: SECCOMP },
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(Object.keys(placement.nodeSelector).length > 0 ? { nodeSelector: placement.nodeSelector } : {}),
          ...(placement.tolerations.length > 0 ? { tolerations: placement.tolerations } : {}),
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: tmpSizeLimit(env) } }, ...source.volumes, ...baseline?.volumes ?? [], ...pod?.volumes ?? []],
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
