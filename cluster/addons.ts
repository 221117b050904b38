// The real local cluster's add-ons, as pods: CoreDNS (Services by name), Prometheus (finds pods by their
// prometheus.io annotations through Kubernetes discovery) and prometheus-adapter (serves custom.metrics.k8s.io
// from Prometheus, with the rule the modelship chart carries in its values, so the HPA the operator renders
// scales on queue depth). Rendered as objects (pure), applied with kubectl.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { ClusterImages } from './cluster-images.ts';
import { network } from './layout.ts';

export const MONITORING_NAMESPACE = 'modelship-monitoring';
export const PROMETHEUS_SERVICE = `http://prometheus.${MONITORING_NAMESPACE}.svc:9090`;

type Manifest = Record<string, unknown>;

/** The add-ons' pods run as nobody, on a read-only root, with no capabilities. */
const RESTRICTED = {
  pod: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
};

/**
 * CPU requests as upstream's manifests set them (CoreDNS: 100m, 70Mi). Without a request a pod is BestEffort
 * and its cgroup gets 2 CPU shares against a model-server pod's 51: on two cores busy starting pods, DNS
 * answers then took over 10 s (servers' downloads failed with EAI_AGAIN) and Prometheus scraped late, which
 * delayed the HPA's queue depth by tens of seconds. They are system-cluster-critical, as a cluster's DNS and
 * metrics pipeline are: on a node full of model servers the scheduler makes room for them.
 */
const CRITICAL = { priorityClassName: 'system-cluster-critical' };
const ADDON_RESOURCES = {
  coredns: { requests: { cpu: '100m', memory: '70Mi' }, limits: { memory: '170Mi' } },
  prometheus: { requests: { cpu: '50m', memory: '256Mi' } },
  adapter: { requests: { cpu: '20m', memory: '64Mi' } },
};

function deployment(name: string, namespace: string, serviceAccount: string, container: Manifest, volumes: Manifest[] = [], podExtra: Manifest = {}): Manifest {
  const labels = { 'app.kubernetes.io/name': name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, labels },
    spec: {
      replicas: 1, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { serviceAccountName: serviceAccount, securityContext: RESTRICTED.pod, containers: [{ ...container, securityContext: RESTRICTED.container }], volumes, ...podExtra },
      },
    },
  };
}

function serviceAccount(name: string, namespace: string): Manifest {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } };
}

function clusterRoleFor(name: string, rules: Manifest[], subject: { name: string; namespace: string }): Manifest[] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', ...subject }],
    },
  ];
}

export function corednsManifests(image: string): Manifest[] {
  const ns = 'kube-system';
  const corefile = `.:1053 {
    errors
    health :8080
    ready :8181
    kubernetes ${network.clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`;
  return [
    serviceAccount('coredns', ns),
    ...clusterRoleFor('modelship-local:coredns', [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ], { name: 'coredns', namespace: ns }),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: ns }, data: { Corefile: corefile } },
    // Port 1053 in the pod (an unprivileged user cannot bind 53); the Service answers on 53.
    deployment('coredns', ns, 'coredns', {
      name: 'coredns', image, args: ['-conf', '/etc/coredns/Corefile'], resources: ADDON_RESOURCES.coredns,
      ports: [{ name: 'dns', containerPort: 1053, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 1053, protocol: 'TCP' }],
      readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
      livenessProbe: { httpGet: { path: '/health', port: 8080 } },
      volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
    }, [{ name: 'config', configMap: { name: 'coredns' } }], { dnsPolicy: 'Default', ...CRITICAL }),
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: ns, labels: { 'k8s-app': 'kube-dns' } },
      spec: {
        clusterIP: network.dnsServiceIp, selector: { 'app.kubernetes.io/name': 'coredns' },
        ports: [{ name: 'dns', port: 53, targetPort: 1053, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 1053, protocol: 'TCP' }],
      },
    },
  ];
}

/** Scrapes every pod annotated prometheus.io/scrape=true, as the common Kubernetes job does. */
export function prometheusConfig(scrapeInterval: string): string {
  return JSON.stringify({
    global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval },
    scrape_configs: [{
      job_name: 'kubernetes-pods',
      kubernetes_sd_configs: [{ role: 'pod' }],
      relabel_configs: [
        { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], action: 'keep', regex: 'true' },
        { source_labels: ['__meta_kubernetes_pod_phase'], action: 'keep', regex: 'Running' },
        { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'], action: 'replace', target_label: '__metrics_path__', regex: '(.+)' },
        { source_labels: ['__meta_kubernetes_pod_ip', '__meta_kubernetes_pod_annotation_prometheus_io_port'], action: 'replace', regex: '(.+);(\\d+)', replacement: '$1:$2', target_label: '__address__' },
        { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
        { action: 'labelmap', regex: '__meta_kubernetes_pod_label_(.+)' },
      ],
    }],
  }, null, 2);
}

export function prometheusManifests(image: string, scrapeInterval = '2s'): Manifest[] {
  const ns = MONITORING_NAMESPACE;
  return [
    serviceAccount('prometheus', ns),
    ...clusterRoleFor('modelship-local:prometheus', [
      { apiGroups: [''], resources: ['pods', 'services', 'endpoints', 'nodes'], verbs: ['get', 'list', 'watch'] },
    ], { name: 'prometheus', namespace: ns }),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'prometheus', namespace: ns }, data: { 'prometheus.yml': prometheusConfig(scrapeInterval) } },
    deployment('prometheus', ns, 'prometheus', {
      name: 'prometheus', image, resources: ADDON_RESOURCES.prometheus,
      args: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=6h', '--web.listen-address=:9090'],
      ports: [{ name: 'http', containerPort: 9090 }],
      readinessProbe: { httpGet: { path: '/-/ready', port: 9090 }, periodSeconds: 2 },
      volumeMounts: [{ name: 'config', mountPath: '/etc/prometheus', readOnly: true }, { name: 'data', mountPath: '/prometheus' }],
    }, [{ name: 'config', configMap: { name: 'prometheus' } }, { name: 'data', emptyDir: {} }], CRITICAL),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'prometheus', namespace: ns }, spec: { selector: { 'app.kubernetes.io/name': 'prometheus' }, ports: [{ name: 'http', port: 9090 }] } },
  ];
}

/** The adapter rules as the chart ships them (charts/modelship/values.yaml, prometheusAdapter.rules). */
export function chartAdapterRules(): unknown[] {
  const values = parse(readFileSync(fileURLToPath(new URL('../charts/modelship/values.yaml', import.meta.url)), 'utf8'));
  return values.prometheusAdapter.rules;
}

export function prometheusAdapterManifests(image: string, rules: unknown[]): Manifest[] {
  const ns = MONITORING_NAMESPACE;
  const sa = { name: 'prometheus-adapter', namespace: ns };
  return [
    serviceAccount(sa.name, ns),
    ...clusterRoleFor('modelship-local:prometheus-adapter', [
      { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services'], verbs: ['get', 'list', 'watch'] },
    ], sa),
    // Delegated authentication and authorization, as every aggregated API server does it.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'modelship-local:prometheus-adapter:auth-delegator' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' }, subjects: [{ kind: 'ServiceAccount', ...sa }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'modelship-local:prometheus-adapter:auth-reader', namespace: 'kube-system' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' }, subjects: [{ kind: 'ServiceAccount', ...sa }],
    },
    // The HPA controller reads the metrics it serves.
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'modelship-local:custom-metrics-reader' }, rules: [{ apiGroups: ['custom.metrics.k8s.io'], resources: ['*'], verbs: ['get', 'list'] }] },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'modelship-local:custom-metrics-reader:hpa' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'modelship-local:custom-metrics-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'horizontal-pod-autoscaler', namespace: 'kube-system' }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'prometheus-adapter', namespace: ns }, data: { 'config.yaml': JSON.stringify({ rules }, null, 2) } },
    deployment('prometheus-adapter', ns, sa.name, {
      name: 'adapter', image, resources: ADDON_RESOURCES.adapter,
      args: [
        `--prometheus-url=${PROMETHEUS_SERVICE}`, '--metrics-relist-interval=5s', '--config=/etc/adapter/config.yaml',
        '--secure-port=6443', '--cert-dir=/tmp/certs', '--v=1',
      ],
      ports: [{ name: 'https', containerPort: 6443 }],
      readinessProbe: { httpGet: { path: '/readyz', port: 6443, scheme: 'HTTPS' }, periodSeconds: 2 },
      volumeMounts: [{ name: 'config', mountPath: '/etc/adapter', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
    }, [{ name: 'config', configMap: { name: 'prometheus-adapter' } }, { name: 'tmp', emptyDir: {} }], CRITICAL),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'prometheus-adapter', namespace: ns }, spec: { selector: { 'app.kubernetes.io/name': 'prometheus-adapter' }, ports: [{ name: 'https', port: 443, targetPort: 6443 }] } },
    {
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1beta1.custom.metrics.k8s.io' },
      spec: {
        service: { name: 'prometheus-adapter', namespace: ns }, group: 'custom.metrics.k8s.io', version: 'v1beta1',
        // The adapter's serving certificate is self-signed at start (--cert-dir); a local cluster accepts it.
        insecureSkipTLSVerify: true, groupPriorityMinimum: 100, versionPriority: 100,
      },
    },
  ];
}

export async function applyAddons(kubectl: (args: string[], input?: string) => string, images: ClusterImages, log: (line: string) => void): Promise<void> {
  log('applying CoreDNS, Prometheus and prometheus-adapter');
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: MONITORING_NAMESPACE } };
  const items = [namespace, ...corednsManifests(images.coredns), ...prometheusManifests(images.prometheus), ...prometheusAdapterManifests(images.prometheusAdapter, chartAdapterRules())];
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  for (const [ns, name] of [['kube-system', 'coredns'], [MONITORING_NAMESPACE, 'prometheus'], [MONITORING_NAMESPACE, 'prometheus-adapter']]) {
    kubectl(['rollout', 'status', '-n', ns, `deployment/${name}`, '--timeout=180s']);
  }
  kubectl(['wait', '--for=condition=Available', 'apiservice/v1beta1.custom.metrics.k8s.io', '--timeout=120s']);
}
