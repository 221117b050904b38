// Every setting of `modelship-server serve`, declared once. The flag, the environment variable, the YAML
// config key, the JSON Schema that ajv validates with and the help text all come from this table (spec.ts).

import { SERVER_PORT } from '../ports.ts';
import { envName, type OptionSpec, type OptionValues } from './spec.ts';

export { envName, flagName, type OptionSpec } from './spec.ts';

/**
 * The largest model the server downloads unless told otherwise: 2 GiB, protobuf's limit on one message and
 * so on a single-file ONNX model (larger models keep their weights in external files, which `--model` does
 * not fetch). The operator sizes the pod's /tmp volume from the same number.
 */
export const DEFAULT_DOWNLOAD_MAX_BYTES = 2 * 1024 ** 3;

export const SERVE_OPTIONS = {
  model: { kind: 'string', description: 'Model to serve: a path, a file:// URI, an http(s):// URL or an s3://bucket/key object' },
  sha256: { kind: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'Expected SHA-256 of the model file; a mismatch refuses to start' },
  name: { kind: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: "Model name in the API (default: the file name without '.onnx')" },
  version: { kind: 'string', default: '1', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Model version in the API' },
  host: { kind: 'string', default: '0.0.0.0', description: 'Address to listen on' },
  port: { kind: 'integer', default: SERVER_PORT, minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' },
  maxBatchSize: { kind: 'integer', default: 64, minimum: 0, description: 'Most rows in one batch; 0 disables batching' },
  maxQueueDelayMs: { kind: 'number', default: 0, minimum: 0, description: 'How long an idle instance may hold a partial batch while others compute (ms, fractional)' },
  maxQueueSize: { kind: 'integer', default: 1024, minimum: 0, description: 'Most requests waiting; beyond it requests get 503 at once (0: unbounded)' },
  timeoutMs: { kind: 'number', default: 0, minimum: 0, description: "Default queue timeout for requests without a 'timeout' parameter (ms; 0: none)" },
  priorityLevels: { kind: 'integer', default: 3, minimum: 1, maximum: 100, description: 'Priority levels; 1 is served first' },
  defaultPriorityLevel: { kind: 'integer', default: 2, minimum: 1, maximum: 100, description: "Level of requests without a 'priority' parameter" },
  instances: { kind: 'integer', default: 1, minimum: 1, maximum: 64, description: 'ONNX Runtime sessions, each in its own worker thread' },
  intraOpThreads: { kind: 'integer', default: 0, minimum: 0, maximum: 256, description: 'Threads per session (0: the cores but one, for request handling, divided among the instances)' },
  intraOpSpinning: { kind: 'boolean', default: false, description: "Let ORT's intra-op threads spin while waiting for work (lower latency on dedicated cores, but it steals CPU from request handling)" },
  executionProvider: { kind: 'enum', default: 'cpu', values: ['cpu', 'cuda'], description: 'ONNX Runtime execution provider' },
  deviceId: { kind: 'integer', default: 0, minimum: 0, description: 'GPU index for the CUDA execution provider' },
  maxBodyBytes: { kind: 'integer', default: 64 * 1024 * 1024, minimum: 1024, description: 'Largest request body accepted; larger ones get 413' },
  maxInflightBytes: { kind: 'integer', default: 0, minimum: 0, description: 'Most bytes of request and response data held at once (bodies, decoded tensors, answers not yet flushed to slow clients); past it requests get 503 at once (0: half the container memory limit, or 512 MiB when none is known)' },
  maxTensorElements: { kind: 'integer', default: 16 * 1024 * 1024, minimum: 1, description: 'Most elements in one input tensor; larger shapes get 400 before any element is read' },
  maxBytesElements: { kind: 'integer', default: 1024 * 1024, minimum: 1, description: 'Most strings in one BYTES input tensor; more get 400 before any is read' },
  maxTensorRank: { kind: 'integer', default: 32, minimum: 1, maximum: 1024, description: "Most dimensions of an input's shape, and so the deepest nesting of its JSON 'data'" },
  maxParameters: { kind: 'integer', default: 128, minimum: 0, description: "Most keys in any 'parameters' object of a request" },
  allowNonFinite: { kind: 'boolean', default: false, description: 'Accept NaN and infinities in floating-point inputs, for models that handle them (they arrive as binary tensor data: JSON has no literal for them); off, they get 400, since a model fed NaN answers garbage' },
  drainTimeoutMs: { kind: 'number', default: 30000, minimum: 0, description: 'On SIGTERM, how long to finish queued and in-flight requests before exiting' },
  modelCacheDir: { kind: 'string', description: 'Where downloaded models are kept (default: a folder in the system temp dir)' },
  downloadMaxBytes: { kind: 'integer', default: DEFAULT_DOWNLOAD_MAX_BYTES, minimum: 1, description: 'Largest model an http(s):// download may bring; beyond it the download fails and its partial file is removed' },
  downloadIdleTimeoutMs: { kind: 'integer', default: 30000, minimum: 1, description: 'How long a model download may make no progress (connecting, awaiting the answer, between body bytes) before it fails' },
  downloadRetries: { kind: 'integer', default: 6, minimum: 0, maximum: 20, description: 'Attempts after a model or baseline download fails for a reason that may pass (no DNS answer, connection refused or reset, a timeout, HTTP 408, 429 or 5xx), backing off 1 s, 2 s, 4 s ... up to 30 s; the pod stays unready meanwhile' },
  downloadProgressIntervalMs: { kind: 'integer', default: 10000, minimum: 1, description: 'How often a model download in progress logs how far it has got (ms)' },
  logLevel: { kind: 'enum', default: 'info', values: ['error', 'warn', 'info', 'debug'], description: 'Log level' },
  cache: { kind: 'enum', default: 'none', values: ['none', 'memory', 'redis'], description: 'Response cache: answers to repeated input rows, looked up row by row (none; memory: in this process; redis: shared by every pod of the version at --cache-redis-url)' },
  cacheTtlSeconds: { kind: 'number', default: 60, minimum: 0.001, maximum: 31 * 24 * 3600, description: 'How long a cached answer is served (seconds, fractional)' },
  cacheMaxBytes: { kind: 'integer', default: 256 * 1024 * 1024, minimum: 1024, description: 'Most bytes the memory cache holds (keys, answers and bookkeeping); past it the least recently used answers are evicted' },
  cacheMaxEntryBytes: { kind: 'integer', default: 1024 * 1024, minimum: 64, description: "Largest cached answer of one row; larger ones are computed every time" },
  cacheRedisUrl: { kind: 'string', pattern: '^rediss?://', patternHint: 'a redis:// or rediss:// URL', description: 'Redis for --cache redis, e.g. redis://redis.cache.svc:6379/0' },
  cacheRedisPassword: { kind: 'string', description: 'Password for the Redis of --cache-redis-url (better in the environment, from a Secret, than in the URL)' },
  cacheRedisTimeoutMs: { kind: 'number', default: 20, minimum: 1, maximum: 10000, description: 'How long a request waits for Redis before it is computed without the cache (ms)' },
  baseline: { kind: 'string', placeholder: 'URI', description: "Baseline profile (from 'modelship-server profile') to measure input and prediction drift against: a path, a file:// URI or an http(s):// URL" },
  baselineSha256: { kind: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'Expected SHA-256 of the baseline file; a mismatch refuses to start' },
  driftWindowSeconds: { kind: 'integer', default: 300, minimum: 10, maximum: 86400, description: 'Sliding window of the drift PSI gauges (the bin counters cover any window in PromQL)' },
  driftMinRows: { kind: 'integer', default: 500, minimum: 1, description: 'Rows a feature needs in the window before its PSI gauge is reported (PSI without any drift is about (bins - 1) / rows from sampling alone: 0.09 at 100 rows and 10 bins, near the 0.1 warning mark; 0.02 at 500)' },
  driftMaxFeatures: { kind: 'integer', default: 32, minimum: 0, maximum: 10000, description: 'Features (and outputs) exported one by one in the drift metrics; past it, only the worst and the mean PSI' },
  driftSampleRate: { kind: 'number', default: 1, minimum: 0, maximum: 1, description: 'Share of requests counted into the drift bins (bin shares, and so PSI, need only a sample at high request rates)' },
  driftMaxRowsPerSecond: { kind: 'integer', default: 1000, minimum: 0, description: 'Most rows counted into the drift bins per second (0: no limit): a fixed CPU budget for drift at any request rate; past it requests are left uncounted until it refills (a 5-minute window still holds up to 300,000 rows)' },
  predictionLog: {
    kind: 'string', placeholder: 'stdout|URL', pattern: '^(stdout|https?://\\S+)$', patternHint: "'stdout' or an http(s):// URL",
    description: "Log sampled predictions with their inputs: 'stdout' as JSON lines, or an http(s):// URL that takes CloudEvents as KServe's payload logger sends them",
  },
  predictionLogSampleRate: { kind: 'number', default: 1, minimum: 0, maximum: 1, description: 'Share of requests whose prediction is logged' },
  predictionLogMaxPerSecond: { kind: 'integer', default: 200, minimum: 0, description: 'Most predictions logged a second (0: no limit): a fixed CPU budget for logging at any request rate (two HTTP events a prediction to a collector cost about 0.2 ms of CPU); past it sampled predictions are dropped and counted (reason budget)' },
  predictionLogInputElements: { kind: 'integer', default: 1024, minimum: 0, description: 'Most elements of each input tensor written to a prediction record; longer inputs are cut and marked truncated (0 leaves inputs out)' },
  predictionLogQueueSize: { kind: 'integer', default: 1000, minimum: 1, description: 'Prediction records waiting for the sink; past it records are dropped and counted, never waited for' },
  predictionLogQueueBytes: { kind: 'integer', default: 16 * 1024 * 1024, minimum: 1024, description: 'Bytes of prediction records waiting for the sink; past it records are dropped and counted' },
  s3Endpoint: { kind: 'string', pattern: '^https?://', patternHint: 'an http:// or https:// URL', description: 'S3-compatible store of an s3:// model, e.g. http://minio.storage:9000 (default: AWS S3 in --s3-region). Credentials come from the AWS environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (STS web identity)' },
  s3Region: { kind: 'string', default: 'us-east-1', description: 'Region an s3:// model is signed for (and of its AWS S3 and STS endpoints)' },
  s3PathStyle: { kind: 'boolean', default: false, description: 'Address s3:// models as endpoint/bucket/key instead of bucket.endpoint/key (what most S3-compatible stores need)' },
  downloadHeaders: { kind: 'string', description: 'Headers sent with an http(s):// model download, one "Name: value" per line (a private store\'s token; better in the environment, from a Secret, than on the command line). Never logged; dropped on a redirect to another host' },
} as const satisfies Record<string, OptionSpec>;

export type ServeOptionKey = keyof typeof SERVE_OPTIONS;

export type ServeOptions = OptionValues<typeof SERVE_OPTIONS>;

export const REQUIRED_OPTIONS: ServeOptionKey[] = ['model'];

/**
 * Settings of `serve` as container environment variables (MODELSHIP_*), in the table's order, undefined
 * ones left out: how the operator configures the server, typed by the table so a renamed setting cannot
 * drift between the two halves.
 */
export function serveEnv(values: Partial<Record<ServeOptionKey, string | number | boolean | undefined>>): Array<{ name: string; value: string }> {
  return (Object.keys(SERVE_OPTIONS) as ServeOptionKey[])
    .filter((key) => values[key] !== undefined)
    .map((key) => ({ name: envName(key), value: String(values[key]) }));
}
