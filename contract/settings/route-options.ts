// Every setting of `modelship-server route` (the router in front of a ModelDeployment's versions), declared
// once: flag, MODELSHIP_* variable, YAML key, validation and help all come from this table (spec.ts). Part
// of the contract: the operator renders the router's arguments from these keys.
import { ROUTES_KEY } from '../route-table.ts';
import { SERVER_PORT } from '../ports.ts';
import type { OptionSpec, OptionValues } from './spec.ts';

const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]*';

export const ROUTE_OPTIONS = {
  routesFile: { kind: 'string', placeholder: 'PATH', description: 'Route table file (JSON or YAML); watched, a changed file takes effect at once' },
  routesConfigmap: {
    kind: 'string', placeholder: 'NAMESPACE/NAME', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', patternHint: 'NAMESPACE/NAME of a ConfigMap',
    description: `ConfigMap whose key '${ROUTES_KEY}' holds the route table; watched through the Kubernetes API`,
  },
  upstream: {
    kind: 'list', placeholder: 'VERSION=URL', pattern: `^${NAME}=https?://[^\\s]+$`, patternHint: 'VERSION=URL with an http:// or https:// URL',
    description: "Overrides a version's URL from the route table (routers outside the cluster, tests)",
  },
  host: { kind: 'string', default: '0.0.0.0', description: 'Address to listen on' },
  port: { kind: 'integer', default: SERVER_PORT, minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' },
  upstreamTimeoutMs: { kind: 'integer', default: 30000, minimum: 1, description: 'How long an upstream may stay silent (no connection, no response bytes) before the request fails with 504' },
  maxBodyBytes: { kind: 'integer', default: 64 * 1024 * 1024, minimum: 1024, description: 'Largest request body accepted; larger ones get 413' },
  maxInflightBytes: {
    kind: 'integer', minimum: 65536, placeholder: 'BYTES',
    description: "Bytes of client requests and answers held at once; beyond it requests get 503 at once (default: half the container's memory limit, else 512 MiB)",
  },
  shadowQueueSize: { kind: 'integer', default: 64, minimum: 0, description: 'Shadow copies waiting to be sent; beyond it copies are dropped (never back-pressure)' },
  shadowQueueBytes: {
    kind: 'integer', minimum: 1024, placeholder: 'BYTES',
    description: 'Bytes the shadow copies may hold at once (requests waiting or in flight, primary answers kept to compare, shadow answers); beyond it copies are dropped (default: a quarter of --max-inflight-bytes)',
  },
  shadowConcurrency: { kind: 'integer', default: 8, minimum: 1, maximum: 1024, description: 'Shadow copies in flight at once' },
  drainTimeoutMs: { kind: 'number', default: 30000, minimum: 0, description: 'On SIGTERM, how long to finish in-flight requests before exiting' },
  logLevel: { kind: 'enum', default: 'info', values: ['error', 'warn', 'info', 'debug'], description: 'Log level' },
} as const satisfies Record<string, OptionSpec>;

export type RouteOptions = OptionValues<typeof ROUTE_OPTIONS>;
