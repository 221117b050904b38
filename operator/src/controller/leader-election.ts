// Leader election on a coordination.k8s.io Lease, as client-go does it: several operator replicas run,
// one holds the Lease and reconciles; the others wait and take over when it is released (on graceful
// shutdown) or expires (the leader died). A leader that cannot renew in time steps down. Expiry is judged
// on this replica's own monotonic clock (lease-expiry.ts), never by the holder's renewTime.
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { apiStatus, isNotFound } from './api-errors.ts';
import { heldByAnother, observeLease, type LeaseObservation } from './lease-expiry.ts';

export interface ElectionClock {
  /** Monotonic milliseconds: every expiry decision. */
  monotonicMs(): number;
  /** Wall time: only written into the Lease (acquireTime, renewTime) for people and tools to read. */
  wall(): Date;
}

const SYSTEM_CLOCK: ElectionClock = { monotonicMs: () => performance.now(), wall: () => new Date() };

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** How often to try to acquire, and to renew. */
  retryPeriodMs: number;
  clock?: ElectionClock;
}

export interface Election {
  /** Resolves when this replica becomes the leader. */
  elected: Promise<void>;
  /** Resolves if leadership is lost after it was won (the process should stop acting). */
  lost: Promise<void>;
  isLeader(): boolean;
  /** Stops campaigning and, when leading, releases the Lease so another replica takes over at once. */
  release(): Promise<void>;
}

export function campaign(config: KubeConfig, options: LeaderElectionOptions, logger: Logger): Election {
  const api = config.makeApiClient(CoordinationV1Api);
  const { namespace, name, identity, leaseDurationMs, retryPeriodMs, clock = SYSTEM_CLOCK } = options;
  const now = () => new V1MicroTime(clock.wall().getTime());
  let observed: LeaseObservation | undefined;
  let leader = false;
  let stopped = false;
  let lastRenew = 0;
  let timer: NodeJS.Timeout | undefined;
  let onElected!: () => void;
  let onLost!: () => void;
  const elected = new Promise<void>((resolve) => (onElected = resolve));
  const lost = new Promise<void>((resolve) => (onLost = resolve));

  const spec = (previous?: V1Lease['spec']) => ({
    holderIdentity: identity,
    leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
    acquireTime: previous?.holderIdentity === identity && previous.acquireTime ? previous.acquireTime : now(),
    renewTime: now(),
    leaseTransitions: (previous?.leaseTransitions ?? 0) + (previous?.holderIdentity === identity ? 0 : 1),
  });

  /** One attempt to acquire or renew; true when we hold the Lease afterwards. */
  async function tryAcquire(): Promise<boolean> {
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } });
      return true;
    }
    observed = observeLease(observed, lease, clock.monotonicMs());
    if (heldByAnother(lease, observed, identity, clock.monotonicMs())) return false;
    // resourceVersion makes this a compare-and-swap: of two replicas racing for it, one wins.
    observed = observeLease(observed, await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: spec(lease.spec) } }), clock.monotonicMs());
    return true;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    // Before the request: the renewal took effect no earlier, and the others count the term from when they see it.
    const attemptAt = clock.monotonicMs();
    try {
      if (await tryAcquire()) {
        lastRenew = attemptAt;
        if (!leader) {
          leader = true;
          logger.info('became leader', { lease: `${namespace}/${name}`, identity });
          onElected();
        }
      } else if (leader) {
        leader = false;
        logger.error('lost leadership to another replica', { identity });
        onLost();
        return;
      }
    } catch (error) {
      if (apiStatus(error) !== 409) logger.warn('lease update failed', { error: (error as Error).message });
      if (leader && clock.monotonicMs() - lastRenew > leaseDurationMs * 0.8) {
        leader = false;
        logger.error('could not renew the lease in time; stepping down', { identity });
        onLost();
        return;
      }
    }
    if (!stopped) timer = setTimeout(() => void tick(), retryPeriodMs);
  }
  void tick();

  return {
    elected,
    lost,
    isLeader: () => leader,
    async release() {
      stopped = true;
      clearTimeout(timer);
      if (!leader) return;
      leader = false;
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now() } } });
        logger.info('released leadership', { identity });
      } catch (error) {
        logger.warn('could not release the lease', { error: (error as Error).message });
      }
    },
  };
}
