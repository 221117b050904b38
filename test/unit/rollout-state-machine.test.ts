// Every transition of the rollout state machine, driven with plain data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advanceRollout, checkDue, msUntilCheck, msUntilDecision, RETIRE_AFTER_MS, type RolloutInput } from '../../operator/src/rollout/state-machine.ts';
import { judgeWindow, type WindowNumbers } from '../../operator/src/rollout/gates.ts';
import type { AnalysisResult, RolloutSpec, RolloutStatus } from '../../operator/src/rollout/types.ts';

const V1 = { version: 'v1', uri: 'https://m/v1.onnx' };
const V2 = { version: 'v2', uri: 'https://m/v2.onnx' };
const V3 = { version: 'v3', uri: 'https://m/v3.onnx' };
const T0 = Date.parse('2026-11-24T12:00:00Z');
const MIN = 60_000;
const CANARY: RolloutSpec = { strategy: 'canary', steps: [10, 50, 100], stepInterval: '1m', analysis: { minRequests: 10, maxErrorRate: 0.05, failureThreshold: 2, maxLatencyP99Ms: 100, maxLatencyP99Ratio: 2 } };
const SHADOW: RolloutSpec = { ...CANARY, shadow: { percent: 20, duration: '3m', minComparisons: 10, minAgreement: 0.95, maxDivergence: 0.01 } };

const input = (over: Partial<RolloutInput>): RolloutInput => ({
  model: V2, rollout: CANARY, paused: false, abort: false, candidateReady: true, stableFullyReady: true, now: T0, ...over,
});
const numbers = (over: Partial<WindowNumbers['candidate']> = {}, stableP99 = 10): WindowNumbers => ({
  candidate: { requests: 100, errors: 0, errorRate: 0, p99Ms: 12, ...over },
  stable: { requests: 900, errors: 0, errorRate: 0, p99Ms: stableP99 },
});
const verdict = (n: WindowNumbers, rollout: RolloutSpec, phase: AnalysisResult['phase'] = 'Progressing') => judgeWindow(n, rollout, phase, 60, 'now');

/** Drives a rollout from a stable v1 to the canary's first step. */
function atFirstStep(rollout = CANARY): RolloutStatus {
  const started = advanceRollout(input({ rollout, previous: { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' } })).status;
  return advanceRollout(input({ rollout, previous: started, now: T0 + 1000 })).status;
}

test('the first version is stable at once, with nothing to roll out from', () => {
  const { status, events } = advanceRollout(input({ model: V1 }));
  assert.equal(status.phase, 'Initialized');
  assert.deepEqual(status.stable, V1);
  assert.equal(events.length, 0);
});

test('a new spec.model starts a rollout from the stable version, waiting for the candidate pods at weight 0', () => {
  const previous: RolloutStatus = { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' };
  const { status, events } = advanceRollout(input({ previous, candidateReady: false }));
  assert.equal(status.phase, 'Progressing');
  assert.equal(status.step, -1);
  assert.equal(status.canaryWeight, 0);
  assert.deepEqual(status.candidate, V2);
  assert.deepEqual(status.stable, V1);
  assert.equal(events[0].reason, 'RolloutStarted');
  const waiting = advanceRollout(input({ previous: status, candidateReady: false, now: T0 + 5 * MIN }));
  assert.equal(waiting.status.step, -1, 'no step while the candidate has no ready pods');
  assert.equal(checkDue(waiting.status, CANARY, T0 + 5 * MIN), false);
});

test('ready candidate pods enter the first step; passed checks climb the steps, then promote', () => {
  let status = atFirstStep();
  assert.equal(status.phase, 'Progressing');
  assert.equal(status.canaryWeight, 10);
  assert.equal(status.step, 0);
  assert.equal(checkDue(status, CANARY, T0 + 30_000), false, 'not before the step interval');
  assert.equal(checkDue(status, CANARY, T0 + 1000 + MIN), true);
  let now = T0 + 1000 + MIN;
  const ok = verdict(numbers(), CANARY);
  assert.equal(ok.verdict, 'passed');
  const second = advanceRollout(input({ previous: status, analysis: ok, now }));
  assert.equal(second.status.canaryWeight, 50);
  assert.equal(second.events[0].reason, 'StepAdvanced');
  status = second.status;
  now += MIN;
  status = advanceRollout(input({ previous: status, analysis: ok, now })).status;
  assert.equal(status.canaryWeight, 100);
  now += MIN;
  const promoting = advanceRollout(input({ previous: status, analysis: ok, now }));
  assert.equal(promoting.status.phase, 'Promoting');
  assert.deepEqual(promoting.status.stable, V2);
  assert.deepEqual(promoting.status.retiring, V1);
  assert.equal(promoting.status.canaryWeight, 100, 'the promoted version takes all traffic');
  assert.equal(promoting.events[0].reason, 'Promoting');
  const waiting = advanceRollout(input({ previous: promoting.status, stableFullyReady: false, now: now + 1000 }));
  assert.equal(waiting.status.phase, 'Promoting', 'the old version retires only once the new one is fully sized');
  const draining = advanceRollout(input({ previous: promoting.status, now: now + 2000 }));
  assert.equal(draining.status.phase, 'Promoting', 'the retiring version drains before it goes');
  assert.equal(msUntilDecision(draining.status, CANARY, now + 2000), RETIRE_AFTER_MS - 2000);
  const done = advanceRollout(input({ previous: promoting.status, now: now + RETIRE_AFTER_MS }));
  assert.equal(done.status.phase, 'Succeeded');
  assert.deepEqual(done.status.stable, V2);
  assert.equal(done.status.retiring, undefined);
  assert.equal(done.events[0].reason, 'Promoted');
});

const gateCases: Array<{ gate: string; rollout: RolloutSpec; numbers: WindowNumbers; says: RegExp }> = [
  { gate: 'error rate', rollout: CANARY, numbers: numbers({ errors: 30, errorRate: 0.3 }), says: /candidate error rate 0\.3 > 0\.05 \(30 of 100\)/ },
  { gate: 'absolute p99 latency', rollout: CANARY, numbers: numbers({ p99Ms: 150 }, 100), says: /candidate p99 latency 150 ms > 100 ms/ },
  { gate: 'p99 latency relative to stable', rollout: CANARY, numbers: numbers({ p99Ms: 50 }, 10), says: /candidate p99 latency 50 ms > 2 x stable 10 ms/ },
];
for (const { gate, rollout, numbers: n, says } of gateCases) {
  test(`a canary failing the ${gate} gate failureThreshold times rolls back to the stable version`, () => {
    const status = atFirstStep(rollout);
    const bad = verdict(n, rollout);
    assert.equal(bad.verdict, 'failed');
    assert.match(bad.failedGates.join('; '), says);
    const once = advanceRollout(input({ rollout, previous: status, analysis: bad, now: T0 + MIN + 1000 }));
    assert.equal(once.status.phase, 'Progressing', 'one failed check of two is not yet a rollback');
    assert.equal(once.status.failedChecks, 1);
    assert.equal(once.status.canaryWeight, 10, 'the weight holds after a failed check');
    assert.equal(once.events[0].reason, 'CheckFailed');
    const twice = advanceRollout(input({ rollout, previous: once.status, analysis: bad, now: T0 + 2 * MIN + 1000 }));
    assert.equal(twice.status.phase, 'RolledBack');
    assert.equal(twice.status.canaryWeight, 0);
    assert.deepEqual(twice.status.stable, V1);
    assert.deepEqual(twice.status.candidate, V2, 'the rejected candidate is remembered, so the same spec does not retry it');
    assert.match(twice.status.message, says);
    assert.match(twice.status.lastAnalysis!.failedGates.join(';'), says);
    assert.deepEqual(twice.events.map((e) => e.reason), ['CheckFailed', 'RolledBack']);
    const later = advanceRollout(input({ rollout, previous: twice.status, now: T0 + 10 * MIN }));
    assert.equal(later.status.phase, 'RolledBack', 'a rolled back candidate stays rolled back while spec names it');
  });
}

test('too few candidate requests hold the step without judging, and the window keeps growing', () => {
  const status = atFirstStep();
  const few = verdict(numbers({ requests: 3 }), CANARY);
  assert.equal(few.verdict, 'insufficient');
  const held = advanceRollout(input({ previous: status, analysis: few, now: T0 + MIN + 1000 }));
  assert.equal(held.status.canaryWeight, 10);
  assert.equal(held.status.failedChecks, 0);
  assert.equal(held.status.windowStartedAt, status.windowStartedAt);
  assert.match(held.status.message, /holding: 3 of 10 candidate requests/);
});

test('a flood of errors fails a check even below minRequests', () => {
  const status = atFirstStep();
  const flood = verdict(numbers({ requests: 12, errors: 12, errorRate: 1 }), { ...CANARY, analysis: { ...CANARY.analysis, minRequests: 10 } });
  assert.equal(flood.verdict, 'failed');
  assert.equal(advanceRollout(input({ previous: status, analysis: flood, now: T0 + MIN + 1000 })).status.failedChecks, 1);
});

test('shadowing: copies first, judged on agreement and divergence, then the canary steps after its duration', () => {
  const started = advanceRollout(input({ rollout: SHADOW, previous: { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' } })).status;
  const shadowing = advanceRollout(input({ rollout: SHADOW, previous: started, now: T0 })).status;
  assert.equal(shadowing.phase, 'Shadowing');
  assert.equal(shadowing.shadowPercent, 20);
  assert.equal(shadowing.canaryWeight, 0, 'clients only get the stable answers while shadowing');
  const good: WindowNumbers = { ...numbers({ requests: 0 }), shadow: { comparisons: 50, mismatches: 0, top1Rows: 50, top1Agreement: 0.98, divergenceP99: 0.001, requests: 50, errors: 0, p99Ms: 12 } };
  const pass = judgeWindow(good, SHADOW, 'Shadowing', 60, 'now');
  assert.equal(pass.verdict, 'passed');
  const early = advanceRollout(input({ rollout: SHADOW, previous: shadowing, analysis: pass, now: T0 + MIN }));
  assert.equal(early.status.phase, 'Shadowing', 'the shadow phase lasts its duration');
  assert.match(early.status.message, /2m of shadowing left/);
  const after = advanceRollout(input({ rollout: SHADOW, previous: early.status, analysis: pass, now: T0 + 3 * MIN }));
  assert.equal(after.status.phase, 'Progressing');
  assert.equal(after.status.canaryWeight, 10);
  assert.equal(after.status.shadowPercent, undefined);
  assert.deepEqual(after.events.map((e) => e.reason), ['ShadowPassed', 'StepAdvanced']);
});

const shadowGateCases: Array<{ gate: string; shadow: NonNullable<WindowNumbers['shadow']>; says: RegExp }> = [
  { gate: 'top-1 agreement', shadow: { comparisons: 50, mismatches: 0, top1Rows: 100, top1Agreement: 0.7, divergenceP99: 0.001, requests: 50, errors: 0, p99Ms: 10 }, says: /top-1 agreement 0\.7 < 0\.95 \(100 rows\)/ },
  { gate: 'divergence', shadow: { comparisons: 50, mismatches: 0, top1Rows: 100, top1Agreement: 1, divergenceP99: 0.5, requests: 50, errors: 0, p99Ms: 10 }, says: /p99 max abs difference 0\.5 > 0\.01/ },
  { gate: 'shadow errors', shadow: { comparisons: 10, mismatches: 0, top1Rows: 10, top1Agreement: 1, divergenceP99: 0, requests: 50, errors: 40, p99Ms: 10 }, says: /shadow error rate 0\.8 > 0\.05/ },
  { gate: 'output shapes', shadow: { comparisons: 0, mismatches: 3, top1Rows: 0, top1Agreement: null, divergenceP99: null, requests: 3, errors: 0, p99Ms: 10 }, says: /3 shadow answers differ in output names or shapes/ },
];
for (const { gate, shadow, says } of shadowGateCases) {
  test(`a shadow failing the ${gate} gate rolls back before any client sees the candidate`, () => {
    let status = advanceRollout(input({ rollout: SHADOW, previous: { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' } })).status;
    status = advanceRollout(input({ rollout: SHADOW, previous: status })).status;
    const bad = judgeWindow({ ...numbers({ requests: 0 }), shadow }, SHADOW, 'Shadowing', 60, 'now');
    assert.equal(bad.verdict, 'failed');
    assert.match(bad.failedGates.join('; '), says);
    status = advanceRollout(input({ rollout: SHADOW, previous: status, analysis: bad, now: T0 + MIN })).status;
    status = advanceRollout(input({ rollout: SHADOW, previous: status, analysis: bad, now: T0 + 2 * MIN })).status;
    assert.equal(status.phase, 'RolledBack');
    assert.equal(status.canaryWeight, 0);
    assert.match(status.message, says);
  });
}

test('too few shadow comparisons hold the shadow phase', () => {
  const few = judgeWindow({ ...numbers({ requests: 0 }), shadow: { comparisons: 4, mismatches: 0, top1Rows: 4, top1Agreement: 1, divergenceP99: 0, requests: 4, errors: 0, p99Ms: 1 } }, SHADOW, 'Shadowing', 60, 'now');
  assert.equal(few.verdict, 'insufficient');
  assert.equal(few.message, '4 of 10 shadow comparisons');
});

test('abort by annotation sends all traffic back to the stable version', () => {
  const status = atFirstStep();
  const { status: aborted, events } = advanceRollout(input({ previous: status, abort: true, now: T0 + 5000 }));
  assert.equal(aborted.phase, 'Aborted');
  assert.equal(aborted.canaryWeight, 0);
  assert.deepEqual(aborted.candidate, V2);
  assert.equal(events[0].reason, 'RolloutAborted');
  assert.equal(events[0].type, 'Warning');
});

test('pause freezes the step; resume starts its window again', () => {
  const status = atFirstStep();
  const paused = advanceRollout(input({ previous: status, paused: true, now: T0 + 5000 }));
  assert.equal(paused.status.paused, true);
  assert.equal(paused.events[0].reason, 'RolloutPaused');
  assert.equal(msUntilCheck(paused.status, CANARY, T0 + 10 * MIN), undefined, 'no check while paused');
  const still = advanceRollout(input({ previous: paused.status, paused: true, analysis: verdict(numbers(), CANARY), now: T0 + 10 * MIN }));
  assert.equal(still.status.canaryWeight, 10);
  assert.equal(still.events.length, 0);
  const resumed = advanceRollout(input({ previous: still.status, now: T0 + 11 * MIN }));
  assert.equal(resumed.status.paused, undefined);
  assert.equal(resumed.status.windowStartedAt, '2026-11-24T12:11:00Z');
  assert.equal(resumed.events[0].reason, 'RolloutResumed');
  assert.equal(checkDue(resumed.status, CANARY, T0 + 11 * MIN + 30_000), false);
});

test('a step that needs GPUs the nodes lack is held, told once, and taken when they free up', () => {
  const status = atFirstStep();
  const problem = () => 'needs 2 more nvidia.com/gpu, 1 free';
  const ok = verdict(numbers(), CANARY);
  const held = advanceRollout(input({ previous: status, analysis: ok, capacityProblem: problem, now: T0 + MIN + 1000 }));
  assert.equal(held.status.canaryWeight, 10);
  assert.equal(held.status.holding, 'needs 2 more nvidia.com/gpu, 1 free');
  assert.match(held.status.message, /holding before weight 50%: needs 2 more nvidia.com\/gpu/);
  assert.deepEqual(held.events.map((e) => e.reason), ['StepHeld']);
  const again = advanceRollout(input({ previous: held.status, analysis: ok, capacityProblem: problem, now: T0 + 2 * MIN + 1000 }));
  assert.equal(again.events.length, 0, 'the same hold is told once');
  const freed = advanceRollout(input({ previous: again.status, analysis: ok, capacityProblem: () => undefined, now: T0 + 3 * MIN + 1000 }));
  assert.equal(freed.status.canaryWeight, 50);
  assert.equal(freed.status.holding, undefined);
});

test('an operator restart mid-step restarts the window instead of judging without a baseline', () => {
  const status = atFirstStep();
  const restarted = advanceRollout(input({ previous: status, analysis: 'no-baseline', now: T0 + 2 * MIN }));
  assert.equal(restarted.status.canaryWeight, 10);
  assert.equal(restarted.status.step, 0);
  assert.equal(restarted.status.windowStartedAt, '2026-11-24T12:02:00Z');
  assert.match(restarted.status.message, /window restarted/);
});

test('A/B: a fixed split, observed but never promoted', () => {
  const ab: RolloutSpec = { strategy: 'abTest', abTest: { weight: 30 }, stepInterval: '1m' };
  let status = advanceRollout(input({ rollout: ab, previous: { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' } })).status;
  const started = advanceRollout(input({ rollout: ab, previous: status }));
  assert.equal(started.status.phase, 'ABTesting');
  assert.equal(started.status.canaryWeight, 30);
  assert.equal(started.events[0].reason, 'ABTestStarted');
  status = started.status;
  for (let i = 1; i <= 5; i++) {
    const observed = judgeWindow(numbers({ errors: 50, errorRate: 0.5 }), ab, 'ABTesting', 60, 'now');
    assert.equal(observed.verdict, 'observed');
    status = advanceRollout(input({ rollout: ab, previous: status, analysis: observed, now: T0 + i * MIN })).status;
  }
  assert.equal(status.phase, 'ABTesting');
  assert.equal(status.canaryWeight, 30);
  assert.equal(status.lastAnalysis?.candidate.errors, 50);
});

test('without spec.rollout a new version takes all traffic once its pods are ready', () => {
  let status = advanceRollout(input({ rollout: undefined, previous: { phase: 'Initialized', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' } })).status;
  status = advanceRollout(input({ rollout: undefined, previous: status })).status;
  assert.equal(status.phase, 'Promoting');
  assert.deepEqual(status.stable, V2);
});

test('a third version mid-rollout replaces the candidate; spec back at stable cancels the rollout', () => {
  const status = atFirstStep();
  const replaced = advanceRollout(input({ model: V3, previous: status, now: T0 + 5000 }));
  assert.deepEqual(replaced.status.candidate, V3);
  assert.equal(replaced.status.step, -1);
  assert.equal(replaced.status.canaryWeight, 0);
  assert.match(replaced.events[0].message, /replacing candidate v2/);
  const cancelled = advanceRollout(input({ model: V1, previous: status, now: T0 + 5000 }));
  assert.equal(cancelled.status.phase, 'Succeeded');
  assert.equal(cancelled.status.candidate, undefined);
  assert.equal(cancelled.events[0].reason, 'RolloutCancelled');
});

test('a rolled back candidate is retried only when spec.model names another version', () => {
  const rolledBack: RolloutStatus = { phase: 'RolledBack', stable: V1, candidate: V2, canaryWeight: 0, failedChecks: 2, message: '' };
  assert.equal(advanceRollout(input({ previous: rolledBack })).status.phase, 'RolledBack');
  const next = advanceRollout(input({ model: V3, previous: rolledBack }));
  assert.equal(next.status.phase, 'Progressing');
  assert.equal(next.status.failedChecks, 0);
  const reverted = advanceRollout(input({ model: V1, previous: rolledBack }));
  assert.equal(reverted.status.phase, 'Succeeded');
});

test('a candidate whose first pods would not fit on the GPUs gets none, waits with the reason, and starts when room appears', async () => {
  const { versionShares, replicaRange } = await import('../../operator/src/rollout/traffic.ts');
  const full = () => '1 more pod with 1 nvidia.com/gpu each needed, the nodes have room for 0';
  const started = advanceRollout(input({ previous: { phase: 'Succeeded', stable: V1, canaryWeight: 0, failedChecks: 0, message: '' }, candidateReady: false, capacityProblem: full }));
  assert.equal(started.status.holding, full());
  assert.match(started.status.message, /waiting for GPU room for candidate v2/);
  assert.deepEqual(started.events.map((e) => e.reason), ['RolloutStarted', 'CandidateHeld']);
  const candidate = versionShares(started.status).find((s) => s.role === 'candidate')!;
  assert.deepEqual(replicaRange({ minReplicas: 2, maxReplicas: 6 }, candidate), { min: 0, max: 0 }, 'no pod, so none is Pending');
  const still = advanceRollout(input({ previous: started.status, candidateReady: false, capacityProblem: full, now: T0 + 5000 }));
  assert.equal(still.events.length, 0, 'told once');
  const room = advanceRollout(input({ previous: still.status, candidateReady: false, capacityProblem: () => undefined, now: T0 + 10_000 }));
  assert.equal(room.status.holding, undefined);
  assert.deepEqual(replicaRange({ minReplicas: 2, maxReplicas: 6 }, versionShares(room.status).find((s) => s.role === 'candidate')!), { min: 1, max: 1 });
});
