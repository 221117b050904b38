// Whether any node could take a pod with this GPU placement: a node must carry every required label and
// advertise enough of each extended resource. Pure, over plain node data; the answer becomes the
// GPUCapacityMissing condition and an Event instead of pods left Pending without explanation.
import type { GpuPlacement } from './gpu.ts';

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  /** status.allocatable (capacity minus what the kubelet reserves). */
  allocatable: Record<string, string>;
}

/** Undefined when some node fits; otherwise why none does. */
export function gpuCapacityProblem(placement: GpuPlacement, nodes: NodeInfo[]): string | undefined {
  const resources = Object.entries(placement.resources);
  if (resources.length === 0) return undefined;
  const selector = Object.entries(placement.nodeSelector);
  const labelled = nodes.filter((n) => selector.every(([k, v]) => n.labels[k] === v));
  const fits = labelled.filter((n) => resources.every(([r, count]) => Number(n.allocatable[r] ?? 0) >= Number(count)));
  if (fits.length > 0) return undefined;
  const need = resources.map(([r, count]) => `${r}: ${count}`).join(', ');
  const labels = selector.map(([k, v]) => `${k}=${v}`).join(', ');
  if (labelled.length === 0 && selector.length > 0) {
    return `no node has the labels ${labels} (${nodes.length} nodes checked); pods needing ${need} cannot be scheduled`;
  }
  return `no node${labels ? ` labelled ${labels}` : ''} advertises ${need} (${labelled.length} of ${nodes.length} nodes checked)`;
}

/** Extended resources already requested by the pods bound to each node (node name → resource → amount). */
export type NodeUsage = Map<string, Record<string, number>>;

/**
 * Whether `pods` more pods with this placement fit in what the nodes have free now (allocatable minus
 * what bound pods request). Undefined when they fit; otherwise how many fit and what they need, so a
 * rollout step waits with a reason instead of leaving pods Pending.
 */
export function gpuHeadroomProblem(placement: GpuPlacement, pods: number, nodes: NodeInfo[], usage: NodeUsage): string | undefined {
  const resources = Object.entries(placement.resources).map(([r, count]) => [r, Number(count)] as const);
  if (resources.length === 0 || pods <= 0) return undefined;
  const selector = Object.entries(placement.nodeSelector);
  let room = 0;
  for (const node of nodes) {
    if (!selector.every(([k, v]) => node.labels[k] === v)) continue;
    const used = usage.get(node.name) ?? {};
    room += Math.min(...resources.map(([r, count]) => Math.floor(Math.max(0, Number(node.allocatable[r] ?? 0) - (used[r] ?? 0)) / count)));
  }
  if (room >= pods) return undefined;
  const need = resources.map(([r, count]) => `${count} ${r}`).join(' and ');
  return `${pods} more pod${pods === 1 ? '' : 's'} with ${need} each needed, the nodes have room for ${room}`;
}
