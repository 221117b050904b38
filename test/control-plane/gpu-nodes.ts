// Fake nodes (managed by kwok) that advertise GPUs the way NVIDIA's device plugin and GPU Feature
// Discovery do, tainted as real GPU nodes are: one CPU node, whole H100s, MIG slices under the mixed
// strategy, and time-sliced shares (renamed to nvidia.com/gpu.shared).
import type { LocalCluster } from './local-cluster.ts';

const GPU_TAINT = [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }];

/** A fake node: its labels, taints and the extended resources it advertises. */
export interface FakeNode {
  name: string;
  labels: Record<string, string>;
  taints: Array<{ key: string; value: string; effect: string }>;
  resources: Record<string, string>;
}

export const GPU_NODES: FakeNode[] = [
  { name: 'cpu-node', labels: {}, taints: [], resources: {} },
  { name: 'h100-node', labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3', 'nvidia.com/gpu.count': '8' }, taints: GPU_TAINT, resources: { 'nvidia.com/gpu': '8' } },
  { name: 'mig-node', labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/mig.strategy': 'mixed' }, taints: GPU_TAINT, resources: { 'nvidia.com/mig-1g.10gb': '7' } },
  { name: 'shared-node', labels: { 'nvidia.com/gpu.product': 'Tesla-T4', 'nvidia.com/gpu.sharing-strategy': 'time-slicing' }, taints: GPU_TAINT, resources: { 'nvidia.com/gpu.shared': '4' } },
];

export async function addGpuNodes(cluster: LocalCluster, nodes: readonly FakeNode[] = GPU_NODES): Promise<void> {
  for (const node of nodes) {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: node.name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': node.name, ...node.labels } },
      spec: { taints: node.taints },
    }));
    // Capacity is status: set through the status subresource, as the kubelet (here kwok) would.
    const allocatable = { cpu: '32', memory: '256Gi', pods: '110', ...node.resources };
    await cluster.kubectl(['patch', 'node', node.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { capacity: allocatable, allocatable } })]);
  }
}
