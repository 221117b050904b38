// The ModelDeployment API (serving.modelship.dev/v1alpha1), written once. The CRD in crds/ is generated from
// it (`make crds`, checked for drift by the tests); CEL rules in it reject contradictory specs at admission.
// Reasoning for the shape: operator/api/README.md.

import { envName, SERVE_OPTIONS, type ServeOptionKey } from '../../../contract/settings/serve-options.ts';

export const GROUP = 'serving.modelship.dev';
export const VERSION = 'v1alpha1';
export const KIND = 'ModelDeployment';
export const PLURAL = 'modeldeployments';

type Schema = Record<string, unknown>;

// The helpers keep the literal types of what they build, so the TypeScript types of the API are derived
// from this very schema (FromSchema below), not written a second time.
const str = <const E extends Schema = {}>(description: string, extra?: E) => ({ type: 'string', description, ...extra }) as unknown as { type: 'string' } & E;
const int = <const E extends Schema = {}>(description: string, extra?: E) => ({ type: 'integer', format: 'int32', description, ...extra }) as unknown as { type: 'integer' } & E;
const bool = (description: string) => ({ type: 'boolean', description }) as unknown as { type: 'boolean' };
const num = <const E extends Schema = {}>(description: string, extra?: E) => ({ type: 'number', description, ...extra }) as unknown as { type: 'number' } & E;
const arr = <const I extends Schema, const E extends Schema = {}>(description: string, items: I, extra?: E) =>
  ({ type: 'array', description, items, ...extra }) as unknown as { type: 'array'; items: I } & E;
const obj = <const P extends Record<string, Schema>, const E extends Schema = {}>(description: string, properties: P, extra?: E) =>
  ({ type: 'object', description, properties, ...extra }) as unknown as { type: 'object'; properties: P } & E;

/**
 * The TypeScript type of the values a schema admits (the subset of JSON Schema this API uses). With
 * `Defaulted` true, the type of what the API server stores: a field with a default is always present.
 */
export type FromSchema<S, Defaulted extends boolean = false> =
  S extends { enum: readonly (infer V)[] } ? V
    : S extends { 'x-kubernetes-int-or-string': true } ? string | number
      : S extends { type: 'string' } ? string
        : S extends { type: 'integer' | 'number' } ? number
          : S extends { type: 'boolean' } ? boolean
          : S extends { type: 'array'; items: infer I } ? Array<FromSchema<I, Defaulted>>
            : S extends { type: 'object'; properties: infer P } ? ObjectOf<P, (S extends { required: readonly (infer R)[] } ? R : never) | (Defaulted extends true ? WithDefault<P> : never), Defaulted>
              : S extends { type: 'object'; additionalProperties: infer A } ? Record<string, FromSchema<A, Defaulted>>
                : Record<string, unknown>;
type ObjectOf<P, R, D extends boolean> = { [K in keyof P & R]: FromSchema<P[K], D> } & { [K in Exclude<keyof P, R>]?: FromSchema<P[K], D> };
type WithDefault<P> = { [K in keyof P]: P[K] extends { default: unknown } ? K : never }[keyof P];
/**
 * A validation rule, once: the CEL the API server runs at admission, and the same check in TypeScript for
 * `modelship validate` and the operator, with one message for both.
 */
export interface ValidationRule<T> {
  rule: string;
  message: string;
  /** CEL that names what is wrong (the offending key, say); `explain` says the same in TypeScript. */
  messageExpression?: string;
  fieldPath?: string;
  holds(self: T): boolean;
  explain?(self: T): string;
}

/** The rules as the CRD carries them (`x-kubernetes-validations`). */
const cel = (rules: ValidationRule<never>[]) => rules.map(({ rule, message, messageExpression, fieldPath }) =>
  ({ rule, ...(messageExpression ? { messageExpression } : {}), message, ...(fieldPath ? { fieldPath } : {}) }));

const RULES_OF = new WeakMap<object, ValidationRule<never>[]>();
/**
 * A schema node with its rules: the CEL goes into the CRD, and `rulesAt` hands the same rules to the
 * operator's validation, which walks the schema to every place the node is used (inside lists and nested
 * selectors alike).
 */
function checked<S extends object>(node: S, rules: ValidationRule<never>[]): S {
  RULES_OF.set(node, rules);
  return Object.assign(node, { 'x-kubernetes-validations': cel(rules) });
}
export const rulesAt = (node: object): ValidationRule<unknown>[] => (RULES_OF.get(node) ?? []) as ValidationRule<unknown>[];

interface GpuFields { mode: string; count?: number; profile?: string }
interface ScalingFields { minReplicas: number; maxReplicas: number }

/** A Kubernetes quantity (resource.Quantity): 2, "500m", "4Gi", "1e3". */
const quantity = (description: string) => ({
  'x-kubernetes-int-or-string': true as const, anyOf: [{ type: 'integer' }, { type: 'string' }], description, maxLength: 64,
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
});
const quantityMap = (description: string) => ({
  type: 'object' as const,
  description,
  maxProperties: 16,
  additionalProperties: quantity('A quantity.'),
});

/**
 * spec.resources names CPU, memory, local storage and huge pages: GPUs come from spec.gpu, whose mapping to
 * the cluster's extended resources (and the checks of its capacity) is the operator's. A GPU named here
 * would bypass both, or contradict them (the API server refuses requests of an extended resource that
 * differ from its limits).
 */
const RESOURCE_NAMES = ['cpu', 'memory', 'ephemeral-storage'];
const isResourceName = (k: string) => RESOURCE_NAMES.includes(k) || k.startsWith('hugepages-');
export const RESOURCE_NAME_RULE: ValidationRule<Record<string, unknown>> = {
  rule: `self.all(k, k in ${JSON.stringify(RESOURCE_NAMES)} || k.startsWith('hugepages-'))`,
  messageExpression: `self.filter(k, !(k in ${JSON.stringify(RESOURCE_NAMES)} || k.startsWith('hugepages-')))[0] + ' is not cpu, memory, ephemeral-storage or hugepages-<size> (a GPU comes from spec.gpu)'`,
  message: 'only cpu, memory, ephemeral-storage and hugepages-<size> (a GPU comes from spec.gpu)',
  holds: (m) => Object.keys(m).every(isResourceName),
  explain: (m) => `${Object.keys(m).find((k) => !isResourceName(k))} is not cpu, memory, ephemeral-storage or hugepages-<size> (a GPU comes from spec.gpu)`,
};

const QUANTITY_SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
/** A Kubernetes quantity ("500m", "4Gi", "1e3", 2) as a number, for comparing two of them. */
export function quantityValue(quantity: string | number): number {
  const match = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|([a-zA-Z]*))$/.exec(String(quantity));
  if (!match) return NaN;
  const [, number, exponent, suffix = ''] = match;
  if (exponent) return Number(`${number}${exponent}`);
  // Divided rather than multiplied for the small units, so 100m is exactly 0.1.
  const factor = QUANTITY_SUFFIX[suffix];
  return factor === undefined ? NaN : factor < 1 ? Number(number) / (1 / factor) : Number(number) * factor;
}
type QuantityMap = Record<string, string | number>;
const requestAboveLimit = (r: { requests?: QuantityMap; limits?: QuantityMap }) =>
  RESOURCE_NAMES.find((k) => r.requests?.[k] !== undefined && r.limits?.[k] !== undefined && quantityValue(r.requests[k]) > quantityValue(r.limits[k]));
/** Huge pages are left out: the API server requires their requests to equal their limits, and says so. */
const aboveLimit = (k: string) => `(${JSON.stringify(k)} in self.requests && ${JSON.stringify(k)} in self.limits && quantity(string(self.requests[${JSON.stringify(k)}])).compareTo(quantity(string(self.limits[${JSON.stringify(k)}]))) > 0)`;
export const RESOURCES_RULES: ValidationRule<{ requests?: QuantityMap; limits?: QuantityMap }>[] = [
  { rule: `!has(self.requests) || !has(self.limits) || !(${RESOURCE_NAMES.map(aboveLimit).join(' || ')})`,
    messageExpression: `'requests.' + ${JSON.stringify(RESOURCE_NAMES)}.filter(k, k in self.requests && k in self.limits && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0)[0] + ' must not exceed its limit'`,
    message: 'a request must not exceed its limit', fieldPath: '.requests',
    holds: (r) => requestAboveLimit(r) === undefined,
    explain: (r) => `requests.${requestAboveLimit(r)} must not exceed its limit` },
];

export const MIG_PROFILE_PATTERN = '^[1-7]g\\.[0-9]+gb(\\+me)?$';

interface ModelFields { uri: string; s3?: unknown; oci?: { file?: string }; headersSecretRef?: unknown }

/** The sources spec.model.uri may name; anything else with a scheme is refused (a plain path has none). */
const SOURCE_SCHEME = '^(https?|file|s3|pvc|oci)://';
const ANY_SCHEME = '^[a-zA-Z][a-zA-Z0-9+.-]*://';
export const S3_URI = '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$';
/** pvc://claim/path: a claim name (a DNS subdomain) and a path inside it, with no ".." segment. */
export const PVC_URI = '^pvc://([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)/(.+)$';
const DOT_DOT_SEGMENT = '(^|/)\\.\\.(/|$)';
/** oci://registry[:port]/repository with an explicit tag or digest (an image volume's reference, without "latest" by omission). */
export const OCI_URI = '^oci://([a-zA-Z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64}))$';

const matches = (value: string, pattern: string) => new RegExp(pattern).test(value);

export const MODEL_RULES: ValidationRule<ModelFields>[] = [
  { rule: `!self.uri.matches(r'${ANY_SCHEME}') || self.uri.matches(r'${SOURCE_SCHEME}')`, message: 'model.uri must be a path or an http://, https://, file://, s3://, pvc:// or oci:// URI', fieldPath: '.uri',
    holds: (m) => !matches(m.uri, ANY_SCHEME) || matches(m.uri, SOURCE_SCHEME) },
  { rule: `!self.uri.startsWith('s3://') || self.uri.matches(r'${S3_URI}')`, message: 'model.uri must be s3://bucket/key (a bucket of 3-63 lower-case letters, digits, dots and dashes)', fieldPath: '.uri',
    holds: (m) => !m.uri.startsWith('s3://') || matches(m.uri, S3_URI) },
  { rule: `!self.uri.startsWith('pvc://') || (self.uri.matches(r'${PVC_URI}') && !self.uri.substring(6).matches(r'${DOT_DOT_SEGMENT}'))`, message: 'model.uri must be pvc://claim/path/to/model.onnx (no ".." in the path)', fieldPath: '.uri',
    holds: (m) => !m.uri.startsWith('pvc://') || (matches(m.uri, PVC_URI) && !matches(m.uri.slice(6), DOT_DOT_SEGMENT)) },
  { rule: `!self.uri.startsWith('oci://') || self.uri.matches(r'${OCI_URI}')`, message: 'model.uri must be oci://registry/repository:tag or oci://registry/repository@sha256:digest', fieldPath: '.uri',
    holds: (m) => !m.uri.startsWith('oci://') || matches(m.uri, OCI_URI) },
  { rule: `!has(self.oci) || !has(self.oci.file) || !self.oci.file.matches(r'${DOT_DOT_SEGMENT}')`, message: 'model.oci.file must be a path inside the image (no "..")', fieldPath: '.oci.file',
    holds: (m) => m.oci?.file === undefined || !matches(m.oci.file, DOT_DOT_SEGMENT) },
  { rule: "!has(self.s3) || self.uri.startsWith('s3://')", message: 'model.s3 is only valid with an s3:// model.uri', fieldPath: '.s3',
    holds: (m) => m.s3 === undefined || m.uri.startsWith('s3://') },
  { rule: "!has(self.oci) || self.uri.startsWith('oci://')", message: 'model.oci is only valid with an oci:// model.uri', fieldPath: '.oci',
    holds: (m) => m.oci === undefined || m.uri.startsWith('oci://') },
  { rule: "!has(self.headersSecretRef) || self.uri.startsWith('http://') || self.uri.startsWith('https://')", message: 'model.headersSecretRef is only valid with an http:// or https:// model.uri', fieldPath: '.headersSecretRef',
    holds: (m) => m.headersSecretRef === undefined || /^https?:\/\//.test(m.uri) },
];

const secretName = (description: string) => str(description, { minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' });

const model = obj('The model to serve. Changing it (GitOps: a commit) starts a rollout from the stable version in status.', {
  uri: str('Where the ONNX model is. Downloaded by the server at start: http(s)://host/path (headers from headersSecretRef), s3://bucket/key (see s3). Mounted into the pod by the operator: pvc://claim/path (the claim, read-only), oci://registry/repository:tag (an image volume, see oci). Or a path inside the image.', { minLength: 1, maxLength: 2048 }),
  sha256: str('Expected SHA-256 of the model file (64 hex digits); the server refuses to start on a mismatch.', { pattern: '^[0-9a-fA-F]{64}$' }),
  version: str('Version label of this model (what the API reports and rollouts compare), e.g. "2024-06-01" or "v3".', { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }),
  headersSecretRef: obj('http(s):// models: the key of a Secret in the namespace whose value is headers to send, one "Name: value" per line (e.g. "Authorization: Bearer <token>" for a private model store). Set in the pod from the Secret, never written into the Deployment; never logged; not sent on a redirect to another host.', {
    name: secretName('Secret name.'),
    key: str('Key in the Secret.', { minLength: 1, maxLength: 253 }),
  }, { required: ['name', 'key'] }),
  s3: obj('s3:// models: the store and its credentials. Without credentialsSecretName the pod\'s own AWS identity is used (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, as EKS injects for a ServiceAccount with a role), else the object must be public.', {
    endpoint: str('An S3-compatible store, e.g. http://minio.storage.svc:9000 (default: AWS S3 in region).', { pattern: '^https?://[^/?#]+(/[^?#]*)?$', maxLength: 2048 }),
    region: str('The region requests are signed for (and of AWS S3 and STS). Default us-east-1.', { pattern: '^[a-z0-9-]{1,32}$' }),
    pathStyle: bool('Address objects as endpoint/bucket/key instead of bucket.endpoint/key (most S3-compatible stores need this). Default false.'),
    credentialsSecretName: secretName('A Secret in the namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set in the pod from the Secret, never written into the Deployment.'),
  }),
  oci: obj('oci:// models: the image volume holding the model (Kubernetes image volumes: beta and on by default since 1.35; containerd 2.1+ or CRI-O 1.31+ on the nodes).', {
    file: str('The model file inside the image. Default model.onnx.', { minLength: 1, maxLength: 1024, pattern: '^[^/](.*[^/])?$' }),
    pullPolicy: str('When the kubelet pulls the image: IfNotPresent (default for a tag or digest), Always or Never.', { enum: ['Always', 'IfNotPresent', 'Never'] }),
  }),
}, { required: ['uri', 'version'], 'x-kubernetes-validations': cel(MODEL_RULES) });

/** The server settings spec.monitoring sets (render/monitoring.ts). */
export const MONITORING_OPTIONS = [
  'baseline', 'baselineSha256', 'driftWindowSeconds', 'driftMinRows', 'driftSampleRate',
  'predictionLog', 'predictionLogSampleRate', 'predictionLogInputElements',
] as const satisfies readonly ServeOptionKey[];

/**
 * The server settings the operator sets itself, from the spec and its own settings (the renderer of the
 * server container, operator/src/render/workload.ts, is typed to set exactly these). In runtime.env their
 * variables would override the operator: MODELSHIP_PORT breaks the probes and Services, an empty
 * MODELSHIP_SHA256 turns the integrity check off, MODELSHIP_MAX_BATCH_SIZE contradicts runtime.maxBatchSize.
 * Admission refuses them.
 */
export const OPERATOR_SET_OPTIONS = [
  'model', 'sha256', 'name', 'version', 'port', 'maxBatchSize', 'maxQueueDelayMs', 'maxQueueSize', 'timeoutMs',
  'instances', 'intraOpThreads', 'executionProvider', 'drainTimeoutMs', 'modelCacheDir',
  'cache', 'cacheTtlSeconds', 'cacheMaxBytes', 'cacheMaxEntryBytes', 'cacheRedisUrl', 'cacheRedisTimeoutMs',
  's3Endpoint', 's3Region', 's3PathStyle',
  ...MONITORING_OPTIONS,
] as const satisfies readonly ServeOptionKey[];
export type OperatorSetOption = typeof OPERATOR_SET_OPTIONS[number];
/** Server settings the operator sets from a Secret (valueFrom), never as a value in the pod spec. */
export const OPERATOR_SECRET_OPTIONS = ['cacheRedisPassword', 'downloadHeaders'] as const satisfies readonly ServeOptionKey[];
/** Their environment variables, named by the server's option table (MODELSHIP_MODEL, MODELSHIP_PORT, ...). */
export const OPERATOR_ENV: readonly string[] = [...OPERATOR_SET_OPTIONS, ...OPERATOR_SECRET_OPTIONS].map(envName);
export const isOperatorEnv = (name: string): boolean => OPERATOR_ENV.includes(name);

/**
 * Checked on each item of runtime.env, so the API server's error path carries the item's index
 * (spec.runtime.env[2].name); the message names the variable.
 */
export const RESERVED_ENV_RULE = {
  rule: `!(self.name in ${JSON.stringify(OPERATOR_ENV)})`,
  messageExpression: "self.name + ' is set by the operator'",
  fieldPath: '.name',
  message: (name: string) => `${name} is set by the operator`,
  fallbackMessage: 'a variable the operator sets must not be set in runtime.env',
  holds: (item: { name: string }) => !isOperatorEnv(item.name),
};

interface CacheFields { store: string; maxMiB?: number; maxEntryKiB?: number; redis?: unknown }

export const CACHE_RULES: ValidationRule<CacheFields>[] = [
  { rule: "self.store != 'redis' || has(self.redis)", message: 'runtime.cache.store redis requires runtime.cache.redis.url', fieldPath: '.redis',
    holds: (c) => c.store !== 'redis' || c.redis !== undefined },
  { rule: "self.store == 'redis' || !has(self.redis)", message: 'runtime.cache.redis is only valid with store: redis', fieldPath: '.redis',
    holds: (c) => c.store === 'redis' || c.redis === undefined },
  { rule: "self.store == 'memory' || !has(self.maxMiB)", message: "runtime.cache.maxMiB bounds the memory store only (bound Redis with its own maxmemory)", fieldPath: '.maxMiB',
    holds: (c) => c.store === 'memory' || c.maxMiB === undefined },
  { rule: '!has(self.maxMiB) || !has(self.maxEntryKiB) || self.maxEntryKiB <= self.maxMiB * 1024', message: 'runtime.cache.maxEntryKiB must not exceed maxMiB', fieldPath: '.maxEntryKiB',
    holds: (c) => c.maxMiB === undefined || c.maxEntryKiB === undefined || c.maxEntryKiB <= c.maxMiB * 1024 },
];

const cache = obj('A response cache: answers to input rows seen before, looked up row by row (each row of a batched request on its own), so that only new rows are computed. Keyed by the model version, its file\'s SHA-256, the requested outputs and the decoded input bytes: a version never gets another\'s answers.', {
  store: str('memory: in each pod, bounded by maxMiB. redis: one Redis shared by every pod of a version, at redis.url.', { enum: ['memory', 'redis'] }),
  ttlSeconds: int('How long a cached answer is served, in seconds.', { minimum: 1, maximum: 2678400, default: 60 }),
  maxMiB: int('Memory store: most MiB of answers each pod holds (least recently used evicted past it; count it in the pod\'s memory limit). Default 256.', { minimum: 1, maximum: 65536 }),
  maxEntryKiB: int('Largest cached answer of one row, in KiB; larger ones are computed every time. Default 1024.', { minimum: 1, maximum: 65536 }),
  redis: obj('The Redis of store redis. When it is down or slow the pods serve without the cache, and use it again once it is back.', {
    url: str('redis:// or rediss:// URL, e.g. redis://redis.cache.svc:6379/0. Put no password here: use passwordSecretRef.', { pattern: '^rediss?://', maxLength: 2048 }),
    passwordSecretRef: obj('The key of a Secret in the ModelDeployment\'s namespace that holds the Redis password.', {
      name: str('Secret name.', { minLength: 1, maxLength: 253 }),
      key: str('Key in the Secret.', { minLength: 1, maxLength: 253 }),
    }, { required: ['name', 'key'] }),
    timeoutMs: int('How long a request waits for Redis before it is computed without the cache, in milliseconds. Default 20.', { minimum: 1, maximum: 10000 }),
  }, { required: ['url'] }),
}, { required: ['store'], 'x-kubernetes-validations': cel(CACHE_RULES) });

const runtime = obj('How the model server runs the model.', {
  image: str('Model server image; defaults to the operator\'s configured image (CPU or CUDA variant by gpu.mode).'),
  maxBatchSize: int('Most rows in one dynamic batch; 0 disables batching.', { minimum: 0, maximum: 4096, default: 64 }),
  maxQueueDelayMs: num('How long an idle instance may hold a partial batch while others compute, in milliseconds.', { minimum: 0, maximum: 10000, default: 0 }),
  maxQueueSize: int('Most queued requests per pod; beyond it the server answers 503 at once.', { minimum: 0, default: 1024 }),
  timeoutMs: num('Default queue timeout for requests that set none, in milliseconds (0: none).', { minimum: 0, default: 0 }),
  instances: int('ONNX Runtime sessions per pod, each in its own worker thread.', { minimum: 1, maximum: 64, default: 1 }),
  intraOpThreads: int('Threads per session (0: the pod\'s CPUs but one, shared among the instances).', { minimum: 0, maximum: 256, default: 0 }),
  cache,
  env: {
    type: 'array',
    description: `Extra environment variables for the server container (MODELSHIP_* settings among them, except those the operator sets: ${OPERATOR_ENV.join(', ')}).`,
    items: obj('An environment variable.', { name: str('Variable name.', { minLength: 1, maxLength: 256 }), value: str('Value.') }, {
      required: ['name'],
      'x-kubernetes-validations': [{ rule: RESERVED_ENV_RULE.rule, messageExpression: RESERVED_ENV_RULE.messageExpression, message: RESERVED_ENV_RULE.fallbackMessage, fieldPath: RESERVED_ENV_RULE.fieldPath }],
    }),
    maxItems: 128,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  },
}, { default: {} });

export const GPU_RULES: ValidationRule<GpuFields>[] = [
  { rule: "self.mode == 'mig' || !has(self.profile)", message: 'gpu.profile is only valid with gpu.mode: mig', fieldPath: '.profile',
    holds: (g) => g.mode === 'mig' || g.profile === undefined },
  { rule: "self.mode != 'mig' || has(self.profile)", message: 'gpu.mode mig requires gpu.profile, e.g. 1g.10gb', fieldPath: '.profile',
    holds: (g) => g.mode !== 'mig' || g.profile !== undefined },
  { rule: `!has(self.profile) || self.profile.matches(r'${MIG_PROFILE_PATTERN}')`, message: 'gpu.profile must be a MIG profile such as 1g.10gb, 2g.20gb or 1g.10gb+me', fieldPath: '.profile',
    holds: (g) => g.profile === undefined || new RegExp(MIG_PROFILE_PATTERN).test(g.profile) },
  { rule: "self.mode != 'none' || !has(self.count)", message: 'gpu.count must not be set when gpu.mode is none', fieldPath: '.count',
    holds: (g) => g.mode !== 'none' || g.count === undefined },
  { rule: "self.mode != 'mig' || !has(self.count) || self.count <= 7", message: 'gpu.count for mode mig is at most 7 slices per pod (a GPU has at most 7)', fieldPath: '.count',
    holds: (g) => g.mode !== 'mig' || g.count === undefined || g.count <= 7 },
  { rule: "self.mode != 'timeSliced' || !has(self.count) || self.count == 1", message: 'gpu.count for mode timeSliced must be 1: a pod gets one time-sliced share (the device plugin refuses more)', fieldPath: '.count',
    holds: (g) => g.mode !== 'timeSliced' || g.count === undefined || g.count === 1 },
];

export const SCALING_RULES: ValidationRule<ScalingFields>[] = [
  { rule: 'self.minReplicas <= self.maxReplicas', message: 'scaling.minReplicas must not exceed scaling.maxReplicas',
    holds: (s) => s.minReplicas <= s.maxReplicas },
];

// Fields the operator passes on to the objects it renders are typed as core/v1 and autoscaling/v2 type them,
// so admission refuses a value the API would refuse later (naming the field) instead of the operator
// failing to apply, again and again, what was accepted.
const toleration = obj('A toleration (core/v1 Toleration).', {
  key: str('Taint key the toleration matches; empty with operator Exists matches every taint.', { maxLength: 316 }),
  operator: str('Exists or Equal (the default).', { enum: ['Exists', 'Equal'] }),
  value: str('Taint value the toleration matches (empty with operator Exists).', { maxLength: 63 }),
  effect: str('Taint effect to match; empty matches all effects.', { enum: ['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'] }),
  tolerationSeconds: int('With effect NoExecute: how long the pod stays bound after the taint appears (unset: for ever).', { format: 'int64' }),
});

const scalingPolicy = () => obj('A scaling policy (autoscaling/v2 HPAScalingPolicy).', {
  type: str('Pods or Percent.', { enum: ['Pods', 'Percent'] }),
  value: int('How many pods, or what percent of the current replicas, may change in one period.', { minimum: 1 }),
  periodSeconds: int('The period the policy holds for.', { minimum: 1, maximum: 1800 }),
}, { required: ['type', 'value', 'periodSeconds'] });

const scalingRules = (direction: string) => obj(`How the autoscaler scales ${direction} (autoscaling/v2 HPAScalingRules).`, {
  stabilizationWindowSeconds: int('Past recommendations considered before scaling.', { minimum: 0, maximum: 3600 }),
  selectPolicy: str('Which policy wins: Max, Min, or Disabled (never scale this way).', { enum: ['Max', 'Min', 'Disabled'] }),
  policies: arr('Limits on how fast the replicas change.', scalingPolicy(), { maxItems: 10, 'x-kubernetes-list-type': 'atomic' }),
});

const gpu = obj('The GPU each pod gets: none, whole GPUs, MIG slices, or time-sliced shares of a GPU.', {
  mode: str('none: CPU only. full: whole GPUs (nvidia.com/gpu). mig: MIG slices of `profile`. timeSliced: shares of a time-sliced GPU.', { enum: ['none', 'full', 'mig', 'timeSliced'], default: 'none' }),
  count: int('How many GPUs (full), slices (mig) or shares (timeSliced) each pod requests.', { minimum: 1, maximum: 16 }),
  profile: str('MIG profile for mode mig, e.g. 1g.10gb, 3g.40gb, 1g.10gb+me.', { maxLength: 16 }),
  product: str('GPU product to require (the nvidia.com/gpu.product node label), e.g. NVIDIA-H100-80GB-HBM3.', { maxLength: 63 }),
  nodeSelector: { type: 'object', description: 'Extra node labels the pods require.', additionalProperties: { type: 'string' } },
  tolerations: arr('Extra tolerations (the nvidia.com/gpu NoSchedule toleration is added for GPU modes).', toleration, { maxItems: 32 }),
}, {
  // Spelled out: the API server checks a default against the CEL rules before nested defaults apply.
  default: { mode: 'none' },
  'x-kubernetes-validations': cel(GPU_RULES),
});

const scaling = obj('Autoscaling on inference queue depth.', {
  minReplicas: int('Fewest pods (the scale subresource sets this).', { minimum: 0, default: 1 }),
  maxReplicas: int('Most pods.', { minimum: 1, default: 1 }),
  targetQueueDepth: num('Queued requests per pod to aim for (the server\'s modelship_queue_depth metric).', { exclusiveMinimum: true, minimum: 0, default: 4 }),
  engine: str('hpa: an autoscaling/v2 HorizontalPodAutoscaler on the Pods metric. keda: a KEDA ScaledObject with a Prometheus trigger.', { enum: ['hpa', 'keda'], default: 'hpa' }),
  behavior: obj('HPA scaling behavior (autoscaling/v2 HorizontalPodAutoscalerBehavior); defaults scale up fast and down slowly.', {
    scaleUp: scalingRules('up'),
    scaleDown: scalingRules('down'),
  }),
}, {
  default: { minReplicas: 1, maxReplicas: 1, targetQueueDepth: 4, engine: 'hpa' },
  'x-kubernetes-validations': cel(SCALING_RULES),
});

/** A Go-style duration such as 30s, 5m or 1h30m (what Flagger and Argo Rollouts users write). */
export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h))+$';
const duration = (description: string, fallback: string) => str(description, { pattern: DURATION_PATTERN, default: fallback, maxLength: 32 });

interface RolloutFields {
  strategy?: string;
  steps?: number[];
  shadow?: unknown;
  analysis?: { provider?: string; prometheusUrl?: string; maxLatencyP99Ms?: number; maxLatencyP99Ratio?: number };
  routing?: { provider?: string; gateway?: { parentRefs?: unknown[] } };
}

export const ROLLOUT_RULES: ValidationRule<RolloutFields>[] = [
  { rule: '!has(self.steps) || self.steps[size(self.steps) - 1] == 100', message: 'rollout.steps must end at 100 (the candidate takes all traffic before promotion)', fieldPath: '.steps',
    holds: (r) => r.steps === undefined || r.steps[r.steps.length - 1] === 100 },
  { rule: '!has(self.steps) || self.steps.all(w, self.steps.exists_one(x, x == w)) && self.steps.isSorted()', message: 'rollout.steps must rise strictly, e.g. [5, 20, 50, 100]', fieldPath: '.steps',
    holds: (r) => r.steps === undefined || r.steps.every((w, i) => i === 0 || w > r.steps![i - 1]) },
  { rule: "self.strategy != 'abTest' || !has(self.shadow)", message: 'rollout.shadow is only valid with strategy canary (an A/B test splits real traffic from the start)', fieldPath: '.shadow',
    holds: (r) => r.strategy !== 'abTest' || r.shadow === undefined },
  { rule: "!has(self.analysis) || self.analysis.provider != 'prometheus' || has(self.analysis.prometheusUrl)", message: 'rollout.analysis.provider prometheus requires analysis.prometheusUrl', fieldPath: '.analysis.prometheusUrl',
    holds: (r) => r.analysis?.provider !== 'prometheus' || r.analysis.prometheusUrl !== undefined },
  { rule: "!has(self.routing) || self.routing.provider != 'gateway-api' || (has(self.routing.gateway) && has(self.routing.gateway.parentRefs) && size(self.routing.gateway.parentRefs) > 0)",
    message: 'rollout.routing.provider gateway-api requires routing.gateway.parentRefs (the Gateway that serves the route)', fieldPath: '.routing.gateway',
    holds: (r) => r.routing?.provider !== 'gateway-api' || (r.routing.gateway?.parentRefs?.length ?? 0) > 0 },
  { rule: "!has(self.routing) || self.routing.provider != 'gateway-api' || (has(self.analysis) && self.analysis.provider == 'prometheus')",
    message: 'rollout.routing.provider gateway-api requires analysis.provider prometheus: the gateway, not the router, sees the traffic', fieldPath: '.analysis.provider',
    holds: (r) => r.routing?.provider !== 'gateway-api' || r.analysis?.provider === 'prometheus' },
];

const rollout = obj('How a new model version (a change of spec.model) is promoted: an optional shadow phase, then canary steps gated by analysis, with automatic rollback; or a fixed A/B split. Without it, a new version takes all traffic once its pods are ready.', {
  strategy: str('canary: shadow (optional), then the steps, each judged, then promotion. abTest: a fixed split by abTest.weight, sticky by routing.stickyHeader, never promoted (change spec.model to end it).', { enum: ['canary', 'abTest'], default: 'canary' }),
  steps: arr('Candidate traffic weights in percent, rising, ending at 100.', int('A weight in percent.', { minimum: 1, maximum: 100 }), { minItems: 1, maxItems: 10, default: [5, 20, 50, 100] }),
  stepInterval: duration('How long each step (and each shadow check) runs before it is judged, e.g. 1m.', '1m'),
  shadow: obj('Before any canary step, copy a share of requests to the candidate and compare its answers with the stable version\'s; clients only ever get the stable answer.', {
    percent: int('Share of requests copied to the candidate, in percent.', { minimum: 1, maximum: 100, default: 10 }),
    duration: duration('How long the shadow phase lasts (judged every stepInterval).', '5m'),
    minComparisons: int('Compared answer pairs needed before the shadow phase can pass.', { minimum: 1, default: 100 }),
    minAgreement: num('Least top-1 agreement with the stable version (0 to 1) for classifier outputs.', { minimum: 0, maximum: 1 }),
    maxDivergence: num('Largest allowed 99th percentile of the per-request maximum absolute output difference.', { minimum: 0 }),
  }),
  analysis: obj('The gates every check applies to the candidate; a failed check counts toward failureThreshold.', {
    provider: str('router: the router\'s own /metrics (no Prometheus needed). prometheus: queries against prometheusUrl.', { enum: ['router', 'prometheus'], default: 'router' }),
    prometheusUrl: str('Prometheus server for provider prometheus, e.g. http://prometheus-operated.monitoring.svc:9090.', { pattern: '^https?://' }),
    minRequests: int('Candidate requests a check needs before it judges; fewer holds the step.', { minimum: 1, default: 50 }),
    maxErrorRate: num('Largest share of candidate requests answered 5xx (0 to 1).', { minimum: 0, maximum: 1, default: 0.01 }),
    maxLatencyP99Ms: num('Largest candidate p99 latency, in milliseconds.', { exclusiveMinimum: true, minimum: 0 }),
    maxLatencyP99Ratio: num('Largest candidate p99 latency relative to the stable version\'s in the same window, e.g. 1.5.', { exclusiveMinimum: true, minimum: 0 }),
    maxPredictionShift: num('Largest PSI of the candidate\'s prediction distribution against the stable version\'s over the same window (each output binned by the baseline; the worst output counts), e.g. 0.1. Judged in shadow and canary checks alike, except at the 100% step (the stable version then has no traffic to compare with); needs spec.monitoring.baseline.', { minimum: 0 }),
    failureThreshold: int('Failed checks that roll the candidate back.', { minimum: 1, maximum: 100, default: 2 }),
  }, { default: {} }),
  abTest: obj('The fixed split of strategy abTest.', {
    weight: int('The candidate\'s share of traffic, in percent.', { minimum: 0, maximum: 100, default: 50 }),
  }, { default: {} }),
  routing: obj('Who splits the traffic.', {
    provider: str('router: modelship\'s router in front of the versions (works on any cluster, judges shadow answers). gateway-api: an HTTPRoute with weighted backendRefs and RequestMirror.', { enum: ['router', 'gateway-api'], default: 'router' }),
    stickyHeader: str('Request header whose value picks the version by consistent hash (same user, same version while the weights hold), e.g. x-user-id.', { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', maxLength: 128 }),
    replicas: int('Router pods.', { minimum: 1, maximum: 100, default: 2 }),
    gateway: obj('For provider gateway-api: where the HTTPRoute attaches.', {
      parentRefs: arr('Gateways (or listeners) the HTTPRoute attaches to.', obj('A Gateway API parentRef.', {
        name: str('Gateway name.', { minLength: 1, maxLength: 253 }),
        namespace: str('Gateway namespace (default: the ModelDeployment\'s).', { maxLength: 63 }),
        sectionName: str('Listener name.', { maxLength: 253 }),
        port: int('Listener port.', { minimum: 1, maximum: 65535 }),
      }, { required: ['name'] }), { maxItems: 32 }),
      hostnames: arr('Host names the route matches.', str('A host name.', { maxLength: 253 }), { maxItems: 16 }),
    }),
  }, { default: {} }),
}, { 'x-kubernetes-validations': cel(ROLLOUT_RULES) });

interface MonitoringFields { baseline?: { uri: string }; drift?: { warnPsi?: number; alertPsi?: number } }

/**
 * spec.monitoring.drift's defaults, once: the schema's, and the operator's where the whole `drift` block is
 * left out (then the API server fills in none of them). The window and the rows are the server's own defaults.
 */
export const DRIFT_DEFAULTS = {
  warnPsi: 0.1,
  alertPsi: 0.25,
  windowSeconds: SERVE_OPTIONS.driftWindowSeconds.default,
  minRows: SERVE_OPTIONS.driftMinRows.default,
};

/** Where a baseline may be: what the server fetches itself, or a claim the operator mounts (never an image). */
const BASELINE_SCHEME = '^(https?|file|s3|pvc)://';
export const MONITORING_RULES: ValidationRule<MonitoringFields>[] = [
  { rule: `!has(self.baseline) || !self.baseline.uri.matches(r'${ANY_SCHEME}') || self.baseline.uri.matches(r'${BASELINE_SCHEME}')`,
    message: 'monitoring.baseline.uri must be a path or an http://, https://, file://, s3:// or pvc:// URI', fieldPath: '.baseline.uri',
    holds: (m) => m.baseline === undefined || !matches(m.baseline.uri, ANY_SCHEME) || matches(m.baseline.uri, BASELINE_SCHEME) },
  { rule: `!has(self.baseline) || !self.baseline.uri.startsWith('pvc://') || (self.baseline.uri.matches(r'${PVC_URI}') && !self.baseline.uri.substring(6).matches(r'${DOT_DOT_SEGMENT}'))`,
    message: 'monitoring.baseline.uri must be pvc://claim/path/to/baseline.json (no ".." in the path)', fieldPath: '.baseline.uri',
    holds: (m) => m.baseline === undefined || !m.baseline.uri.startsWith('pvc://') || (matches(m.baseline.uri, PVC_URI) && !matches(m.baseline.uri.slice(6), DOT_DOT_SEGMENT)) },
  { rule: '!has(self.drift) || has(self.baseline)', message: 'monitoring.drift needs monitoring.baseline (drift is measured against it)', fieldPath: '.drift',
    holds: (m) => m.drift === undefined || m.baseline !== undefined },
  { rule: '!has(self.drift) || !has(self.drift.warnPsi) || !has(self.drift.alertPsi) || self.drift.warnPsi <= self.drift.alertPsi',
    message: 'monitoring.drift.warnPsi must not exceed alertPsi', fieldPath: '.drift.warnPsi',
    holds: (m) => m.drift?.warnPsi === undefined || m.drift.alertPsi === undefined || m.drift.warnPsi <= m.drift.alertPsi },
];

const monitoring = obj('Model monitoring in the server: input and prediction drift against a baseline profile (modelship-server profile), and prediction logging. Drift shows in the Drifting condition and the servers\' metrics; rollout.analysis.maxPredictionShift gates a rollout on it.', {
  baseline: obj('The baseline profile of the data the model expects (modelship.dev/baseline/v1 JSON, written by `modelship-server profile`). Every version\'s pods load it.', {
    uri: str('Where it is: http(s)://host/path (model.headersSecretRef applies), s3://bucket/key (model.s3\'s store and credentials), pvc://claim/path (mounted read-only), or a path inside the image.', { minLength: 1, maxLength: 2048 }),
    sha256: str('Expected SHA-256 of the baseline file; the server refuses to start on a mismatch.', { pattern: '^[0-9a-fA-F]{64}$' }),
  }, { required: ['uri'] }),
  drift: obj('How drift is judged (population stability index, PSI, per feature and per output).', {
    warnPsi: num('PSI at which a feature or output is reported as drifting in a warning (the Drifting condition stays False, reason DriftWarning).', { minimum: 0, default: DRIFT_DEFAULTS.warnPsi }),
    alertPsi: num('PSI at which the Drifting condition turns True.', { minimum: 0, default: DRIFT_DEFAULTS.alertPsi }),
    windowSeconds: int('The sliding window the servers compute PSI over, in seconds.', { minimum: 10, maximum: 86400, default: DRIFT_DEFAULTS.windowSeconds }),
    minRows: int('Rows a feature needs in the window before it is judged. Sampling alone gives a PSI of about (bins - 1) / rows without any drift (0.09 at 100 rows and 10 bins, near the warning mark; 0.02 at 500).', { minimum: 1, default: DRIFT_DEFAULTS.minRows }),
    sampleRate: num('Share of requests counted into the drift bins (0 to 1).', { minimum: 0, maximum: 1, default: 1 }),
  }),
  predictionLog: obj('Log sampled predictions with their inputs, version and request id (to join with labels later), off the request path: a full queue drops records (counted), never requests.', {
    sink: str("stdout: JSON lines in the server's log. An http(s):// URL: CloudEvents as KServe's payload logger sends them.", { pattern: '^(stdout|https?://.+)$', maxLength: 2048 }),
    sampleRate: num('Share of requests whose prediction is logged (0 to 1).', { minimum: 0, maximum: 1, default: 1 }),
    inputElements: int('Most elements of each input tensor written to a record (0 leaves inputs out).', { minimum: 0, default: 1024 }),
  }, { required: ['sink'] }),
}, { 'x-kubernetes-validations': cel(MONITORING_RULES) });

/**
 * Checked at the spec's root: rules that tie two parts of the spec together.
 */
interface SpecFields { monitoring?: { baseline?: unknown }; rollout?: { analysis?: { maxPredictionShift?: number } } }
export const SPEC_RULES: ValidationRule<SpecFields>[] = [
  { rule: '!has(self.rollout) || !has(self.rollout.analysis) || !has(self.rollout.analysis.maxPredictionShift) || (has(self.monitoring) && has(self.monitoring.baseline))',
    message: 'rollout.analysis.maxPredictionShift needs monitoring.baseline (its bins are what both versions\' predictions are counted in)', fieldPath: '.rollout.analysis.maxPredictionShift',
    holds: (s) => s.rollout?.analysis?.maxPredictionShift === undefined || s.monitoring?.baseline !== undefined },
];

const condition = obj('A condition of the deployment (Kubernetes API conventions).', {
  type: str('Ready, Progressing, Degraded, GPUCapacityMissing or Drifting.'),
  status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
  observedGeneration: int('The .metadata.generation this condition was computed from.', { format: 'int64' }),
  lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
  reason: str('Machine-readable reason, CamelCase.'),
  message: str('Human-readable detail.'),
}, { required: ['type', 'status'] });

// spec.pod: what a platform team requires on every pod (placement, identity, bookkeeping, extra volumes),
// typed as core/v1 types them. Only the fields below exist: the pod's and container's security context,
// host namespaces, init containers and sidecars are the operator's, so its hardening (non-root, read-only
// root filesystem, seccomp RuntimeDefault, no capabilities, no privilege escalation) cannot be turned off.
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A label or annotation key: an optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
export const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
const QUALIFIED_NAME_MAX = 317;
const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** An absolute path without "." or ".." segments (so a path's place in the tree is what it says). */
const MOUNT_PATH = '^(/([^/:.][^/:]*|\\.[^/:.][^/:]*|\\.\\.[^/:]+))+$';
/** A relative path without "." or ".." segments. */
const RELATIVE_PATH = '^([^/:.][^/:]*|\\.[^/:.][^/:]*|\\.\\.[^/:]+)(/([^/:.][^/:]*|\\.[^/:.][^/:]*|\\.\\.[^/:]+))*$';

/**
 * Pod labels and annotations the operator sets (names.ts, router.ts, workload.ts; test/unit/pod-fields.test.ts
 * holds the renderers to these lists): its selectors, its ownership labels and where Prometheus scrapes.
 * spec.pod may not set them, nor anything under the operator's own prefix.
 */
export const OPERATOR_POD_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/component'] as const;
export const OPERATOR_POD_ANNOTATIONS = ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path'] as const;
export const OPERATOR_KEY_PREFIX = `${GROUP}/`;
/**
 * The model server's own volumes and where they are mounted (workload.ts and model-source.ts render exactly
 * these): the writable /tmp, the read-only mount of a pvc:// or oci:// model, and of a baseline on another claim.
 */
export const OPERATOR_VOLUMES = { tmp: '/tmp', 'model-source': '/model-source', 'baseline-source': '/baseline-source' } as const;
/** The volume types spec.pod.volumes may use: those of the restricted Pod Security Standard, none of which reaches the node's files or devices. */
export const ALLOWED_VOLUME_TYPES = ['emptyDir', 'configMap', 'secret', 'persistentVolumeClaim', 'projected', 'downwardAPI', 'csi', 'ephemeral'] as const;

const reservedKeyRule = (reserved: readonly string[], why: string): ValidationRule<Record<string, string>> => {
  const bad = `k in ${JSON.stringify(reserved)} || k.startsWith('${OPERATOR_KEY_PREFIX}')`;
  const isBad = (k: string) => reserved.includes(k) || k.startsWith(OPERATOR_KEY_PREFIX);
  return {
    rule: `!self.exists(k, ${bad})`,
    messageExpression: `self.filter(k, ${bad})[0] + ' is set by the operator (${why})'`,
    message: `a key the operator sets (${why}) must not be set`,
    holds: (m) => !Object.keys(m).some(isBad),
    explain: (m) => `${Object.keys(m).find(isBad)} is set by the operator (${why})`,
  };
};
const KEY_FORMAT = 'an optional DNS subdomain and "/", then at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends';
const keyFormatRule = (): ValidationRule<Record<string, unknown>> => {
  const bad = `size(k) > ${QUALIFIED_NAME_MAX} || !k.matches(r'${QUALIFIED_NAME}')`;
  const isBad = (k: string) => k.length > QUALIFIED_NAME_MAX || !new RegExp(QUALIFIED_NAME).test(k);
  return {
    rule: `!self.exists(k, ${bad})`,
    messageExpression: `self.filter(k, ${bad})[0] + ' is not a valid key (${KEY_FORMAT})'`,
    message: `every key must be ${KEY_FORMAT}`,
    holds: (m) => !Object.keys(m).some(isBad),
    explain: (m) => `${Object.keys(m).find(isBad)} is not a valid key (${KEY_FORMAT})`,
  };
};
/** A map of label or annotation keys to values, the keys checked as the API server checks them. */
const keyedMap = <const V extends Schema>(description: string, value: V, maxProperties: number, extraRules: ValidationRule<never>[] = []) =>
  checked({ type: 'object' as const, description, additionalProperties: value, maxProperties }, [keyFormatRule() as ValidationRule<never>, ...extraRules]);
const labelValueSchema = str('A label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends.', { maxLength: 63, pattern: LABEL_VALUE });
const labelKey = str('A label key.', { maxLength: QUALIFIED_NAME_MAX, pattern: QUALIFIED_NAME });
const stringList = (description: string, item: Schema, maxItems: number) => arr(description, item, { maxItems });

interface Requirement { operator: string; values?: string[] }
const withValues = (r: Requirement) => ['In', 'NotIn'].includes(r.operator);
export const LABEL_REQUIREMENT_RULES: ValidationRule<Requirement>[] = [
  { rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
    message: 'values are required with operator In or NotIn, and not allowed with Exists or DoesNotExist', fieldPath: '.values',
    holds: (r) => withValues(r) === (r.values !== undefined && r.values.length > 0) },
];
export const NODE_REQUIREMENT_RULES: ValidationRule<Requirement>[] = [
  ...LABEL_REQUIREMENT_RULES.map((r) => ({ ...r, rule: `self.operator in ['Gt', 'Lt'] || (${r.rule})`, holds: (q: Requirement) => ['Gt', 'Lt'].includes(q.operator) || r.holds(q) })),
  { rule: "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",
    message: 'operator Gt or Lt takes one integer value', fieldPath: '.values',
    holds: (r) => !['Gt', 'Lt'].includes(r.operator) || (r.values?.length === 1 && /^-?[0-9]+$/.test(r.values[0])) },
];
const labelSelector = (description: string) => obj(`${description} (meta/v1 LabelSelector).`, {
  matchLabels: keyedMap('Labels the pods must have.', labelValueSchema, 32),
  matchExpressions: arr('Label requirements, all of which must hold.', checked(obj('A label requirement.', {
    key: labelKey,
    operator: str('In, NotIn, Exists or DoesNotExist.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
    values: stringList('Values for In and NotIn.', labelValueSchema, 64),
  }, { required: ['key', 'operator'] }), LABEL_REQUIREMENT_RULES as ValidationRule<never>[]), { maxItems: 16 }),
});

const nodeSelectorTerm = obj('Node requirements, all of which must hold (core/v1 NodeSelectorTerm).', {
  matchExpressions: arr('Requirements on node labels.', checked(obj('A node label requirement.', {
    key: labelKey,
    operator: str('In, NotIn, Exists, DoesNotExist, Gt or Lt.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] }),
    values: stringList('Values for In, NotIn (at least one), Gt and Lt (one integer).', labelValueSchema, 64),
  }, { required: ['key', 'operator'] }), NODE_REQUIREMENT_RULES as ValidationRule<never>[]), { maxItems: 16 }),
  matchFields: arr('Requirements on node fields (metadata.name).', obj('A node field requirement.', {
    key: str('The field: metadata.name.', { enum: ['metadata.name'] }),
    operator: str('In or NotIn.', { enum: ['In', 'NotIn'] }),
    values: arr('One node name.', str('A node name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }), { minItems: 1, maxItems: 1 }),
  }, { required: ['key', 'operator', 'values'] }), { maxItems: 16 }),
});

const podAffinityTerm = obj('Pods this pod should (or should not) share a topology domain with (core/v1 PodAffinityTerm).', {
  labelSelector: labelSelector('The pods'),
  namespaceSelector: labelSelector('Namespaces whose pods count (empty: all)'),
  namespaces: stringList('Namespaces whose pods count (neither set: this pod\'s namespace).', str('A namespace.', { maxLength: 63, pattern: DNS_LABEL }), 16),
  topologyKey: str('Node label whose value is the domain, e.g. kubernetes.io/hostname or topology.kubernetes.io/zone.', { minLength: 1, maxLength: QUALIFIED_NAME_MAX, pattern: QUALIFIED_NAME }),
  matchLabelKeys: stringList('Label keys whose values on this pod are added to labelSelector (In).', labelKey, 16),
  mismatchLabelKeys: stringList('Label keys whose values on this pod are added to labelSelector (NotIn).', labelKey, 16),
}, { required: ['topologyKey'] });
const weight = int('Weight, 1 to 100, added to a node\'s score when the term matches.', { minimum: 1, maximum: 100 });
const podAffinity = (what: string) => obj(`${what} (core/v1 ${what.replace(/ /g, '')}).`, {
  requiredDuringSchedulingIgnoredDuringExecution: arr('Terms that must hold.', podAffinityTerm, { maxItems: 16 }),
  preferredDuringSchedulingIgnoredDuringExecution: arr('Terms preferred, by weight.', obj('A weighted term.', { weight, podAffinityTerm }, { required: ['weight', 'podAffinityTerm'] }), { maxItems: 16 }),
});

const affinity = obj('Scheduling constraints (core/v1 Affinity), beside the node selector and tolerations of spec.gpu.', {
  nodeAffinity: obj('Nodes the pods must or should run on (core/v1 NodeAffinity).', {
    requiredDuringSchedulingIgnoredDuringExecution: obj('Node terms, one of which must hold (core/v1 NodeSelector).', {
      nodeSelectorTerms: arr('The terms, ORed.', nodeSelectorTerm, { minItems: 1, maxItems: 16 }),
    }, { required: ['nodeSelectorTerms'] }),
    preferredDuringSchedulingIgnoredDuringExecution: arr('Node terms preferred, by weight.', obj('A weighted node term.', { weight, preference: nodeSelectorTerm }, { required: ['weight', 'preference'] }), { maxItems: 16 }),
  }),
  podAffinity: podAffinity('Pod affinity'),
  podAntiAffinity: podAffinity('Pod anti affinity'),
});

export const TOPOLOGY_SPREAD_RULES: ValidationRule<{ whenUnsatisfiable: string; minDomains?: number }>[] = [
  { rule: "self.whenUnsatisfiable == 'DoNotSchedule' || !has(self.minDomains)", message: 'minDomains is only valid with whenUnsatisfiable: DoNotSchedule', fieldPath: '.minDomains',
    holds: (c) => c.whenUnsatisfiable === 'DoNotSchedule' || c.minDomains === undefined },
];
const topologySpreadConstraint = checked(obj('How the pods spread across a topology (core/v1 TopologySpreadConstraint). Without labelSelector, the pods of the same model version are counted.', {
  maxSkew: int('Most pods by which two domains may differ.', { minimum: 1 }),
  topologyKey: str('Node label whose value is the domain, e.g. topology.kubernetes.io/zone.', { minLength: 1, maxLength: QUALIFIED_NAME_MAX, pattern: QUALIFIED_NAME }),
  whenUnsatisfiable: str('DoNotSchedule or ScheduleAnyway.', { enum: ['DoNotSchedule', 'ScheduleAnyway'] }),
  labelSelector: labelSelector('The pods counted (default: the pods of the same model version)'),
  minDomains: int('With DoNotSchedule: fewest eligible domains.', { minimum: 1 }),
  nodeAffinityPolicy: str('Whether node affinity and selectors limit the domains: Honor (default) or Ignore.', { enum: ['Honor', 'Ignore'] }),
  nodeTaintsPolicy: str('Whether node taints limit the domains: Honor or Ignore (default).', { enum: ['Honor', 'Ignore'] }),
  matchLabelKeys: stringList('Label keys whose values on this pod are added to labelSelector, e.g. pod-template-hash.', labelKey, 16),
}, { required: ['maxSkew', 'topologyKey', 'whenUnsatisfiable'] }), TOPOLOGY_SPREAD_RULES as ValidationRule<never>[]);

const fileMode = int('File mode bits, 0 to 0777 (decimal 0 to 511).', { minimum: 0, maximum: 511 });
const keyToPath = arr('Keys projected to files (default: every key, as a file of its name).', obj('A key and its file.', {
  key: str('The key.', { minLength: 1, maxLength: 253 }),
  path: str('Relative file path.', { minLength: 1, maxLength: 4096, pattern: RELATIVE_PATH }),
  mode: fileMode,
}, { required: ['key', 'path'] }), { maxItems: 64 });
const configMapSource = (description: string) => obj(description, {
  name: str('ConfigMap name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
  items: keyToPath,
  optional: { type: 'boolean' as const, description: 'Whether the ConfigMap may be missing.' },
}, { required: ['name'] });
const secretProjection = obj('A Secret projected into the volume.', {
  name: str('Secret name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
  items: keyToPath,
  optional: { type: 'boolean' as const, description: 'Whether the Secret may be missing.' },
}, { required: ['name'] });
/** A rule that exactly one of `fields` is set, e.g. the type of a volume. */
const exactlyOne = (fields: readonly string[], what: string, fieldPath?: string): ValidationRule<never> => ({
  rule: `[${fields.map((f) => `has(self.${f})`).join(', ')}].filter(x, x).size() == 1`,
  message: `${what} must set exactly one of ${fields.join(', ')}`,
  ...(fieldPath ? { fieldPath } : {}),
  holds: (self: Record<string, unknown>) => fields.filter((f) => self[f] !== undefined).length === 1,
} as ValidationRule<never>);
const PROJECTION_KINDS = ['configMap', 'secret', 'downwardAPI', 'serviceAccountToken'];
const downwardApiItems = arr('Pod fields as files.', checked(obj('A pod field as a file (core/v1 DownwardAPIVolumeFile).', {
  path: str('Relative file path.', { minLength: 1, maxLength: 4096, pattern: RELATIVE_PATH }),
  fieldRef: obj('A field of the pod.', {
    apiVersion: str('Version of the field path (default v1).', { maxLength: 64 }),
    fieldPath: str('e.g. metadata.name, metadata.labels, metadata.annotations[\'key\'].', { minLength: 1, maxLength: 512 }),
  }, { required: ['fieldPath'] }),
  resourceFieldRef: obj('A resource of the server container.', {
    containerName: str('The container: server.', { maxLength: 63 }),
    resource: str('e.g. limits.cpu, requests.memory.', { minLength: 1, maxLength: 64 }),
    divisor: quantity('Unit of the value, e.g. 1Mi.'),
  }, { required: ['resource'] }),
  mode: fileMode,
}, { required: ['path'] }), [exactlyOne(['fieldRef', 'resourceFieldRef'], 'a downward API file')]), { maxItems: 64 });

export const VOLUME_RULES: ValidationRule<Record<string, unknown> & { name: string }>[] = [
  { ...exactlyOne(ALLOWED_VOLUME_TYPES, 'a volume') as ValidationRule<Record<string, unknown> & { name: string }>,
    message: `a volume must set exactly one of ${ALLOWED_VOLUME_TYPES.join(', ')} (hostPath and other types that reach the node are not allowed)` },
  { rule: `!(self.name in ${JSON.stringify(Object.keys(OPERATOR_VOLUMES))})`, message: `the operator's own volumes (${Object.keys(OPERATOR_VOLUMES).join(', ')}) cannot be replaced`, fieldPath: '.name',
    holds: (v) => !Object.keys(OPERATOR_VOLUMES).includes(v.name) },
];
const volume = checked(obj(`An extra volume of the model-server pods (core/v1 Volume), of one of the types ${ALLOWED_VOLUME_TYPES.join(', ')}.`, {
  name: str('Volume name (a DNS label), named by volumeMounts.', { maxLength: 63, pattern: DNS_LABEL }),
  emptyDir: obj('Scratch space that lives as long as the pod.', {
    medium: str('"" (node disk) or Memory (tmpfs, counted in the memory limit).', { enum: ['', 'Memory'] }),
    sizeLimit: quantity('Most bytes, e.g. 1Gi.'),
  }),
  configMap: obj('A ConfigMap\'s keys as files.', {
    name: str('ConfigMap name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
    items: keyToPath, defaultMode: fileMode,
    optional: { type: 'boolean' as const, description: 'Whether the ConfigMap may be missing.' },
  }, { required: ['name'] }),
  secret: obj('A Secret\'s keys as files.', {
    secretName: str('Secret name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
    items: keyToPath, defaultMode: fileMode,
    optional: { type: 'boolean' as const, description: 'Whether the Secret may be missing.' },
  }, { required: ['secretName'] }),
  persistentVolumeClaim: obj('A PersistentVolumeClaim in the same namespace.', {
    claimName: str('Claim name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
    readOnly: { type: 'boolean' as const, description: 'Mount the claim read-only.' },
  }, { required: ['claimName'] }),
  projected: obj('Several sources in one directory.', {
    sources: arr('The sources.', checked(obj('One source: exactly one of its fields.', {
      configMap: configMapSource('A ConfigMap projected into the volume.'),
      secret: secretProjection,
      downwardAPI: obj('Pod fields projected into the volume.', { items: downwardApiItems }),
      serviceAccountToken: obj('A token of the pod\'s service account (spec.pod.serviceAccountName), e.g. for web identity.', {
        audience: str('Audience of the token, e.g. sts.amazonaws.com.', { maxLength: 253 }),
        expirationSeconds: int('Lifetime of the token (the kubelet renews it), at least 600.', { format: 'int64', minimum: 600 }),
        path: str('Relative file path.', { minLength: 1, maxLength: 4096, pattern: RELATIVE_PATH }),
      }, { required: ['path'] }),
    }), [exactlyOne(PROJECTION_KINDS, 'a projected source')]), { maxItems: 16 }),
    defaultMode: fileMode,
  }, { required: ['sources'] }),
  downwardAPI: obj('Pod fields as files.', { items: downwardApiItems, defaultMode: fileMode }),
  csi: obj('An inline volume of a CSI driver that supports ephemeral use, e.g. secrets-store.csi.k8s.io.', {
    driver: str('Driver name.', { minLength: 1, maxLength: 63, pattern: DNS_SUBDOMAIN }),
    readOnly: { type: 'boolean' as const, description: 'Mount the volume read-only.' },
    fsType: str('Filesystem type, e.g. ext4.', { maxLength: 32 }),
    volumeAttributes: { type: 'object' as const, description: 'Driver-specific attributes.', additionalProperties: { type: 'string' as const, maxLength: 4096 }, maxProperties: 64 },
    nodePublishSecretRef: obj('A Secret the driver reads.', { name: str('Secret name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }) }, { required: ['name'] }),
  }, { required: ['driver'] }),
  ephemeral: obj('A PersistentVolumeClaim made for the pod and deleted with it (core/v1 EphemeralVolumeSource), e.g. a large scratch disk.', {
    volumeClaimTemplate: obj('The claim.', {
      spec: obj('The claim\'s spec.', {
        accessModes: arr('ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod.', str('An access mode.', { enum: ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] }), { minItems: 1, maxItems: 4 }),
        storageClassName: str('StorageClass (default: the cluster\'s default).', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
        resources: obj('Size.', { requests: obj('The request.', { storage: quantity('e.g. 20Gi.') }, { required: ['storage'] }) }, { required: ['requests'] }),
      }, { required: ['accessModes', 'resources'] }),
    }, { required: ['spec'] }),
  }, { required: ['volumeClaimTemplate'] }),
}, { required: ['name'] }), VOLUME_RULES as ValidationRule<never>[]);

const clashesWithOperatorMount = (path: string) => Object.values(OPERATOR_VOLUMES).some((p) => path === p || path.startsWith(`${p}/`) || p.startsWith(`${path}/`));
export const VOLUME_MOUNT_RULES: ValidationRule<{ mountPath: string }>[] = [
  { rule: `!${JSON.stringify(Object.values(OPERATOR_VOLUMES))}.exists(p, self.mountPath == p || self.mountPath.startsWith(p + '/') || p.startsWith(self.mountPath + '/'))`,
    message: `a mount must not be at, in or above the operator's own mounts (${Object.values(OPERATOR_VOLUMES).join(', ')})`, fieldPath: '.mountPath',
    holds: (m) => !clashesWithOperatorMount(m.mountPath) },
];
const volumeMount = checked(obj('Where the server container mounts a volume of spec.pod.volumes (core/v1 VolumeMount).', {
  name: str('The volume\'s name.', { maxLength: 63, pattern: DNS_LABEL }),
  mountPath: str('Absolute path in the container; not at, in or above the operator\'s /tmp.', { maxLength: 4096, pattern: MOUNT_PATH }),
  readOnly: { type: 'boolean' as const, description: 'Mount read-only.' },
  subPath: str('Path inside the volume to mount instead of its root.', { maxLength: 4096, pattern: RELATIVE_PATH }),
}, { required: ['name', 'mountPath'] }), VOLUME_MOUNT_RULES as ValidationRule<never>[]);

interface PodFields { volumes?: Array<{ name: string }>; volumeMounts?: Array<{ name: string }> }
export const POD_RULES: ValidationRule<PodFields>[] = [
  { rule: '!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))',
    message: 'every mount must name a volume of spec.pod.volumes', fieldPath: '.volumeMounts',
    holds: (p) => (p.volumeMounts ?? []).every((m) => (p.volumes ?? []).some((v) => v.name === m.name)) },
];

const pod = checked(obj('What the cluster requires on every pod: identity, pull secrets, labels and annotations, priority, placement, extra volumes. The model-server pods get all of it; the router pods get imagePullSecrets, priorityClassName, labels and annotations.', {
  serviceAccountName: str('ServiceAccount of the model-server pods (default: the namespace\'s default). Its token is not mounted unless a projected volume asks for one.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
  imagePullSecrets: arr('Secrets for pulling the server image from a private registry (core/v1 LocalObjectReference).', obj('A Secret in the same namespace.', {
    name: str('Secret name.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
  }, { required: ['name'] }), { maxItems: 16, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  labels: keyedMap('Extra pod labels. Not the operator\'s own (app.kubernetes.io/name, instance, managed-by, component, serving.modelship.dev/*).', labelValueSchema, 64,
    [reservedKeyRule(OPERATOR_POD_LABELS, 'its selector and ownership labels') as ValidationRule<never>]),
  annotations: keyedMap('Extra pod annotations. Not the operator\'s own (prometheus.io/scrape, port, path, serving.modelship.dev/*).', str('An annotation value.', { maxLength: 16384 }), 64,
    [reservedKeyRule(OPERATOR_POD_ANNOTATIONS, 'where Prometheus scrapes the pod') as ValidationRule<never>]),
  priorityClassName: str('PriorityClass of the pods.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
  affinity,
  topologySpreadConstraints: arr('How the model-server pods spread across zones or nodes.', topologySpreadConstraint,
    { maxItems: 8, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['topologyKey', 'whenUnsatisfiable'] }),
  volumes: arr('Extra volumes of the model-server pods: none that reaches the node\'s files or devices (no hostPath).', volume, { maxItems: 32, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  volumeMounts: arr('Where the server container mounts them.', volumeMount, { maxItems: 32, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['mountPath'] }),
}), POD_RULES as ValidationRule<never>[]);

const specSchema = obj('Desired state. The operator never edits it: its decisions live in status.', {
  model,
  runtime,
  resources: checked(obj('CPU and memory of the server container, GPU pods included (the GPU itself comes from spec.gpu).', {
    requests: checked(quantityMap('Requested resources, e.g. cpu: "2", memory: 4Gi.'), [RESOURCE_NAME_RULE as ValidationRule<never>]),
    limits: checked(quantityMap('Resource limits.'), [RESOURCE_NAME_RULE as ValidationRule<never>]),
  }), RESOURCES_RULES as ValidationRule<never>[]),
  gpu,
  pod,
  scaling,
  rollout,
  monitoring,
}, { required: ['model'], 'x-kubernetes-validations': cel(SPEC_RULES) });

const statusSchema = obj('Observed state, written by the operator.', {
  observedGeneration: int('The .metadata.generation the status describes.', { format: 'int64' }),
  phase: str('Pending, Progressing, Ready, Degraded or Failed.'),
  conditions: arr('Ready, Progressing, Degraded, GPUCapacityMissing, Drifting.', condition, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  replicas: int('Pods of the stable version.'),
  readyReplicas: int('Ready pods of the stable version.'),
  selector: str('Label selector of the pods, for the scale subresource.'),
  url: str('In-cluster URL of the Open Inference Protocol endpoint.'),
  stableVersion: str('The model version that serves traffic (spec.model.version once promoted).'),
  gpuMode: str('The GPU mode in effect, for printing.'),
  routing: str('The routing provider in effect (router or gateway-api); a change removes the other one\'s objects.'),
  rollout: {
    type: 'object',
    description: 'The rollout as the operator runs it: phase (Shadowing, Progressing, Promoting, Succeeded, RolledBack, Aborted, ABTesting), the stable and candidate models, the current weight and step, and the last analysis.',
    'x-kubernetes-preserve-unknown-fields': true,
  },
});

/** The spec's TypeScript type, derived from the schema above. */
export type ModelDeploymentSpecFromSchema = FromSchema<typeof specSchema>;
/** The spec as the API server stores it (and the operator's validation leaves it): defaults filled in. */
export type DefaultedSpecFromSchema = FromSchema<typeof specSchema, true>;
/** The status as the schema admits it (its rollout is typed by the rollout code, which writes it). */
export type ModelDeploymentStatusFromSchema = FromSchema<typeof statusSchema>;

export const modelDeploymentSchema: Schema = {
  type: 'object',
  description: 'A model served by modelship: model-server pods with dynamic batching, autoscaled on queue depth, with evidence-gated rollouts between model versions.',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: specSchema,
    status: statusSchema,
  },
};
