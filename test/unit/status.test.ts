// Status computed from observation: phases, conditions with observedGeneration, and transition times that
// move only when a condition's status changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeStatus, statusChanged, type Condition } from '../../operator/src/controller/status.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';

const mdep = (status?: Record<string, unknown>): ModelDeployment => ({
  apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
  metadata: { name: 'm', namespace: 'ml', generation: 3 },
  spec: { model: { uri: 'x', version: 'v2' }, gpu: { mode: 'mig', profile: '1g.10gb' } },
  ...(status ? { status } : {}),
});
const base = { invalid: [], desiredReplicas: 2, selector: 'a=b', url: 'http://m', now: '2026-11-24T10:00:00Z' };
const condition = (status: Record<string, unknown>, type: string) => (status.conditions as Condition[]).find((c) => c.type === type)!;

test('rolling out: Progressing, not Ready, stable version unchanged', () => {
  const s = computeStatus({ ...base, mdep: mdep({ stableVersion: 'v1' }), workload: { replicas: 2, readyReplicas: 1, updatedReplicas: 1 } });
  assert.equal(s.phase, 'Progressing');
  assert.equal(s.stableVersion, 'v1');
  assert.equal(s.observedGeneration, 3);
  assert.equal(s.gpuMode, 'mig');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Progressing').status, condition(s, 'Degraded').status], ['False', 'True', 'False']);
  assert.equal(condition(s, 'Ready').message, '1 of 2 pods ready');
});

test('rolled out: Ready, and the spec version becomes stable', () => {
  const s = computeStatus({ ...base, mdep: mdep(), workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(s.phase, 'Ready');
  assert.equal(s.stableVersion, 'v2');
  assert.deepEqual([condition(s, 'Ready').reason, condition(s, 'Progressing').reason], ['Available', 'RolledOut']);
});

test('an invalid spec fails with the problems in Degraded', () => {
  const s = computeStatus({ ...base, mdep: mdep(), invalid: ['spec.gpu.count: nope'] });
  assert.equal(s.phase, 'Failed');
  assert.deepEqual([condition(s, 'Degraded').status, condition(s, 'Degraded').message], ['True', 'spec.gpu.count: nope']);
});

test('transition times move only when a condition changes status', () => {
  const first = computeStatus({ ...base, mdep: mdep(), workload: { replicas: 2, readyReplicas: 0, updatedReplicas: 2 } });
  const later = { ...base, now: '2026-11-24T11:00:00Z' };
  const same = computeStatus({ ...later, mdep: mdep(first), workload: { replicas: 2, readyReplicas: 0, updatedReplicas: 2 } });
  assert.equal(condition(same, 'Ready').lastTransitionTime, '2026-11-24T10:00:00Z');
  assert.equal(statusChanged(first, same), false, 'nothing to write');
  const flipped = computeStatus({ ...later, mdep: mdep(first), workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(condition(flipped, 'Ready').lastTransitionTime, '2026-11-24T11:00:00Z');
  assert.equal(statusChanged(first, flipped), true);
});
