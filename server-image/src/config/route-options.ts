// Loading the settings of `modelship-server route` from flags, MODELSHIP_* variables and a YAML file; the
// table itself is part of the contract with the operator (contract/settings/route-options.ts).
import { ROUTE_OPTIONS, type RouteOptions } from '../../../contract/settings/route-options.ts';
import { optionsLoader } from './load.ts';

export type { RouteOptions };

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
