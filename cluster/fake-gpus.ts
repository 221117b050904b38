// The real node has no GPU, but advertises GPUs the way NVIDIA's device plugin and GPU Feature Discovery do
// (whole GPUs, MIG slices under the mixed strategy, time-sliced shares renamed to nvidia.com/gpu.shared),
// so GPU-mode ModelDeployments schedule on it. Their pods run the CPU image here (the operator's
// gpuPodsOnCpu setting). Extended resources set on the node's status are kept by the kubelet, as the
// Kubernetes docs' "advertise extended resources for a node" describes. No taint: CPU pods share the node.
import { nodeName } from './layout.ts';

export const FAKE_GPU_LABELS: Record<string, string> = {
  'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3',
  'nvidia.com/gpu.count': '4',
  'nvidia.com/mig.strategy': 'mixed',
  'nvidia.com/gpu.sharing-strategy': 'time-slicing',
};

export const FAKE_GPU_RESOURCES: Record<string, string> = {
  'nvidia.com/gpu': '4',
  'nvidia.com/mig-1g.10gb': '7',
  'nvidia.com/gpu.shared': '8',
};

export function advertiseFakeGpus(kubectl: (args: string[]) => string): void {
  kubectl(['label', 'node', nodeName(), '--overwrite', ...Object.entries(FAKE_GPU_LABELS).map(([k, v]) => `${k}=${v}`)]);
  const patch = Object.entries(FAKE_GPU_RESOURCES).map(([resource, count]) =>
    ({ op: 'add', path: `/status/capacity/${resource.replace('/', '~1')}`, value: count }));
  kubectl(['patch', 'node', nodeName(), '--subresource=status', '--type=json', '-p', JSON.stringify(patch)]);
}
