// When a replica may take a Lease that names another holder: client-go's rule. The holder's renewTime was
// written with the holder's clock, so comparing it with ours lets clock skew decide (a replica whose clock
// runs ahead sees every Lease as expired and takes it from a live leader: two leaders). Instead a replica
// remembers when, on its own monotonic clock, it last saw the Lease record change, and judges expiry by that.
import type { V1Lease } from '@kubernetes/client-node';

/** The Lease record as a replica last saw it, and when (its own monotonic milliseconds) it saw it change. */
export interface LeaseObservation {
  record: string;
  changedAtMs: number;
}

/** Any write (a renewal, a new holder, a release) changes the resourceVersion, even within one renewTime tick. */
const recordOf = (lease: V1Lease) => JSON.stringify([lease.metadata?.resourceVersion ?? '', lease.spec ?? {}]);

export function observeLease(previous: LeaseObservation | undefined, lease: V1Lease, nowMs: number): LeaseObservation {
  const record = recordOf(lease);
  return previous?.record === record ? previous : { record, changedAtMs: nowMs };
}

/**
 * Another replica holds the Lease while it names a holder other than `identity` and its record changed less
 * than leaseDurationSeconds ago by this replica's clock. A released Lease (no holder) is free at once.
 */
export function heldByAnother(lease: V1Lease, observation: LeaseObservation, identity: string, nowMs: number): boolean {
  const holder = lease.spec?.holderIdentity;
  if (!holder || holder === identity) return false;
  return nowMs < observation.changedAtMs + (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
}
