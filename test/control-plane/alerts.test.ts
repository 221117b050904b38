// The chart's alerting rules, as `helm template` renders them (thresholds from values), checked and
// unit-tested by promtool from the Prometheus release the project builds: each alert fires on series that
// break its threshold, with the labels and annotations a person reads, and stays silent on healthy ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { ensureKubeBinaries, ensurePromtool } from '../../cluster/upstream-binaries.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
const V1 = { namespace: 'ml', model: 'fraud', version: 'v1' };
const V2 = { namespace: 'ml', model: 'fraud', version: 'v2' };
const series = (name: string, labels: Record<string, string>) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

function renderRules(setJson: string[] = []): unknown {
  const rendered = execFileSync(ensureKubeBinaries().helm, ['template', 'modelship', CHART, '--set', 'monitoring.prometheusRule.enabled=true', ...setJson.flatMap((s) => ['--set-json', s]),
    '--show-only', 'templates/prometheusrule.yaml'], { encoding: 'utf8' });
  const rule = parseAllDocuments(rendered).map((d) => d.toJS()).find((d) => d?.kind === 'PrometheusRule');
  assert.ok(rule, 'the chart renders a PrometheusRule when monitoring.prometheusRule.enabled');
  return { groups: rule.spec.groups };
}

/** Runs promtool on the rules and the tests; resolves with its output, fails the test with it on failure. */
function promtool(rules: unknown, tests: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-alerts-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify(rules));
    writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
    const check = spawnSync(ensurePromtool(), ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check rules:\n${check.stdout}${check.stderr}`);
    const run = spawnSync(ensurePromtool(), ['test', 'rules', 'tests.yaml'], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, `promtool test rules:\n${run.stdout}${run.stderr}`);
    return run.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the rendered rules pass promtool check, and an alert fires only past its threshold, with what a person reads', () => {
  const requests = 'modelship_inference_requests_total';
  const bucket = 'modelship_request_duration_seconds_bucket';
  promtool(renderRules(), [
    {
      interval: '1m',
      input_series: [
        // v1: 5 failures per 100 successes a minute; v2: none.
        { series: series(requests, { ...V1, outcome: 'success', pod: 'a' }), values: '0+100x30' },
        { series: series(requests, { ...V1, outcome: 'error', pod: 'a' }), values: '0+5x30' },
        { series: series(requests, { ...V2, outcome: 'success', pod: 'b' }), values: '0+100x30' },
        { series: series(requests, { ...V2, outcome: 'bad_request', pod: 'b' }), values: '0+50x30' },
      ],
      alert_rule_test: [
        { eval_time: '4m', alertname: 'ModelshipErrorRateHigh', exp_alerts: [] },
        {
          eval_time: '20m', alertname: 'ModelshipErrorRateHigh',
          exp_alerts: [{
            exp_labels: { severity: 'critical', ...V1 },
            exp_annotations: { summary: 'Requests to fraud v1 failing', description: '4.762% of requests in ml failed (errors, timeouts, queue full, unavailable) over 5 minutes.' },
          }],
        },
      ],
    },
    {
      interval: '1m',
      input_series: [
        // v1: every request in the 1 s bucket (p99 about 1 s); v2: every one under 50 ms.
        ...[['0.05', '0'], ['0.5', '0'], ['1', '60'], ['+Inf', '60']].map(([le, perMinute]) => ({ series: series(bucket, { ...V1, le, pod: 'a' }), values: `0+${perMinute}x30` })),
        ...[['0.05', '60'], ['0.5', '60'], ['1', '60'], ['+Inf', '60']].map(([le, perMinute]) => ({ series: series(bucket, { ...V2, le, pod: 'b' }), values: `0+${perMinute}x30` })),
      ],
      alert_rule_test: [{
        eval_time: '20m', alertname: 'ModelshipLatencyP99High',
        exp_alerts: [{
          exp_labels: { severity: 'warning', ...V1 },
          exp_annotations: { summary: 'p99 latency of fraud v1 above the SLO', description: 'p99 of successful requests in ml is 995ms over 5 minutes.' },
        }],
      }],
    },
    {
      interval: '1m',
      input_series: [
        { series: series('modelship_queue_depth', { ...V1, pod: 'a' }), values: '40x30' },
        { series: series('modelship_queue_depth', { ...V1, pod: 'b' }), values: '30x30' },
        { series: series('modelship_queue_depth', { ...V2, pod: 'c' }), values: '20x30' },
      ],
      alert_rule_test: [
        { eval_time: '5m', alertname: 'ModelshipQueueSaturated', exp_alerts: [] },
        {
          eval_time: '15m', alertname: 'ModelshipQueueSaturated',
          exp_alerts: [{
            exp_labels: { severity: 'warning', ...V1 },
            exp_annotations: { summary: 'Requests to fraud v1 keep queueing', description: '35 requests wait per pod in ml for 10 minutes: the autoscaler is at its maximum or cannot add pods.' },
          }],
        },
      ],
    },
    {
      interval: '1m',
      input_series: [
        // Baseline: half the rows in each bin. v1 now puts 90% in bin 0 (PSI 0.879); v2 stays at half.
        ...['0', '1'].flatMap((bin) => [V1, V2].map((v) => ({ series: series('modelship_drift_input_baseline_ratio', { ...v, feature: 'input[0]', bin, pod: v.version }), values: '0.5x90' }))),
        { series: series('modelship_drift_input_bin_total', { ...V1, feature: 'input[0]', bin: '0', pod: 'v1' }), values: '0+90x90' },
        { series: series('modelship_drift_input_bin_total', { ...V1, feature: 'input[0]', bin: '1', pod: 'v1' }), values: '0+10x90' },
        { series: series('modelship_drift_input_bin_total', { ...V2, feature: 'input[0]', bin: '0', pod: 'v2' }), values: '0+50x90' },
        { series: series('modelship_drift_input_bin_total', { ...V2, feature: 'input[0]', bin: '1', pod: 'v2' }), values: '0+50x90' },
      ],
      alert_rule_test: [{
        eval_time: '80m', alertname: 'ModelshipInputDrift',
        exp_alerts: [{
          exp_labels: { severity: 'warning', ...V1, feature: 'input[0]' },
          exp_annotations: { summary: 'Inputs of fraud v1 drifted from its baseline', description: 'PSI of feature input[0] in ml is 0.879 over the last hour (0.1: watch; 0.25: act).' },
        }],
      }],
    },
    {
      interval: '1m',
      input_series: [
        // As a scrape that honours the operator's labels stores it, and as the usual pod scrape does: the
        // operator pod's namespace as `namespace`, the ModelDeployment's as `exported_namespace`.
        { series: series('modelship_operator_rollbacks_total', { namespace: 'ml', name: 'churn' }), values: '0x10 1x20' },
        { series: series('modelship_operator_rollbacks_total', { namespace: 'modelship-system', exported_namespace: 'shop', name: 'ranker', pod: 'modelship-operator-0' }), values: '0x10 1x20' },
      ],
      alert_rule_test: [
        { eval_time: '5m', alertname: 'ModelshipRolledBack', exp_alerts: [] },
        {
          eval_time: '15m', alertname: 'ModelshipRolledBack',
          exp_alerts: [{
            exp_labels: { severity: 'warning', namespace: 'ml', name: 'churn' },
            exp_annotations: { summary: 'A rollout of ml/churn was rolled back', description: 'The candidate failed a rollout check; `kubectl describe mdep -n ml churn` says which.' },
          }, {
            exp_labels: { severity: 'warning', namespace: 'shop', name: 'ranker' },
            exp_annotations: { summary: 'A rollout of shop/ranker was rolled back', description: 'The candidate failed a rollout check; `kubectl describe mdep -n shop ranker` says which.' },
          }],
        },
        { eval_time: '29m', alertname: 'ModelshipRolledBack', exp_alerts: [] },
      ],
    },
  ]);
});

test('thresholds come from the chart\'s values: an error rate under the default fires under a stricter one', () => {
  const requests = 'modelship_inference_requests_total';
  const tests = (expected: unknown[]) => [{
    interval: '1m',
    input_series: [
      { series: series(requests, { ...V1, outcome: 'success', pod: 'a' }), values: '0+1000x30' },
      { series: series(requests, { ...V1, outcome: 'timeout', pod: 'a' }), values: '0+5x30' },
    ],
    alert_rule_test: [{ eval_time: '20m', alertname: 'ModelshipErrorRateHigh', exp_alerts: expected }],
  }];
  promtool(renderRules(), tests([]));
  promtool(renderRules(['monitoring.alerts.errorRatio=0.001']), tests([{
    exp_labels: { severity: 'critical', ...V1 },
    exp_annotations: { summary: 'Requests to fraud v1 failing', description: '0.4975% of requests in ml failed (errors, timeouts, queue full, unavailable) over 5 minutes.' },
  }]));
});

test('without monitoring.prometheusRule.enabled the chart renders no PrometheusRule (its CRD may not exist)', () => {
  const rendered = execFileSync(ensureKubeBinaries().helm, ['template', 'modelship', CHART], { encoding: 'utf8' });
  const kinds = parseAllDocuments(rendered).map((d) => d.toJS()?.kind).filter(Boolean);
  assert.ok(kinds.includes('Deployment'), 'the chart renders');
  assert.ok(!kinds.includes('PrometheusRule'));
});
