// Leader election on a real API server with replicas whose clocks disagree. The Lease's renewTime is written
// with the holder's clock, so a replica that compared it with its own clock would take the Lease from a live
// leader whose clock runs behind (two leaders), and wait an hour for one whose clock ran an hour ahead.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { campaign, type Election, type ElectionClock } from '../../operator/src/controller/leader-election.ts';
import { createLogger } from '../../contract/logger.ts';

const HOUR = 3_600_000;
const LEASE_MS = 2_000;
const NAMESPACE = 'modelship-system';
let cluster: LocalCluster;
let config: KubeConfig;
let leases: CoordinationV1Api;
const elections: Election[] = [];

before(async () => {
  cluster = await startLocalCluster();
  await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  leases = config.makeApiClient(CoordinationV1Api);
}, { timeout: 60 * 60_000 });
after(async () => {
  await Promise.all(elections.map((e) => e.release()));
  await cluster?.stop();
});

/** A replica campaigning for Lease `name` whose wall clock is `skewMs` off (its monotonic clock is sound). */
function replica(name: string, identity: string, skewMs: number): Election {
  const clock: ElectionClock = { monotonicMs: () => performance.now(), wall: () => new Date(Date.now() + skewMs) };
  const election = campaign(config, { namespace: NAMESPACE, name, identity, leaseDurationMs: LEASE_MS, retryPeriodMs: LEASE_MS / 5, clock },
    createLogger('error', { identity }));
  elections.push(election);
  return election;
}

/** Another program's leader, as the Lease shows it: `holder`, renewing with a clock `skewMs` off. */
async function writeLease(name: string, holder: string, skewMs: number, previous?: V1Lease): Promise<V1Lease> {
  const spec = { holderIdentity: holder, leaseDurationSeconds: LEASE_MS / 1000, renewTime: new V1MicroTime(Date.now() + skewMs) };
  return previous
    ? leases.replaceNamespacedLease({ name, namespace: NAMESPACE, body: { ...previous, spec: { ...previous.spec, ...spec } } })
    : leases.createNamespacedLease({ namespace: NAMESPACE, body: { metadata: { name, namespace: NAMESPACE }, spec } });
}

const watchElected = (elections: Record<string, Election>) => {
  const elected: string[] = [];
  for (const [identity, election] of Object.entries(elections)) void election.elected.then(() => elected.push(identity));
  return elected;
};

test('a leader whose clock runs an hour behind keeps its Lease while it renews, against replicas on time and an hour ahead', async () => {
  let lease = await writeLease('behind', 'leader-behind', -HOUR);
  const elected = watchElected({ 'on-time': replica('behind', 'on-time', 0), ahead: replica('behind', 'ahead', HOUR) });
  // Three lease durations of renewals: plenty of retries for a replica that misjudges expiry to take it.
  for (const until = performance.now() + 3 * LEASE_MS; performance.now() < until;) {
    await new Promise((r) => setTimeout(r, LEASE_MS / 5));
    lease = await writeLease('behind', 'leader-behind', -HOUR, lease);
  }
  assert.deepEqual(elected, [], `took the Lease from a live leader: ${elected.join(', ')}`);
  assert.equal((await leases.readNamespacedLease({ name: 'behind', namespace: NAMESPACE })).spec?.holderIdentity, 'leader-behind');
});

test('a leader whose clock ran an hour ahead and then died is replaced about a lease duration later, not an hour', async () => {
  await writeLease('ahead', 'died-ahead', HOUR);
  const successor = replica('ahead', 'successor', 0);
  const started = performance.now();
  await successor.elected;
  const waitedMs = performance.now() - started;
  assert.ok(waitedMs >= LEASE_MS, `took a Lease renewed ${Math.round(waitedMs)} ms before, within its term`);
  assert.ok(waitedMs < 30_000, `waited ${Math.round(waitedMs)} ms`);
});

test('a released Lease is taken at once by exactly one replica, whatever their clocks', async () => {
  const leader = replica('released', 'leader', -HOUR);
  await leader.elected;
  const elected = watchElected({ 'on-time': replica('released', 'on-time', 0), ahead: replica('released', 'ahead', HOUR) });
  await new Promise((r) => setTimeout(r, LEASE_MS));
  assert.deepEqual(elected, []);
  await leader.release();
  const holder = await new Promise<string>((resolve) => {
    const poll = setInterval(() => elected.length > 0 && (clearInterval(poll), resolve(elected[0])), 50);
  });
  await new Promise((r) => setTimeout(r, LEASE_MS));
  assert.deepEqual(elected, [holder], 'exactly one successor');
});
