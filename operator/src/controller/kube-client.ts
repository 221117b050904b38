// The Kubernetes API as the reconciler uses it, built from a kubeconfig: generic objects (server-side
// apply) and the ModelDeployment status subresource (also server-side apply, same field manager).
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import type { EventRecord, ModelDeployment, ModelDeploymentStatus } from '../api/types.ts';
import type { NodeInfo, NodeUsage } from '../render/gpu-capacity.ts';
import { routerName } from '../render/router.ts';
import { selectorLabels, versionedName } from '../render/names.ts';
import { SERVER_PORT } from '../../../contract/ports.ts';
import { EventRecorder } from './events.ts';
import { GROUP, KIND, PLURAL, VERSION } from '../../api/v1alpha1/schema.ts';
import { FIELD_MANAGER } from './apply.ts';

export interface KubeClients {
  objects: KubernetesObjectApi;
  patchStatus(namespace: string, name: string, status: ModelDeploymentStatus): Promise<void>;
  listNodes(): Promise<NodeInfo[]>;
  nodeUsage(): Promise<NodeUsage>;
  scheduledPods(mdep: ModelDeployment, version: string): Promise<number>;
  /** The /metrics URLs of a ModelDeployment's ready router pods (from its Service's EndpointSlices). */
  routerMetricsUrls(mdep: ModelDeployment): Promise<string[]>;
  /** The /metrics URLs of one version's ready model-server pods (from its Service's EndpointSlices). */
  serverMetricsUrls(mdep: ModelDeployment, version: string): Promise<string[]>;
  /** Repeats of an Event raise its count (see events.ts). */
  recordEvent(mdep: ModelDeployment, event: EventRecord): Promise<void>;
}

export function nodeInfo(node: V1Node): NodeInfo {
  return { name: node.metadata?.name ?? '', labels: node.metadata?.labels ?? {}, allocatable: node.status?.allocatable ?? {} };
}

export function kubeClients(config: KubeConfig): KubeClients {
  const objects = KubernetesObjectApi.makeApiClient(config);
  const custom = config.makeApiClient(CustomObjectsApi);
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const events = new EventRecorder(core, FIELD_MANAGER);
  /** The /metrics URL of every ready pod behind a Service. */
  const metricsUrls = async (mdep: ModelDeployment, service: string) => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: mdep.metadata.namespace ?? 'default', labelSelector: `kubernetes.io/service-name=${service}` });
    return slices.items.flatMap((slice) => slice.endpoints
      .filter((e) => e.conditions?.ready !== false)
      .flatMap((e) => e.addresses.map((ip) => `http://${slice.addressType === 'IPv6' ? `[${ip}]` : ip}:${SERVER_PORT}/metrics`)));
  };
  return {
    objects,
    async listNodes() {
      return (await core.listNode()).items.map(nodeInfo);
    },
    async nodeUsage() {
      // Only asked before a rollout step that needs GPUs: a list of the running pods is affordable then.
      const pods = await core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' });
      const usage: NodeUsage = new Map();
      for (const pod of pods.items) {
        const node = pod.spec?.nodeName;
        if (!node) continue;
        const used = usage.get(node) ?? {};
        for (const container of pod.spec?.containers ?? []) {
          for (const [resource, amount] of Object.entries(container.resources?.limits ?? {})) {
            if (resource.includes('/')) used[resource] = (used[resource] ?? 0) + Number(amount);
          }
        }
        usage.set(node, used);
      }
      return usage;
    },
    async scheduledPods(mdep, version) {
      const selector = Object.entries(selectorLabels(mdep, version)).map(([k, v]) => `${k}=${v}`).join(',');
      const pods = await core.listNamespacedPod({ namespace: mdep.metadata.namespace ?? 'default', labelSelector: selector, fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' });
      return pods.items.filter((p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp).length;
    },
    routerMetricsUrls: (mdep) => metricsUrls(mdep, routerName(mdep)),
    serverMetricsUrls: (mdep, version) => metricsUrls(mdep, versionedName(mdep, version)),
    async recordEvent(mdep, event) {
      await events.record(mdep, event);
    },
    async patchStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace }, status }, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    },
  };
}
