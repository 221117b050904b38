// Leader election on a real API server with replicas whose clocks disagree: a replica never takes the Lease
// from a leader that keeps renewing it, however far apart their wall clocks are, and still takes it over at
// once when the leader releases it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { campaign, type Election, type ElectionClock } from '../../operator/src/controller/leader-election.ts';
import { createLogger } from '../../server-image/src/observability/logger.ts';

const HOUR = 3_600_000;
const LEASE_MS = 2_000;
let cluster: LocalCluster;
let config: KubeConfig;
const elections: Election[] = [];

before(async () => {
  cluster = await startLocalCluster();
  await cluster.kubectl(['create', 'namespace', 'modelship-system']);
  config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
}, { timeout: 60 * 60_000 });
after(async () => {
  await Promise.all(elections.map((e) => e.release()));
  await cluster?.stop();
});

/** A replica whose wall clock is `skewMs` off; its monotonic clock runs at the same rate as everyone's. */
function replica(identity: string, skewMs: number): Election {
  const clock: ElectionClock = { monotonicMs: () => performance.now(), wall: () => new Date(Date.now() + skewMs) };
  const election = campaign(config, { namespace: 'modelship-system', name: 'skew', identity, leaseDurationMs: LEASE_MS, retryPeriodMs: LEASE_MS / 5, clock },
    createLogger('error', { identity }));
  elections.push(election);
  return election;
}

test('replicas whose clocks run an hour ahead or behind the leader never take its Lease while it renews, and take it at once when released', async () => {
  // The leader's clock runs an hour behind: every renewTime it writes looks an hour stale to the others.
  const leader = replica('behind', -HOUR);
  await leader.elected;
  const ahead = replica('ahead', HOUR);
  const onTime = replica('on-time', 0);
  let stolen = '';
  void ahead.elected.then(() => (stolen ||= 'ahead'));
  void onTime.elected.then(() => (stolen ||= 'on-time'));
  let lost = false;
  void leader.lost.then(() => (lost = true));
  // Three lease durations: plenty of retries for a replica that misjudged expiry to take the Lease.
  await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
  assert.equal(stolen, '', `${stolen} took the Lease from a live leader`);
  assert.equal(lost, false);
  assert.equal(leader.isLeader(), true);

  await leader.release();
  await Promise.race([ahead.elected, onTime.elected]);
  assert.equal([ahead, onTime].filter((e) => e.isLeader()).length, 1, 'exactly one successor');
});
