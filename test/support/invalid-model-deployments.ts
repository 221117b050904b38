// Contradictory ModelDeployment specs and the message each must be refused with: the API server (CEL and
// schema, in test/control-plane/crd.test.ts) and `modelship validate` (test/unit/validate.test.ts) are
// held to the same messages.
export const INVALID_SPECS: Array<{ what: string; spec: Record<string, unknown>; message: string; field: string }> = [
  { what: 'a MIG profile without mode mig', spec: { gpu: { mode: 'full', count: 1, profile: '1g.10gb' } }, field: 'spec.gpu.profile', message: 'gpu.profile is only valid with gpu.mode: mig' },
  { what: 'mode mig without a profile', spec: { gpu: { mode: 'mig' } }, field: 'spec.gpu.profile', message: 'gpu.mode mig requires gpu.profile, e.g. 1g.10gb' },
  { what: 'an unknown MIG profile shape', spec: { gpu: { mode: 'mig', profile: 'big-slice' } }, field: 'spec.gpu.profile', message: 'gpu.profile must be a MIG profile such as 1g.10gb, 2g.20gb or 1g.10gb+me' },
  { what: 'a GPU count without a GPU', spec: { gpu: { mode: 'none', count: 2 } }, field: 'spec.gpu.count', message: 'gpu.count must not be set when gpu.mode is none' },
  { what: 'more than one time-sliced share', spec: { gpu: { mode: 'timeSliced', count: 2 } }, field: 'spec.gpu.count', message: 'gpu.count for mode timeSliced must be 1' },
  { what: 'more MIG slices than a GPU has', spec: { gpu: { mode: 'mig', profile: '1g.10gb', count: 8 } }, field: 'spec.gpu.count', message: 'gpu.count for mode mig is at most 7' },
  { what: 'canary steps that stop short of 100', spec: { rollout: { steps: [5, 20, 50] } }, field: 'spec.rollout.steps', message: 'rollout.steps must end at 100' },
  { what: 'canary steps that do not rise', spec: { rollout: { steps: [20, 5, 100] } }, field: 'spec.rollout.steps', message: 'rollout.steps must rise strictly' },
  { what: 'a shadow phase in an A/B test', spec: { rollout: { strategy: 'abTest', shadow: { percent: 10 } } }, field: 'spec.rollout.shadow', message: 'rollout.shadow is only valid with strategy canary' },
  { what: 'prometheus analysis without a URL', spec: { rollout: { analysis: { provider: 'prometheus' } } }, field: 'spec.rollout.analysis.prometheusUrl', message: 'rollout.analysis.provider prometheus requires analysis.prometheusUrl' },
  { what: 'gateway-api routing without a Gateway', spec: { rollout: { routing: { provider: 'gateway-api' }, analysis: { provider: 'prometheus', prometheusUrl: 'http://p:9090' } } }, field: 'spec.rollout.routing.gateway', message: 'rollout.routing.provider gateway-api requires routing.gateway.parentRefs' },
  { what: 'gateway-api routing judged by the router', spec: { rollout: { routing: { provider: 'gateway-api', gateway: { parentRefs: [{ name: 'web' }] } } } }, field: 'spec.rollout.analysis.provider', message: 'rollout.routing.provider gateway-api requires analysis.provider prometheus' },
  { what: 'runtime.env setting the port the probes use', spec: { runtime: { env: [{ name: 'MODELSHIP_LOG_LEVEL', value: 'debug' }, { name: 'OMP_NUM_THREADS', value: '2' }, { name: 'MODELSHIP_PORT', value: '9999' }] } },
    field: 'spec.runtime.env[2].name', message: 'MODELSHIP_PORT is set by the operator' },
  { what: 'runtime.env emptying the model checksum (no integrity check)', spec: { runtime: { env: [{ name: 'MODELSHIP_SHA256', value: '' }] } },
    field: 'spec.runtime.env[0].name', message: 'MODELSHIP_SHA256 is set by the operator' },
  { what: 'a Redis cache without its Redis', spec: { runtime: { cache: { store: 'redis' } } }, field: 'spec.runtime.cache.redis', message: 'runtime.cache.store redis requires runtime.cache.redis.url' },
  { what: 'a memory cache given a Redis', spec: { runtime: { cache: { store: 'memory', redis: { url: 'redis://r:6379' } } } }, field: 'spec.runtime.cache.redis', message: 'runtime.cache.redis is only valid with store: redis' },
  { what: 'a Redis cache bounded like the memory store', spec: { runtime: { cache: { store: 'redis', maxMiB: 64, redis: { url: 'redis://r:6379' } } } }, field: 'spec.runtime.cache.maxMiB', message: 'runtime.cache.maxMiB bounds the memory store only' },
  { what: 'a cache entry larger than the whole cache', spec: { runtime: { cache: { store: 'memory', maxMiB: 1, maxEntryKiB: 2048 } } }, field: 'spec.runtime.cache.maxEntryKiB', message: 'runtime.cache.maxEntryKiB must not exceed maxMiB' },
  { what: 'runtime.env setting the Redis password the operator takes from a Secret', spec: { runtime: { env: [{ name: 'MODELSHIP_CACHE_REDIS_PASSWORD', value: 'x' }] } },
    field: 'spec.runtime.env[0].name', message: 'MODELSHIP_CACHE_REDIS_PASSWORD is set by the operator' },
  { what: 'a pod label the operator selects its pods by', spec: { pod: { labels: { team: 'search', 'app.kubernetes.io/instance': 'other' } } }, field: 'spec.pod.labels', message: 'app.kubernetes.io/instance is set by the operator' },
  { what: 'a pod label under the operator\'s prefix', spec: { pod: { labels: { 'serving.modelship.dev/version': 'v9' } } }, field: 'spec.pod.labels', message: 'serving.modelship.dev/version is set by the operator' },
  { what: 'a pod annotation moving where Prometheus scrapes', spec: { pod: { annotations: { 'prometheus.io/port': '9999' } } }, field: 'spec.pod.annotations', message: 'prometheus.io/port is set by the operator' },
  { what: 'a pod label key that is not a qualified name', spec: { pod: { labels: { 'team/owner/x': 'a' } } }, field: 'spec.pod.labels', message: 'team/owner/x is not a valid key' },
  { what: 'a volume replacing the operator\'s /tmp volume', spec: { pod: { volumes: [{ name: 'tmp', emptyDir: {} }] } }, field: 'spec.pod.volumes[0].name', message: "the operator's own volumes (tmp) cannot be replaced" },
  { what: 'a volume of two types at once', spec: { pod: { volumes: [{ name: 'data', emptyDir: {}, secret: { secretName: 's' } }] } }, field: 'spec.pod.volumes[0]', message: 'a volume must set exactly one of emptyDir, configMap, secret' },
  { what: 'a mount inside the operator\'s /tmp (the model cache)', spec: { pod: { volumes: [{ name: 'data', emptyDir: {} }], volumeMounts: [{ name: 'data', mountPath: '/tmp/models' }] } },
    field: 'spec.pod.volumeMounts[0].mountPath', message: "a mount must not be at, in or above the operator's own mounts (/tmp)" },
  { what: 'a mount of a volume that is not there', spec: { pod: { volumes: [{ name: 'data', emptyDir: {} }], volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cache', mountPath: '/cache' }] } },
    field: 'spec.pod.volumeMounts', message: 'every mount must name a volume of spec.pod.volumes' },
  { what: 'a spread constraint with minDomains that cannot apply', spec: { pod: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 }] } },
    field: 'spec.pod.topologySpreadConstraints[0].minDomains', message: 'minDomains is only valid with whenUnsatisfiable: DoNotSchedule' },
  { what: 'a GPU asked for in spec.resources', spec: { resources: { limits: { memory: '8Gi', 'nvidia.com/gpu': 2 } } }, field: 'spec.resources.limits', message: 'nvidia.com/gpu is not cpu, memory, ephemeral-storage or hugepages-<size> (a GPU comes from spec.gpu)' },
  { what: 'a memory request above its limit', spec: { gpu: { mode: 'full' }, resources: { requests: { cpu: '500m', memory: '8Gi' }, limits: { cpu: 1, memory: '4Gi' } } }, field: 'spec.resources.requests', message: 'requests.memory must not exceed its limit' },
  { what: 'minReplicas above maxReplicas', spec: { scaling: { minReplicas: 5, maxReplicas: 2 } }, field: 'spec.scaling', message: 'scaling.minReplicas must not exceed scaling.maxReplicas' },
];

export function modelDeployment(name: string, spec: Record<string, unknown>, namespace = 'ml'): Record<string, unknown> {
  return {
    apiVersion: 'serving.modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name, namespace },
    spec: { model: { uri: 'https://models.example.com/m.onnx', version: 'v1' }, ...spec },
  };
}
