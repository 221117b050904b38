// Leader election's expiry rule (client-go's): a Lease held by another replica is judged by when this replica
// last saw its record change, on its own clock, never by the holder's renewTime against this replica's clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { heldByAnother, observeLease } from '../../operator/src/controller/lease-expiry.ts';

const HOUR = 3_600_000;
const lease = (resourceVersion: string, holderIdentity: string, renewTime: Date): V1Lease => ({
  metadata: { name: 'modelship-operator', namespace: 'modelship-system', resourceVersion },
  spec: { holderIdentity, leaseDurationSeconds: 15, renewTime: new V1MicroTime(renewTime.getTime()) },
});

test("a holder's renewTime an hour in the past (its clock runs behind) does not make a Lease this replica just saw change expired", () => {
  const seen = lease('100', 'a', new Date(Date.now() - HOUR));
  const observation = observeLease(undefined, seen, 5_000);
  assert.equal(heldByAnother(seen, observation, 'b', 5_000), true);
  assert.equal(heldByAnother(seen, observation, 'b', 5_000 + 14_999), true, 'within leaseDuration of the change this replica saw');
});

test("a holder's renewTime an hour in the future (its clock runs ahead) does not keep a Lease that stopped changing", () => {
  const seen = lease('100', 'a', new Date(Date.now() + HOUR));
  const observation = observeLease(undefined, seen, 5_000);
  const later = observeLease(observation, seen, 25_000);
  assert.equal(later, observation, 'an unchanged record keeps the time it was first seen');
  assert.equal(heldByAnother(seen, later, 'b', 20_000), false, 'leaseDuration after the last change this replica saw, the Lease is free');
});

test('every renewal restarts the holder\'s term on the observer\'s clock, even with the same renewTime', () => {
  const renewTime = new Date(0);
  let observation = observeLease(undefined, lease('100', 'a', renewTime), 0);
  for (let t = 10_000, rv = 101; t <= 100_000; t += 10_000, rv++) {
    const renewed = lease(String(rv), 'a', renewTime);
    observation = observeLease(observation, renewed, t);
    assert.equal(heldByAnother(renewed, observation, 'b', t + 14_000), true, `renewal at ${t}`);
  }
});

test('a released Lease (no holder) is free at once, and a Lease this replica holds is never held by another', () => {
  const released = lease('100', '', new Date());
  assert.equal(heldByAnother(released, observeLease(undefined, released, 0), 'b', 0), false);
  const ours = lease('100', 'b', new Date());
  assert.equal(heldByAnother(ours, observeLease(undefined, ours, 0), 'b', 0), false);
});
