// The Kubernetes API as the reconciler uses it, built from a kubeconfig: generic objects (server-side
// apply) and the ModelDeployment status subresource (also server-side apply, same field manager).
import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.ts';
import type { NodeInfo } from '../render/gpu-capacity.ts';
import type { EventRecord } from './status.ts';
import { GROUP, KIND, PLURAL, VERSION } from '../../api/v1alpha1/schema.ts';
import { FIELD_MANAGER } from './apply.ts';

export interface KubeClients {
  objects: KubernetesObjectApi;
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  listNodes(): Promise<NodeInfo[]>;
  recordEvent(mdep: ModelDeployment, event: EventRecord): Promise<void>;
}

export function nodeInfo(node: V1Node): NodeInfo {
  return { name: node.metadata?.name ?? '', labels: node.metadata?.labels ?? {}, allocatable: node.status?.allocatable ?? {} };
}

export function kubeClients(config: KubeConfig): KubeClients {
  const objects = KubernetesObjectApi.makeApiClient(config);
  const custom = config.makeApiClient(CustomObjectsApi);
  const core = config.makeApiClient(CoreV1Api);
  return {
    objects,
    async listNodes() {
      return (await core.listNode()).items.map(nodeInfo);
    },
    async recordEvent(mdep, event) {
      const namespace = mdep.metadata.namespace ?? 'default';
      const now = new Date();
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${mdep.metadata.name}.`, namespace },
          involvedObject: { apiVersion: mdep.apiVersion, kind: mdep.kind, name: mdep.metadata.name, namespace, uid: mdep.metadata.uid },
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
          reportingInstance: FIELD_MANAGER,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    },
    async patchStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace }, status }, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    },
  };
}
