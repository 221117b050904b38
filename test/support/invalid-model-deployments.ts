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
  { what: 'a model URI of a scheme no source serves', spec: { model: { uri: 'ftp://models.example.com/m.onnx', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be a path or an http://, https://, file://, s3://, pvc:// or oci:// URI' },
  { what: 'an s3:// URI without a key', spec: { model: { uri: 's3://models', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be s3://bucket/key' },
  { what: 'an s3:// URI whose bucket S3 cannot name', spec: { model: { uri: 's3://My_Models/m.onnx', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be s3://bucket/key' },
  { what: 'a pvc:// URI without a path in the claim', spec: { model: { uri: 'pvc://model-store', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be pvc://claim/path/to/model.onnx' },
  { what: 'a pvc:// path that climbs out of the claim', spec: { model: { uri: 'pvc://model-store/../etc/passwd', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be pvc://claim/path/to/model.onnx (no ".." in the path)' },
  { what: 'an oci:// reference without a tag or digest', spec: { model: { uri: 'oci://ghcr.io/acme/ranker', version: 'v1' } }, field: 'spec.model.uri', message: 'model.uri must be oci://registry/repository:tag or oci://registry/repository@sha256:digest' },
  { what: 'an image-volume file that climbs out of the image', spec: { model: { uri: 'oci://ghcr.io/acme/ranker:v1', version: 'v1', oci: { file: 'models/../../etc/passwd' } } }, field: 'spec.model.oci.file', message: 'model.oci.file must be a path inside the image (no "..")' },
  { what: 'S3 settings for an http model', spec: { model: { uri: 'https://models.example.com/m.onnx', version: 'v1', s3: { region: 'eu-west-1' } } }, field: 'spec.model.s3', message: 'model.s3 is only valid with an s3:// model.uri' },
  { what: 'an image-volume file for an s3 model', spec: { model: { uri: 's3://models/m.onnx', version: 'v1', oci: { file: 'm.onnx' } } }, field: 'spec.model.oci', message: 'model.oci is only valid with an oci:// model.uri' },
  { what: 'download headers for a model on a volume', spec: { model: { uri: 'pvc://model-store/m.onnx', version: 'v1', headersSecretRef: { name: 'hub', key: 'headers' } } }, field: 'spec.model.headersSecretRef', message: 'model.headersSecretRef is only valid with an http:// or https:// model.uri' },
  { what: 'runtime.env setting the S3 endpoint spec.model.s3 sets', spec: { runtime: { env: [{ name: 'MODELSHIP_S3_ENDPOINT', value: 'http://elsewhere:9000' }] } },
    field: 'spec.runtime.env[0].name', message: 'MODELSHIP_S3_ENDPOINT is set by the operator' },
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
