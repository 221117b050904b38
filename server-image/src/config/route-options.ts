// Every setting of `modelship-server route` (the router in front of a ModelDeployment's versions), declared
// once: flag, MODELSHIP_* variable, YAML key, validation and help all come from this table (spec.ts).
import { optionsLoader } from './load.ts';
import type { OptionSpec, OptionValues } from './spec.ts';

const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]*';

export const ROUTE_OPTIONS = {
  routesFile: { kind: 'string', placeholder: 'PATH', description: 'Route table file (JSON or YAML); watched, a changed file takes effect at once' },
  routesConfigmap: {
    kind: 'string', placeholder: 'NAMESPACE/NAME', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', patternHint: 'NAMESPACE/NAME of a ConfigMap',
    description: "ConfigMap whose key 'routes.json' holds the route table; watched through the Kubernetes API",
  },
  upstream: {
    kind: 'list', placeholder: 'VERSION=URL', pattern: `^${NAME}=https?://[^\\s]+$`, patternHint: 'VERSION=URL with an http:// or https:// URL',
    description: "Overrides a version's URL from the route table (routers outside the cluster, tests)",
  },
  host: { kind: 'string', default: '0.0.0.0', description: 'Address to listen on' },
  port: { kind: 'integer', default: 8080, minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' },
  upstreamTimeoutMs: { kind: 'integer', default: 30000, minimum: 1, description: 'How long an upstream may stay silent (no connection, no response bytes) before the request fails with 504' },
  maxBodyBytes: { kind: 'integer', default: 64 * 1024 * 1024, minimum: 1024, description: 'Largest request body accepted; larger ones get 413' },
  shadowQueueSize: { kind: 'integer', default: 64, minimum: 0, description: 'Shadow copies waiting to be sent; beyond it copies are dropped (never back-pressure)' },
  shadowConcurrency: { kind: 'integer', default: 8, minimum: 1, maximum: 1024, description: 'Shadow copies in flight at once' },
  drainTimeoutMs: { kind: 'number', default: 30000, minimum: 0, description: 'On SIGTERM, how long to finish in-flight requests before exiting' },
  logLevel: { kind: 'enum', default: 'info', values: ['error', 'warn', 'info', 'debug'], description: 'Log level' },
} as const satisfies Record<string, OptionSpec>;

export type RouteOptions = OptionValues<typeof ROUTE_OPTIONS>;

const routeLoader = optionsLoader(ROUTE_OPTIONS, {
  usage: 'Usage: modelship-server route (--routes-file PATH | --routes-configmap NAMESPACE/NAME) [options]',
  check: (o) => {
    const problems: string[] = [];
    if ((o.routesFile === undefined) === (o.routesConfigmap === undefined)) {
      problems.push('exactly one of --routes-file (MODELSHIP_ROUTES_FILE) and --routes-configmap (MODELSHIP_ROUTES_CONFIGMAP) is required');
    }
    const seen = new Set<string>();
    for (const entry of o.upstream ?? []) {
      const version = entry.slice(0, entry.indexOf('='));
      if (seen.has(version)) problems.push(`--upstream: version '${version}' is given more than once`);
      seen.add(version);
    }
    return problems;
  },
});

export function loadRouteOptions(argv: string[], env: NodeJS.ProcessEnv): RouteOptions {
  return routeLoader.load(argv, env);
}

export function routeHelp(): string {
  return routeLoader.help();
}

/** `--upstream v8=http://127.0.0.1:9001` entries as a map from version name to URL. */
export function upstreamOverrides(options: RouteOptions): Map<string, string> {
  return new Map((options.upstream ?? []).map((entry) => {
    const at = entry.indexOf('=');
    return [entry.slice(0, at), entry.slice(at + 1)];
  }));
}
