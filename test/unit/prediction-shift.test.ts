// The prediction-shift gate on plain data: the servers' bin counters of a window per output, the PSI of the
// candidate's shares against the stable version's (the server's own definition, floors included), which
// output a check judges, when the gate applies, and its verdicts in a check (failed like any gate, passed,
// held for rows), up to a rollback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PSI_SHARE_FLOOR, psi, shares } from '../../contract/psi.ts';
import { addExposition, windowBetween } from '../../operator/src/rollout/metric-samples.ts';
import { judgedShift, outputShifts, predictionCounts, predictionShiftApplies, type PredictionCounts } from '../../operator/src/rollout/prediction-shift.ts';
import { judgeWindow, type WindowNumbers } from '../../operator/src/rollout/gates.ts';
import { advanceRollout } from '../../operator/src/rollout/state-machine.ts';
import type { PredictionShift, RolloutSpec, RolloutStatus } from '../../operator/src/rollout/types.ts';

const counts = (byOutput: Record<string, number[]>): PredictionCounts =>
  new Map(Object.entries(byOutput).map(([output, bins]) => [output, new Map(bins.map((n, bin) => [String(bin), n]))]));

const bins = (output: string, values: number[]) =>
  values.map((n, bin) => `modelship_drift_prediction_bin_total{output="${output}",bin="${bin}",model="iris",version="v2"} ${n}`).join('\n');

test('a window\'s prediction counters per output, pods summed, other series left out', () => {
  const pod = (probabilities: number[], score: number[]) => `# TYPE modelship_drift_prediction_bin_total counter
${bins('probabilities', probabilities)}
${bins('score', score)}
modelship_drift_input_bin_total{feature="input[0]",bin="0"} 999
modelship_drift_prediction_baseline_ratio{output="probabilities",bin="0"} 0.5
`;
  const start = addExposition(addExposition(new Map(), pod([10, 10, 0], [5, 5]), undefined, 'a'), pod([0, 0, 0], [0, 0]), undefined, 'b');
  const end = addExposition(addExposition(new Map(), pod([40, 20, 0], [5, 9]), undefined, 'a'), pod([7, 0, 3], [1, 0]), undefined, 'b');
  const window = predictionCounts(windowBetween(start, end));
  assert.deepEqual([...window.keys()].sort(), ['probabilities', 'score']);
  assert.deepEqual(Object.fromEntries(window.get('probabilities')!), { 0: 37, 1: 10, 2: 3 });
  assert.deepEqual(Object.fromEntries(window.get('score')!), { 0: 1, 1: 4 });
});

test('the same shares give PSI 0 whatever the rows; a shift gives sum of (c - s) * ln(c / s) of the shares', () => {
  const [same] = outputShifts(counts({ probabilities: [20, 20, 40] }), counts({ probabilities: [100, 100, 200] }));
  assert.deepEqual(same, { output: 'probabilities', psi: 0, candidateRows: 80, stableRows: 400 });
  // Stable 50/50, candidate 80/20: 0.3 * ln(1.6) - 0.3 * ln(0.4).
  const [moved] = outputShifts(counts({ probabilities: [80, 20] }), counts({ probabilities: [50, 50] }));
  assert.ok(Math.abs(moved.psi! - (0.3 * Math.log(1.6) - 0.3 * Math.log(0.4))) < 1e-12);
  assert.equal(moved.psi, psi(shares([50, 50]), [80, 20]), 'the server\'s PSI, with the stable shares as the reference');
});

test('a class only one version predicts is floored as the server floors it; a version with no rows gives no PSI', () => {
  const [floored] = outputShifts(counts({ probabilities: [50, 50, 0] }), counts({ probabilities: [50, 0, 50] }));
  const f = PSI_SHARE_FLOOR;
  assert.ok(Math.abs(floored.psi! - ((0.5 - f) * Math.log(0.5 / f) + (f - 0.5) * Math.log(f / 0.5))) < 1e-12);
  // A bin the stable side never exported is 0 there, as if counted.
  const [missingBin] = outputShifts(counts({ probabilities: [50, 50, 0] }), new Map([['probabilities', new Map([['0', 50], ['2', 50]])]]));
  assert.equal(missingBin.psi, floored.psi);
  const [none] = outputShifts(counts({ probabilities: [0, 0] }), counts({ probabilities: [30, 10] }));
  assert.deepEqual(none, { output: 'probabilities', psi: null, candidateRows: 0, stableRows: 40 });
  const [onlyStable] = outputShifts(new Map(), counts({ score: [3, 4] }));
  assert.deepEqual(onlyStable, { output: 'score', psi: null, candidateRows: 0, stableRows: 7 });
});

test('a check judges the worst output with enough rows on both sides; with none, the output nearest to enough', () => {
  const a: PredictionShift = { output: 'a', psi: 0.05, candidateRows: 100, stableRows: 400 };
  const b: PredictionShift = { output: 'b', psi: 0.3, candidateRows: 100, stableRows: 400 };
  const thin: PredictionShift = { output: 'c', psi: 2, candidateRows: 10, stableRows: 400 };
  assert.deepEqual(judgedShift([a, b, thin], 50), { judged: true, shift: b });
  assert.deepEqual(judgedShift([a, thin], 50), { judged: true, shift: a }, 'an output with too few rows is not judged, however far it moved');
  assert.deepEqual(judgedShift([thin, { ...a, candidateRows: 30 }], 50), { judged: false, shift: { ...a, candidateRows: 30 } });
  assert.deepEqual(judgedShift([{ ...b, stableRows: 49 }], 50), { judged: false, shift: { ...b, stableRows: 49 } });
  assert.equal(judgedShift([], 50), undefined);
});

const V1 = { version: 'v1', uri: 'https://m/v1.onnx' };
const V2 = { version: 'v2', uri: 'https://m/v2.onnx' };
const GATED: RolloutSpec = { strategy: 'canary', steps: [20, 100], stepInterval: '1m', analysis: { minRequests: 50, maxErrorRate: 0.01, failureThreshold: 2, maxPredictionShift: 0.1 }, shadow: { minComparisons: 80 } };
const status = (over: Partial<RolloutStatus>): RolloutStatus => ({ phase: 'Progressing', stable: V1, candidate: V2, step: 0, canaryWeight: 20, failedChecks: 0, message: '', ...over });

test('the gate applies in shadow and canary checks while the stable version serves; never unset, at 100%, in A/B or before the first step', () => {
  assert.equal(predictionShiftApplies(GATED, status({})), true);
  assert.equal(predictionShiftApplies(GATED, status({ phase: 'Shadowing', step: -1, canaryWeight: 0 })), true);
  assert.equal(predictionShiftApplies(GATED, status({ step: 1, canaryWeight: 100 })), false, 'at 100% the stable version predicts nothing to compare with');
  assert.equal(predictionShiftApplies(GATED, status({ phase: 'ABTesting', canaryWeight: 50 })), false);
  assert.equal(predictionShiftApplies(GATED, status({ step: -1, canaryWeight: 0 })), false);
  assert.equal(predictionShiftApplies({ ...GATED, analysis: { minRequests: 50 } }, status({})), false);
});

const window = (predictions?: PredictionShift[], over: Partial<WindowNumbers['candidate']> = {}): WindowNumbers => ({
  candidate: { requests: 200, errors: 0, errorRate: 0, p99Ms: 5, ...over },
  stable: { requests: 800, errors: 0, errorRate: 0, p99Ms: 5 },
  ...(predictions && { predictions }),
});
const shifted: PredictionShift = { output: 'probabilities', psi: 0.4213, candidateRows: 812, stableRows: 1630 };
const steady: PredictionShift = { output: 'probabilities', psi: 0.0123, candidateRows: 812, stableRows: 1630 };

test('a canary whose predictions shift more than allowed fails the check, with the numbers; errors and latency fine', () => {
  const result = judgeWindow(window([steady, shifted]), GATED, 'Progressing', 60, 'now');
  assert.equal(result.verdict, 'failed');
  assert.deepEqual(result.failedGates, ['prediction shift PSI 0.421 > 0.1 (output probabilities, 812 candidate and 1630 stable rows)']);
  assert.deepEqual(result.predictionShift, shifted);
  assert.equal('predictions' in result, false, 'status holds the judged output, not every output');
});

test('a canary within the limit passes, the shift in its summary; without the gate the same numbers change nothing', () => {
  const result = judgeWindow(window([steady]), GATED, 'Progressing', 60, 'now');
  assert.equal(result.verdict, 'passed');
  assert.deepEqual(result.predictionShift, steady);
  assert.match(result.message, /prediction shift PSI 0\.0123 \(output probabilities\)$/);
  const ungated = judgeWindow(window([shifted]), { ...GATED, analysis: { ...GATED.analysis, maxPredictionShift: undefined } }, 'Progressing', 60, 'now');
  assert.equal(ungated.verdict, 'passed');
  assert.equal(ungated.predictionShift, undefined);
  const unmeasured = judgeWindow(window(), GATED, 'Progressing', 60, 'now');
  assert.equal(unmeasured.verdict, 'passed', 'at 100% nothing is measured, and nothing is judged');
});

test('too few prediction rows on either side hold the check instead of passing it (minRequests in canary checks)', () => {
  const fewCandidate = judgeWindow(window([{ ...shifted, candidateRows: 49 }]), GATED, 'Progressing', 60, 'now');
  assert.equal(fewCandidate.verdict, 'insufficient');
  assert.equal(fewCandidate.message, '49 candidate and 1630 stable prediction rows of 50 each (output probabilities)');
  assert.equal(fewCandidate.predictionShift?.candidateRows, 49);
  const fewStable = judgeWindow(window([{ ...steady, stableRows: 10 }]), GATED, 'Progressing', 60, 'now');
  assert.equal(fewStable.verdict, 'insufficient');
  const none = judgeWindow(window([]), GATED, 'Progressing', 60, 'now');
  assert.equal(none.verdict, 'insufficient');
  assert.equal(none.message, 'no prediction rows counted (50 needed on each side)');
  // Another gate failing needs no rows to fail the check.
  const erring = judgeWindow(window([{ ...shifted, candidateRows: 3 }], { errors: 100, errorRate: 0.5 }), GATED, 'Progressing', 60, 'now');
  assert.equal(erring.verdict, 'failed');
  assert.deepEqual(erring.failedGates, ['candidate error rate 0.5 > 0.01 (100 of 200)']);
});

test('shadowing: the shift of the shadow copies\' predictions fails the check; rows are counted against minComparisons', () => {
  const shadow = { comparisons: 100, mismatches: 0, top1Rows: 100, top1Agreement: 1, divergenceP99: 0, requests: 100, errors: 0, p99Ms: 5 };
  const failed = judgeWindow({ ...window([shifted]), shadow }, GATED, 'Shadowing', 60, 'now');
  assert.equal(failed.verdict, 'failed');
  assert.deepEqual(failed.failedGates, ['prediction shift PSI 0.421 > 0.1 (output probabilities, 812 candidate and 1630 stable rows)']);
  const held = judgeWindow({ ...window([{ ...shifted, candidateRows: 79 }]), shadow }, GATED, 'Shadowing', 60, 'now');
  assert.equal(held.verdict, 'insufficient');
  assert.equal(held.message, '79 candidate and 1630 stable prediction rows of 80 each (output probabilities)');
  const passed = judgeWindow({ ...window([{ ...steady, candidateRows: 80 }]), shadow }, GATED, 'Shadowing', 60, 'now');
  assert.equal(passed.verdict, 'passed');
  assert.match(passed.message, /, prediction shift PSI 0\.0123 \(output probabilities\)$/);
});

test('failed shift checks count toward failureThreshold and roll the candidate back, the numbers in status', () => {
  const rollout = GATED;
  const t0 = Date.parse('2026-12-01T12:00:00Z');
  let current = status({ windowStartedAt: new Date(t0).toISOString() });
  for (const [i, phase] of [[1, 'Progressing'], [2, 'RolledBack']] as const) {
    const now = t0 + i * 60_000;
    const analysis = judgeWindow(window([shifted]), rollout, 'Progressing', 60, new Date(now).toISOString());
    current = advanceRollout({ model: V2, rollout, previous: current, paused: false, abort: false, candidateReady: true, stableFullyReady: true, analysis, now }).status;
    assert.equal(current.phase, phase);
    assert.equal(current.failedChecks, i);
  }
  assert.equal(current.canaryWeight, 0);
  assert.deepEqual(current.lastAnalysis?.predictionShift, shifted);
  assert.equal(current.message, 'rolled back: prediction shift PSI 0.421 > 0.1 (output probabilities, 812 candidate and 1630 stable rows)');
});
