// The Kubernetes API as the reconciler uses it, built from a kubeconfig: generic objects (server-side
// apply) and the ModelDeployment status subresource (also server-side apply, same field manager).
import { CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../../api/v1alpha1/schema.ts';
import { FIELD_MANAGER } from './apply.ts';

export interface KubeClients {
  objects: KubernetesObjectApi;
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

export function kubeClients(config: KubeConfig): KubeClients {
  const objects = KubernetesObjectApi.makeApiClient(config);
  const custom = config.makeApiClient(CustomObjectsApi);
  return {
    objects,
    async patchStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace }, status }, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    },
  };
}
