// Status computed from observation: phases, conditions with observedGeneration, and transition times that
// move only when a condition's status changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeStatus, statusChanged, transitionEvents } from '../../operator/src/controller/status.ts';
import type { Condition, ModelDeployment } from '../../operator/src/api/types.ts';

const mdep = (status?: Record<string, unknown>): ModelDeployment => ({
  apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
  metadata: { name: 'm', namespace: 'ml', generation: 3 },
  spec: { model: { uri: 'x', version: 'v2' }, gpu: { mode: 'mig', profile: '1g.10gb' } },
  ...(status ? { status } : {}),
});
const base = { invalid: [], desiredReplicas: 2, selector: 'a=b', url: 'http://m', now: '2026-11-24T10:00:00Z' };
const condition = (status: Record<string, unknown>, type: string) => (status.conditions as Array<Required<Condition>>).find((c) => c.type === type)!;

test('the first version starting: Progressing, not Ready', () => {
  const rollout = { phase: 'Initialized' as const, stable: { version: 'v2', uri: 'x' }, canaryWeight: 0, failedChecks: 0, message: '' };
  const s = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 1, updatedReplicas: 1 } });
  assert.equal(s.phase, 'Progressing');
  assert.equal(s.stableVersion, 'v2');
  assert.equal(s.observedGeneration, 3);
  assert.equal(s.gpuMode, 'mig');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Progressing').status, condition(s, 'Degraded').status], ['False', 'True', 'False']);
  assert.equal(condition(s, 'Ready').message, '1 of 2 pods of version v2 ready');
});

test('rolled out: Ready, Progressing False', () => {
  const rollout = { phase: 'Succeeded' as const, stable: { version: 'v2', uri: 'x' }, canaryWeight: 0, failedChecks: 0, message: '' };
  const s = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(s.phase, 'Ready');
  assert.equal(s.stableVersion, 'v2');
  assert.deepEqual([condition(s, 'Ready').reason, condition(s, 'Progressing').reason], ['Available', 'RolledOut']);
});

test('a canary: Ready (the stable version serves), Progressing with the rollout\'s message, stable version unchanged', () => {
  const rollout = { phase: 'Progressing' as const, stable: { version: 'v1', uri: 'x' }, candidate: { version: 'v2', uri: 'y' }, step: 1, canaryWeight: 20, failedChecks: 0, message: 'weight 20%: judging for 1m' };
  const s = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(s.phase, 'Progressing');
  assert.equal(s.stableVersion, 'v1');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Progressing').status, condition(s, 'Progressing').reason], ['True', 'True', 'Canary']);
  assert.equal(condition(s, 'Progressing').message, 'weight 20%: judging for 1m');
  assert.equal((s.rollout as { canaryWeight: number }).canaryWeight, 20);
});

test('a rollback: Degraded with the failed gate, the stable version still Ready', () => {
  const rollout = { phase: 'RolledBack' as const, stable: { version: 'v1', uri: 'x' }, candidate: { version: 'v2', uri: 'y' }, canaryWeight: 0, failedChecks: 2, message: 'rolled back: candidate error rate 0.3 > 0.01 (30 of 100)' };
  const s = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(s.phase, 'Degraded');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Degraded').status, condition(s, 'Degraded').reason], ['True', 'True', 'RolledBack']);
  assert.match(condition(s, 'Degraded').message, /^candidate v2 rolled back: candidate error rate 0.3 > 0.01/);
  assert.equal(condition(s, 'Progressing').status, 'False');
});

test("pods that cannot be created (a PriorityClass that is not there): Degraded and Ready False, with the Deployment's reason", () => {
  const rollout = { phase: 'Initialized' as const, stable: { version: 'v2', uri: 'x' }, canaryWeight: 0, failedChecks: 0, message: '' };
  const why = 'pods "m--v2-5d8f-abcde" is forbidden: no PriorityClass with name model-serving was found';
  const s = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 0, readyReplicas: 0, updatedReplicas: 0, podsNotCreated: why } });
  assert.equal(s.phase, 'Degraded');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Ready').reason], ['False', 'PodsNotCreated']);
  assert.equal(condition(s, 'Ready').message, `0 of 2 pods of version v2 ready; pods of version v2 cannot be created: ${why}`);
  assert.deepEqual([condition(s, 'Degraded').status, condition(s, 'Degraded').reason, condition(s, 'Degraded').message], ['True', 'PodsNotCreated', `pods of version v2 cannot be created: ${why}`]);
  const fixed = computeStatus({ ...base, mdep: mdep(s), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.deepEqual([fixed.phase, condition(fixed, 'Degraded').status], ['Ready', 'False']);
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

test('objects left alone for another owner: Ready False and Degraded True, reason Conflict, naming them; a Warning once', () => {
  const rollout = { phase: 'RolledBack' as const, stable: { version: 'v1', uri: 'x' }, candidate: { version: 'v2', uri: 'y' }, canaryWeight: 0, failedChecks: 2, message: 'rolled back: error rate 0.2 above 0.05' };
  const rolledBack = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  const conflicts = ['Deployment/m--v1 already exists, with no owner'];
  const s = computeStatus({ ...base, mdep: mdep(rolledBack), rollout, conflicts, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  assert.equal(s.phase, 'Degraded');
  assert.deepEqual([condition(s, 'Ready').status, condition(s, 'Ready').reason], ['False', 'Conflict']);
  assert.deepEqual([condition(s, 'Degraded').status, condition(s, 'Degraded').reason], ['True', 'Conflict']);
  assert.equal(condition(s, 'Degraded').message, 'not applied: Deployment/m--v1 already exists, with no owner');
  assert.deepEqual((s.rollout as { stable: unknown }).stable, rollout.stable, 'the rollout is still told');
  const events = transitionEvents(rolledBack.conditions as Condition[], s.conditions as Condition[]);
  assert.deepEqual(events, [{ type: 'Warning', reason: 'Conflict', message: 'not applied: Deployment/m--v1 already exists, with no owner' }], 'news even though Degraded was already True');
  assert.deepEqual(transitionEvents(s.conditions as Condition[], s.conditions as Condition[]), [], 'and only once');
});

test('a version refused for sharing objects: the last status stays, Degraded says why, Progressing stops', () => {
  const rollout = { phase: 'Succeeded' as const, stable: { version: 'v1', uri: 'x' }, canaryWeight: 0, failedChecks: 0, message: '' };
  const before = computeStatus({ ...base, mdep: mdep(), rollout, workload: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } });
  const s = computeStatus({ ...base, mdep: mdep(before), refused: 'versions v1 and v2 would share the objects named m--h0123456789: version v2 is not started' });
  assert.deepEqual(s.rollout, before.rollout);
  assert.equal(s.phase, 'Degraded');
  assert.deepEqual([condition(s, 'Ready').reason, condition(s, 'Progressing').status, condition(s, 'Degraded').reason], ['VersionConflict', 'False', 'VersionConflict']);
});
