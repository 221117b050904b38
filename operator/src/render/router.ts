// The router of a ModelDeployment (`modelship-server route`, the server image's other program): the
// stable in-cluster endpoint of the model, splitting traffic between its versions as the routes
// ConfigMap says. The operator writes only the ConfigMap when weights change; the routers watch it and
// swap their table within a second, without a restart or a dropped request. Pure renderers.
import { SERVER_PORT } from '../../../contract/ports.ts';
import { ROUTES_KEY, type RouteTable } from '../../../contract/route-table.ts';
import { ROUTE_OPTIONS } from '../../../contract/settings/route-options.ts';
import { flagName } from '../../../contract/settings/spec.ts';
import type { ModelDeployment } from '../api/types.ts';
import type { VersionShare } from '../rollout/traffic.ts';
import { instanceLabel, MANAGER, objectName, ownerReference, versionedName } from './names.ts';
import { clusterPodFields, podMetadata } from './pod-fields.ts';
import type { OperatorSettings } from './settings.ts';
import { CONTAINER_SECURITY, HTTP_SERVICE_PORTS, httpProbe, POD_SECURITY, SCRAPE_ANNOTATIONS, STARTUP_PROBE } from './workload.ts';

/** A flag of `modelship-server route`, by its key in the router's settings table. */
const routeFlag = (key: keyof typeof ROUTE_OPTIONS) => `--${flagName(key)}`;

/**
 * The router's objects are named after the ModelDeployment (its Service is the model's address), with the
 * one-part names of names.ts, which no version's two-part name can equal. The ConfigMap and the access
 * objects are kinds only the router has: a fixed suffix on the one-part name keeps them one per model.
 */
export const routerName = (mdep: ModelDeployment) => objectName([mdep.metadata.name]);
const suffixed = (mdep: ModelDeployment, suffix: string) => `${objectName([mdep.metadata.name], 63 - suffix.length - 1)}-${suffix}`;
export const routesConfigMapName = (mdep: ModelDeployment) => suffixed(mdep, 'routes');
export const routerServiceAccountName = (mdep: ModelDeployment) => suffixed(mdep, 'router');

export function routerSelector(mdep: ModelDeployment): Record<string, string> {
  return { 'app.kubernetes.io/name': 'modelship-router', 'app.kubernetes.io/instance': instanceLabel(mdep) };
}

function meta(mdep: ModelDeployment, name: string): Record<string, unknown> {
  return {
    name,
    namespace: mdep.metadata.namespace ?? 'default',
    labels: { ...routerSelector(mdep), 'app.kubernetes.io/managed-by': MANAGER, 'app.kubernetes.io/component': 'router' },
    ownerReferences: [ownerReference(mdep)],
  };
}

/** The routes table the router reads (contract/route-table.ts). */
export function routeTable(mdep: ModelDeployment, shares: VersionShare[]): RouteTable {
  const namespace = mdep.metadata.namespace ?? 'default';
  const shadow = shares.find((s) => s.shadowPercent > 0);
  const stickyHeader = mdep.spec.rollout?.routing?.stickyHeader;
  return {
    versions: shares.map((s) => ({ name: s.model.version, url: `http://${versionedName(mdep, s.model.version)}.${namespace}.svc`, weight: s.weight })),
    ...(shadow ? { shadow: { version: shadow.model.version, percent: shadow.shadowPercent } } : {}),
    ...(stickyHeader ? { stickyHeader } : {}),
  };
}

export function renderRoutesConfigMap(mdep: ModelDeployment, shares: VersionShare[]): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(mdep, routesConfigMapName(mdep)), data: { [ROUTES_KEY]: `${JSON.stringify(routeTable(mdep, shares), null, 2)}\n` } };
}

export function renderRouterDeployment(mdep: ModelDeployment, settings: OperatorSettings): Record<string, unknown> {
  const namespace = mdep.metadata.namespace ?? 'default';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(mdep, routerName(mdep)),
    spec: {
      replicas: mdep.spec.rollout?.routing?.replicas ?? 2,
      selector: { matchLabels: routerSelector(mdep) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        // The analysis scrapes every router pod; Prometheus may too (analysis.provider: prometheus).
        metadata: podMetadata(mdep.spec.pod, routerSelector(mdep), SCRAPE_ANNOTATIONS),
        spec: {
          // spec.pod's placement, identity and volumes are the model server's; the cluster's rules are every pod's.
          ...clusterPodFields(mdep.spec.pod),
          serviceAccountName: routerServiceAccountName(mdep),
          containers: [{
            name: 'router',
            image: settings.serverImage.cpu,
            args: ['route', routeFlag('routesConfigmap'), `${namespace}/${routesConfigMapName(mdep)}`, routeFlag('port'), String(SERVER_PORT)],
            ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
            resources: { requests: { cpu: '100m', memory: '128Mi' } },
            startupProbe: STARTUP_PROBE,
            readinessProbe: httpProbe('/v2/health/ready', 5, 3),
            livenessProbe: httpProbe('/v2/health/live', 5, 3),
            lifecycle: { preStop: { sleep: { seconds: 5 } } },
            securityContext: CONTAINER_SECURITY,
          }],
          securityContext: POD_SECURITY,
          enableServiceLinks: false,
        },
      },
    },
  };
}

/** The model's address: `http://<name>.<namespace>.svc/v2/models/<name>/infer`, whatever version serves. */
export function renderRouterService(mdep: ModelDeployment): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(mdep, routerName(mdep)),
    spec: { type: 'ClusterIP', selector: routerSelector(mdep), ports: HTTP_SERVICE_PORTS },
  };
}

/** The router may read its own routes ConfigMap, and nothing else. */
export function renderRouterAccess(mdep: ModelDeployment): Array<Record<string, unknown>> {
  const name = routerServiceAccountName(mdep);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(mdep, name), automountServiceAccountToken: true },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(mdep, name),
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [routesConfigMapName(mdep)], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(mdep, name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: mdep.metadata.namespace ?? 'default' }],
    },
  ];
}

/** Every object the renderers above make for a router, as [apiVersion, kind, name], in the order to remove them. */
export function routerObjectRefs(mdep: ModelDeployment): Array<[string, string, string]> {
  const access = routerServiceAccountName(mdep);
  return [
    ['apps/v1', 'Deployment', routerName(mdep)], ['v1', 'Service', routerName(mdep)], ['v1', 'ConfigMap', routesConfigMapName(mdep)],
    ['rbac.authorization.k8s.io/v1', 'RoleBinding', access], ['rbac.authorization.k8s.io/v1', 'Role', access], ['v1', 'ServiceAccount', access],
  ];
}

export function routerUrl(mdep: ModelDeployment): string {
  return `http://${routerName(mdep)}.${mdep.metadata.namespace ?? 'default'}.svc.cluster.local/v2/models/${mdep.metadata.name}`;
}
