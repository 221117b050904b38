// What a rollout status means for traffic and capacity: the versions that run, each one's share of real
// traffic, the shadow copy, and the replica range each version's autoscaler gets. Pure.
import type { ModelRef, RolloutStatus } from './types.ts';

export interface VersionShare {
  model: ModelRef;
  /** Percent of real traffic. */
  weight: number;
  /** Percent of requests copied to it as shadow traffic. */
  shadowPercent: number;
  role: 'stable' | 'candidate' | 'retiring';
  /** Its pods would not fit on the GPUs free now: it gets none until they do. */
  held?: boolean;
}

/**
 * The versions that need pods, candidate first: the router lays out its sticky-hash ranges in this order,
 * so raising the candidate's weight only moves users toward it.
 */
export function versionShares(status: RolloutStatus): VersionShare[] {
  const stable = { model: status.stable, role: 'stable' as const, shadowPercent: 0 };
  if (status.phase === 'Promoting' && status.retiring) {
    return [{ ...stable, weight: 100 }, { model: status.retiring, role: 'retiring', weight: 0, shadowPercent: 0 }];
  }
  const active = status.candidate && ['Progressing', 'Shadowing', 'ABTesting'].includes(status.phase);
  if (!active) return [{ ...stable, weight: 100 }];
  const weight = status.canaryWeight;
  return [
    {
      model: status.candidate!, role: 'candidate', weight, shadowPercent: status.phase === 'Shadowing' ? status.shadowPercent ?? 0 : 0,
      ...(status.phase === 'Progressing' && (status.step ?? -1) < 0 && status.holding ? { held: true } : {}),
    },
    { ...stable, weight: 100 - weight },
  ];
}

export interface ReplicaRange {
  min: number;
  max: number;
}

/**
 * A version's autoscaler range for its share of the load: the ModelDeployment's range scaled by the share
 * (real traffic plus shadow copies), never below one pod, so a version at weight 0 is warm for the next
 * step and the stable version keeps a pod to roll back to. The stable version keeps its full range while
 * it takes all traffic.
 */
export function replicaRange(scaling: { minReplicas?: number; maxReplicas?: number }, share: VersionShare): ReplicaRange {
  if (share.held) return { min: 0, max: 0 };
  const min = scaling.minReplicas ?? 1;
  const max = Math.max(min, scaling.maxReplicas ?? 1);
  const fraction = Math.min(1, (share.weight + share.shadowPercent) / 100);
  if (fraction >= 1) return { min, max };
  const scaledMin = Math.max(1, Math.ceil(min * fraction));
  return { min: scaledMin, max: Math.max(scaledMin, Math.ceil(max * fraction)) };
}
