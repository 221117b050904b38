// Maps `spec.gpu` to what a pod needs on an NVIDIA cluster: the extended resource (which depends on how the
// device plugin is configured: MIG strategy, renamed time-slicing), node labels published by GPU Feature
// Discovery, the toleration for the taint GPU nodes carry, and the server's execution provider.
import type { ModelDeploymentSpec } from '../api/types.ts';
import type { OperatorSettings } from './settings.ts';

export interface GpuPlacement {
  /** Extended resources for the container's limits (requests equal limits for extended resources). */
  resources: Record<string, string>;
  nodeSelector: Record<string, string>;
  tolerations: Array<Record<string, unknown>>;
  executionProvider: 'cpu' | 'cuda';
}

export const GPU_TOLERATION = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };
const PRODUCT_LABEL = 'nvidia.com/gpu.product';

export function gpuPlacement(gpu: ModelDeploymentSpec['gpu'], settings: OperatorSettings): GpuPlacement {
  const mode = gpu?.mode ?? 'none';
  const userSelector = gpu?.nodeSelector ?? {};
  const userTolerations = gpu?.tolerations ?? [];
  if (mode === 'none') return { resources: {}, nodeSelector: userSelector, tolerations: userTolerations, executionProvider: 'cpu' };

  const count = String(gpu?.count ?? 1);
  const product = gpu?.product;
  let resources: Record<string, string>;
  const labels: Record<string, string> = {};
  switch (mode) {
    case 'full':
      resources = { 'nvidia.com/gpu': count };
      if (product) labels[PRODUCT_LABEL] = product;
      break;
    case 'mig':
      labels['nvidia.com/mig.strategy'] = settings.migStrategy;
      if (settings.migStrategy === 'mixed') {
        resources = { [`nvidia.com/mig-${gpu!.profile}`]: count };
        if (product) labels[PRODUCT_LABEL] = product;
      } else {
        // Under the single strategy every GPU of the node is cut the same way and GFD names the product
        // after the slice, e.g. NVIDIA-A100-SXM4-40GB-MIG-1g.5gb.
        resources = { 'nvidia.com/gpu': count };
        if (product) labels[PRODUCT_LABEL] = `${product}-MIG-${gpu!.profile}`;
      }
      break;
    case 'timeSliced':
      labels['nvidia.com/gpu.sharing-strategy'] = 'time-slicing';
      if (settings.timeSlicing === 'renamed') {
        resources = { 'nvidia.com/gpu.shared': count };
        if (product) labels[PRODUCT_LABEL] = product;
      } else {
        resources = { 'nvidia.com/gpu': count };
        if (product) labels[PRODUCT_LABEL] = `${product}-SHARED`;
      }
      break;
  }
  return {
    resources,
    nodeSelector: { ...labels, ...userSelector },
    tolerations: [GPU_TOLERATION, ...userTolerations],
    // The placement stays a GPU's; only what runs in the pod changes (the image follows the provider).
    executionProvider: settings.gpuPodsRunOnCpu ? 'cpu' : 'cuda',
  };
}
