// The Drifting condition from the servers' PSI gauges: each column's worst pod, judged against the marks;
// Events on the transitions a user should hear of; Ready never touched by it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columnDrift, driftCheckIntervalMs, driftMarks, judgeDrift, type DriftReading } from '../../operator/src/monitoring/drift-judgement.ts';
import { computeStatus, transitionEvents } from '../../operator/src/controller/status.ts';
import { DRIFT_METRICS } from '../../contract/metric-names.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';

const { input, prediction } = DRIFT_METRICS;
const pod = (lines: string[]) => `# HELP x\n${lines.join('\n')}\n`;
const marks = driftMarks({ baseline: { uri: 'b.json' } });
const measured = (columns: Array<[('input' | 'prediction'), string | undefined, number]>): DriftReading =>
  ({ kind: 'measured', version: 'v1', pods: 2, columns: columns.map(([side, column, psi]) => ({ side, column, psi })) });

test("each column's PSI is its worst pod's; the worst of the unnamed columns counts only when worse than every named one", () => {
  const columns = columnDrift([
    pod([`${input.psi}{feature="input[0]"} 0.02`, `${input.psi}{feature="input[1]"} 0.30`, `${input.psiWorst} 0.30`, `${prediction.psi}{output="probabilities"} 0.05`]),
    pod([`${input.psi}{feature="input[0]"} 0.12`, `${input.psi}{feature="input[1]"} 0.10`, `${input.psiWorst} 0.45`, `${prediction.psiWorst} 0.05`]),
  ]);
  assert.deepEqual(columns, [
    { side: 'input', column: undefined, psi: 0.45 },
    { side: 'input', column: 'input[1]', psi: 0.30 },
    { side: 'input', column: 'input[0]', psi: 0.12 },
    { side: 'prediction', column: 'probabilities', psi: 0.05 },
  ]);
  assert.deepEqual(columnDrift([pod([`${input.psi}{feature="a"} NaN`, 'modelship_queue_depth 3'])]), [], 'not a number, or not a drift gauge: nothing');
});

test('the condition: True at the alert mark, a warning below it, no drift below the warning mark, Unknown without enough rows or pods', () => {
  assert.deepEqual(marks, { warnPsi: 0.1, alertPsi: 0.25, minRows: 500 }, 'the industry\'s usual marks by default');
  const alert = judgeDrift(measured([['input', 'input[3]', 0.41], ['prediction', 'probabilities', 0.27], ['input', 'input[0]', 0.12]]), marks);
  assert.equal(alert.status, 'True');
  assert.equal(alert.reason, 'DriftAlert');
  assert.match(alert.message, /input input\[3\] PSI 0\.41, prediction probabilities PSI 0\.27 at or above the alert mark 0\.25 \(version v1, 2 pods\)/);
  const warning = judgeDrift(measured([['input', 'input[0]', 0.12]]), marks);
  assert.deepEqual([warning.status, warning.reason], ['False', 'DriftWarning']);
  assert.match(warning.message, /input input\[0\] PSI 0\.12 at or above the warning mark 0\.10/);
  const calm = judgeDrift(measured([['input', 'input[0]', 0.03]]), marks);
  assert.deepEqual([calm.status, calm.reason], ['False', 'NoDrift']);
  assert.equal(calm.message, judgeDrift(measured([['input', 'input[0]', 0.07]]), marks).message, 'no moving numbers while calm: status is not rewritten every check');
  assert.deepEqual(judgeDrift(measured([]), marks).status, 'Unknown');
  assert.equal(judgeDrift(measured([]), marks).reason, 'InsufficientData');
  const unreadable = judgeDrift({ kind: 'unavailable', version: 'v1', reason: 'no ready pod' }, marks);
  assert.deepEqual([unreadable.status, unreadable.reason, unreadable.message], ['Unknown', 'MetricsUnavailable', 'cannot read the drift of version v1: no ready pod']);
  const custom = driftMarks({ baseline: { uri: 'b.json' }, drift: { warnPsi: 0.2, alertPsi: 0.5, minRows: 20 } });
  assert.equal(judgeDrift(measured([['input', 'x', 0.41]]), custom).reason, 'DriftWarning');
});

test('the pods are read every tenth of the drift window, between 10 s and 60 s', () => {
  assert.equal(driftCheckIntervalMs({ baseline: { uri: 'b' } }), 30_000);
  assert.equal(driftCheckIntervalMs({ baseline: { uri: 'b' }, drift: { windowSeconds: 10 } }), 10_000);
  assert.equal(driftCheckIntervalMs({ baseline: { uri: 'b' }, drift: { windowSeconds: 86400 } }), 60_000);
});

function statusWith(mdep: ModelDeployment, reading: DriftReading) {
  return computeStatus({
    mdep, invalid: [], desiredReplicas: 1, selector: '', url: '', now: '2026-12-01T21:00:00Z',
    workload: { replicas: 1, readyReplicas: 1, updatedReplicas: 1 },
    drift: judgeDrift(reading, marks),
  });
}

test('drift never makes Ready false, and Events tell a mark reached and drift resolved, not an unknown reading', () => {
  const mdep = modelDeployment('fraud', { model: { uri: 'm.onnx', version: 'v1' }, monitoring: { baseline: { uri: 'b.json' } } }) as unknown as ModelDeployment;
  const calm = statusWith(mdep, measured([['input', 'a', 0.01]]));
  const drifting = statusWith({ ...mdep, status: calm }, measured([['input', 'a', 0.6]]));
  const ready = (s: typeof calm) => s.conditions!.find((c) => c.type === 'Ready')!.status;
  const drift = (s: typeof calm) => s.conditions!.find((c) => c.type === 'Drifting')!;
  assert.equal(ready(calm), 'True');
  assert.equal(ready(drifting), 'True', 'a drifting model still serves: kstatus, Argo CD and Flux see it healthy');
  assert.equal(drift(drifting).status, 'True');
  const reasons = (before: typeof calm, after: typeof calm) => transitionEvents(before.conditions, after.conditions!).map((e) => `${e.type} ${e.reason}`);
  assert.deepEqual(reasons(calm, drifting), ['Warning DriftDetected']);
  assert.deepEqual(reasons(drifting, drifting), [], 'still drifting is not news');
  const resolved = statusWith({ ...mdep, status: drifting }, measured([['input', 'a', 0.02]]));
  assert.deepEqual(reasons(drifting, resolved), ['Normal DriftResolved']);
  const unknown = statusWith({ ...mdep, status: resolved }, { kind: 'unavailable', version: 'v1', reason: 'no ready pod' });
  assert.deepEqual(reasons(resolved, unknown), []);
  assert.equal(drift(unknown).status, 'Unknown');
  const withoutMonitoring = computeStatus({ mdep, invalid: [], desiredReplicas: 1, selector: '', url: '', now: '2026-12-01T21:00:00Z' });
  assert.equal(withoutMonitoring.conditions!.some((c) => c.type === 'Drifting'), false, 'no baseline, no condition');
});
