// The reconciler's decision, on plain data: what one observation of a ModelDeployment (and what exists
// for it) should produce — objects, status, Events, re-queue — and that deciding again from what was
// written changes nothing and tells nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type V1Deployment } from '@kubernetes/client-node';
import { decide, decideApplyFailure, PAUSE_ANNOTATION } from '../../operator/src/controller/decide.ts';
import type { InvalidObservation, ValidObservation } from '../../operator/src/controller/observe.ts';
import { statusChanged } from '../../operator/src/controller/status.ts';
import { describeApiError } from '../../operator/src/controller/api-errors.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import type { ModelDeployment, ModelDeploymentStatus, ValidModelDeployment } from '../../operator/src/api/types.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';

const T0 = Date.parse('2026-11-24T12:00:00Z');
const V1 = { uri: 'https://models.example.com/v1.onnx', version: 'v1' };
const V2 = { uri: 'https://models.example.com/v2.onnx', version: 'v2' };

function stored(spec: Record<string, unknown>, status?: ModelDeploymentStatus, annotations?: Record<string, string>): ModelDeployment {
  return {
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
    metadata: { name: 'm', namespace: 'ml', uid: 'u-1', generation: 1, ...(annotations ? { annotations } : {}) },
    spec: spec as ModelDeployment['spec'],
    ...(status ? { status } : {}),
  };
}

function observed(mdep: ModelDeployment, over: Partial<ValidObservation> = {}): ValidObservation {
  const { object, errors } = validateModelDeployment(mdep);
  assert.deepEqual(errors, []);
  return { valid: true, mdep, defaulted: object as ValidModelDeployment, now: T0, deployments: [], nodes: [], ...over };
}

/** A version's Deployment as the API server reports it. */
const deployment = (version: string, ready: number): V1Deployment => ({
  metadata: { name: `m--${version}`, labels: { 'serving.modelship.dev/version': version } },
  status: { replicas: ready, readyReplicas: ready, updatedReplicas: ready },
});

/** The rendered Deployment of one model version. */
const versionDeployment = (objects: Array<Record<string, unknown>>, version: string) =>
  objects.find((o) => o.kind === 'Deployment' && (o.metadata as { labels?: Record<string, string> }).labels?.['serving.modelship.dev/version'] === version);

const condition = (status: ModelDeploymentStatus, type: string) => status.conditions?.find((c) => c.type === type);

test('a new ModelDeployment: every object of its version and the router, status Progressing, nothing to tell yet', () => {
  const decision = decide(observed(stored({ model: V1 })), DEFAULT_SETTINGS);
  assert.deepEqual(decision.objects.map((o) => o.kind).sort(), [
    'ConfigMap', 'Deployment', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount',
  ]);
  assert.ok(versionDeployment(decision.objects, 'v1'));
  assert.equal(decision.rollout?.phase, 'Initialized');
  assert.deepEqual(decision.keepVersions, ['v1']);
  assert.equal(decision.status.phase, 'Progressing');
  assert.equal(decision.status.routing, 'router');
  assert.deepEqual(decision.events, []);
  assert.equal(decision.requeueAfterMs, undefined, 'nothing due: the periodic resync is enough');
});

test('deciding again from the status it wrote changes no status and tells nothing', () => {
  const first = decide(observed(stored({ model: V1 }), { deployments: [deployment('v1', 1)] }), DEFAULT_SETTINGS);
  assert.deepEqual(first.events.map((e) => e.reason), ['Ready']);
  const again = decide(observed(stored({ model: V1 }, first.status), { deployments: [deployment('v1', 1)], now: T0 + 60_000 }), DEFAULT_SETTINGS);
  assert.equal(statusChanged(first.status, again.status), false);
  assert.deepEqual(again.events, []);
});

test('ready version pods behind a router with no ready pod are not Ready (RouterNotReady); Ready once the router is', () => {
  const waiting = decide(observed(stored({ model: V1 }), { deployments: [deployment('v1', 1)], routerReadyReplicas: 0 }), DEFAULT_SETTINGS);
  assert.equal(waiting.status.phase, 'Progressing');
  assert.equal(condition(waiting.status, 'Ready')?.status, 'False');
  assert.equal(condition(waiting.status, 'Ready')?.reason, 'RouterNotReady');
  assert.deepEqual(waiting.events, [], 'nothing to tell while the router starts');
  const ready = decide(observed(stored({ model: V1 }, waiting.status), { deployments: [deployment('v1', 1)], routerReadyReplicas: 1, now: T0 + 5000 }), DEFAULT_SETTINGS);
  assert.equal(ready.status.phase, 'Ready');
  assert.equal(condition(ready.status, 'Ready')?.status, 'True');
  assert.deepEqual(ready.events.map((e) => e.reason), ['Ready']);
});

test('a refused spec: no objects, status Failed with the reasons, one InvalidSpec Warning, and nothing more the second time', () => {
  const mdep = stored({ model: V1, gpu: { mode: 'none', count: 2 } });
  const invalid: InvalidObservation = { valid: false, mdep, errors: ['spec.gpu.count: gpu.count must not be set when gpu.mode is none'], now: T0 };
  const first = decide(invalid, DEFAULT_SETTINGS);
  assert.deepEqual(first.objects, []);
  assert.equal(first.keepVersions, undefined, 'nothing is removed either');
  assert.equal(first.status.phase, 'Failed');
  assert.deepEqual(first.events.map((e) => [e.type, e.reason]), [['Warning', 'InvalidSpec']]);
  const again = decide({ ...invalid, mdep: { ...mdep, status: first.status }, now: T0 + 5_000 }, DEFAULT_SETTINGS);
  assert.equal(statusChanged(first.status, again.status), false);
  assert.deepEqual(again.events, []);
});

test('a new model version starts a rollout: both versions run, the event says so', () => {
  const before = decide(observed(stored({ model: V1 }), { deployments: [deployment('v1', 1)] }), DEFAULT_SETTINGS);
  const decision = decide(observed(stored({ model: V2, rollout: { steps: [50, 100] } }, before.status), { deployments: [deployment('v1', 1)] }), DEFAULT_SETTINGS);
  assert.deepEqual(decision.keepVersions, ['v2', 'v1']);
  assert.ok(versionDeployment(decision.objects, 'v1') && versionDeployment(decision.objects, 'v2'));
  assert.deepEqual(decision.events.map((e) => e.reason), ['RolloutStarted']);
  assert.equal(decision.rollout?.candidate?.version, 'v2');
});

test('a rollout step asks to be looked at again when its check is due', () => {
  const status: ModelDeploymentStatus = {
    rollout: { phase: 'Progressing', stable: V1, candidate: V2, canaryWeight: 50, step: 0, failedChecks: 0, windowStartedAt: '2026-11-24T11:59:30Z', message: '' },
  };
  const decision = decide(observed(stored({ model: V2, rollout: { steps: [50, 100], stepInterval: '1m' } }, status), { deployments: [deployment('v1', 1), deployment('v2', 1)] }), DEFAULT_SETTINGS);
  assert.equal(decision.requeueAfterMs, 30_000);
});

test('the pause annotation pauses the rollout, told once', () => {
  const status: ModelDeploymentStatus = {
    rollout: { phase: 'Progressing', stable: V1, candidate: V2, canaryWeight: 50, step: 0, failedChecks: 0, windowStartedAt: '2026-11-24T11:59:30Z', message: '' },
  };
  const spec = { model: V2, rollout: { steps: [50, 100] } };
  const paused = decide(observed(stored(spec, status, { [PAUSE_ANNOTATION]: 'true' })), DEFAULT_SETTINGS);
  assert.equal(paused.rollout?.paused, true);
  assert.deepEqual(paused.events.map((e) => e.reason), ['RolloutPaused']);
  const still = decide(observed(stored(spec, paused.status, { [PAUSE_ANNOTATION]: 'true' })), DEFAULT_SETTINGS);
  assert.ok(!still.events.some((e) => e.reason === 'RolloutPaused'));
});

test('an apply that keeps failing the same way gives the same status on every retry', () => {
  const response = (auditId: string, date: string) => new ApiException(422, 'Error occurred in API call',
    JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422, message: 'Deployment.apps "m-v1" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1' }),
    { 'audit-id': auditId, date, 'content-type': 'application/json' });
  const message = (error: unknown) => `applying Deployment/m-v1: ${describeApiError(error)}`;
  const first = message(response('0c1d7a3e', 'Tue, 24 Nov 2026 12:00:00 GMT'));
  const second = message(response('9f2b44aa', 'Tue, 24 Nov 2026 12:00:07 GMT'));
  assert.equal(first, second);
  assert.equal(first, 'applying Deployment/m-v1: HTTP 422 Invalid: Deployment.apps "m-v1" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1');
  const mdep = stored({ model: V1 });
  const failed = decideApplyFailure(observed(mdep), first);
  const retried = decideApplyFailure(observed({ ...mdep, status: failed }, { now: T0 + 7_000 }), second);
  assert.equal(statusChanged(failed, retried), false, 'no status write on a retry');
  assert.deepEqual([condition(failed, 'Degraded')?.reason, condition(failed, 'Degraded')?.message], ['ApplyFailed', first]);
});

test('objects another owner controls: the same objects and rollout, status Conflict naming them, one Warning, then nothing new', () => {
  const obs = observed(stored({ model: V1 }), { deployments: [deployment('v1', 1)] });
  const conflicts = ['Service/m already exists, owned by ModelDeployment/other'];
  const plain = decide(obs, DEFAULT_SETTINGS);
  const first = decide(obs, DEFAULT_SETTINGS, conflicts);
  assert.deepEqual([first.objects, first.rollout, first.keepVersions], [plain.objects, plain.rollout, plain.keepVersions]);
  assert.equal(first.status.phase, 'Degraded');
  assert.deepEqual([condition(first.status, 'Ready')?.reason, condition(first.status, 'Degraded')?.status], ['Conflict', 'True']);
  const message = 'not applied: Service/m already exists, owned by ModelDeployment/other';
  assert.deepEqual(first.events, [{ type: 'Warning', reason: 'Conflict', message }]);
  const again = decide(observed(stored({ model: V1 }, first.status), { deployments: [deployment('v1', 1)], now: T0 + 60_000 }), DEFAULT_SETTINGS, conflicts);
  assert.equal(statusChanged(first.status, again.status), false, 'an ordinary state: no status write');
  assert.deepEqual(again.events, []);
  assert.equal(again.requeueAfterMs, undefined, 'no early look: the resync or a change of an owned object brings the next');
});

// Two versions whose 40-bit name hashes agree (found by a birthday search; see test/unit/names.test.ts).
const CLASHING = 'fraud-detection-transaction-scoring-ensemble-eu-west-1-production';
const [CLASH_A, CLASH_B] = [{ uri: 'https://models.example.com/a.onnx', version: 'v469224' }, { uri: 'https://models.example.com/b.onnx', version: 'v496721' }];

test('a new version that would share the stable version\'s objects is refused: nothing applied or removed, status kept, Degraded says why', () => {
  const named = (spec: Record<string, unknown>, status?: ModelDeploymentStatus) => ({ ...stored(spec, status), metadata: { ...stored(spec).metadata, name: CLASHING } });
  const before = decide(observed(named({ model: CLASH_A })), DEFAULT_SETTINGS);
  const decision = decide(observed(named({ model: CLASH_B }, before.status)), DEFAULT_SETTINGS);
  assert.deepEqual([decision.objects, decision.keepVersions, decision.rollout], [[], undefined, undefined]);
  assert.deepEqual(decision.status.rollout, before.status.rollout, 'the rollout stays where it was');
  const degraded = condition(decision.status, 'Degraded');
  assert.deepEqual([degraded?.status, degraded?.reason], ['True', 'VersionConflict']);
  assert.match(degraded?.message ?? '', /^versions v469224 and v496721 would share the objects named .*--h[0-9a-f]{10}: version v496721 is not started$/);
  assert.deepEqual(decision.events.map((e) => [e.type, e.reason]), [['Warning', 'VersionConflict']]);
});
