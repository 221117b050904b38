// The chart's alerting rules (a PrometheusRule, prometheus-operator's CRD), built from the contract's metric
// names and drift queries so that a renamed series cannot leave an alert silently matching nothing.
// Thresholds are Helm values (monitoring.alerts in values.yaml), written into the rules as template
// expressions; `make generate` writes the template (charts/generate.ts), and test/control-plane/alerts.test.ts
// renders it with helm and runs `promtool test rules` on what comes out.
import { stringify } from 'yaml';
import { OPERATOR_METRICS, SERVER_ERROR_OUTCOMES, SERVER_METRICS } from '../../contract/metric-names.ts';
import { driftPsiQuery } from '../../contract/drift-queries.ts';
import { byModelDeployment } from './operator-series.ts';

/** Series of one version across its pods: the labels the alerts group and name it by. */
const VERSION = ['namespace', 'model', 'version'];
const by = (labels: string[]) => `by (${labels.join(', ')})`;
const value = (name: string) => `{{ .Values.monitoring.alerts.${name} }}`;

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'warning' | 'critical' };
  annotations: { summary: string; description: string };
}

export function alertRules(): AlertRule[] {
  const requests = (matcher = '') => `sum ${by(VERSION)} (rate(${SERVER_METRICS.inferenceRequests}{${matcher}}[5m]))`;
  const errors = `outcome=~"${SERVER_ERROR_OUTCOMES.join('|')}"`;
  return [
    {
      alert: 'ModelshipLatencyP99High',
      expr: `histogram_quantile(0.99, sum ${by([...VERSION, 'le'])} (rate(${SERVER_METRICS.requestDuration}_bucket[5m]))) > ${value('latencyP99Seconds')}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'p99 latency of {{ $labels.model }} {{ $labels.version }} above the SLO',
        description: 'p99 of successful requests in {{ $labels.namespace }} is {{ $value | humanizeDuration }} over 5 minutes.',
      },
    },
    {
      alert: 'ModelshipErrorRateHigh',
      expr: `${requests(errors)} / ${requests()} > ${value('errorRatio')}`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Requests to {{ $labels.model }} {{ $labels.version }} failing',
        description: '{{ $value | humanizePercentage }} of requests in {{ $labels.namespace }} failed (errors, timeouts, queue full, unavailable) over 5 minutes.',
      },
    },
    {
      alert: 'ModelshipQueueSaturated',
      expr: `avg ${by(VERSION)} (${SERVER_METRICS.queueDepth}) > ${value('queueDepth')}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Requests to {{ $labels.model }} {{ $labels.version }} keep queueing',
        description: '{{ $value }} requests wait per pod in {{ $labels.namespace }} for 10 minutes: the autoscaler is at its maximum or cannot add pods.',
      },
    },
    ...(['input', 'prediction'] as const).map((side): AlertRule => ({
      alert: side === 'input' ? 'ModelshipInputDrift' : 'ModelshipPredictionDrift',
      expr: `${driftPsiQuery(side, '1h', 'namespace!=""')} > ${value('driftPsi')}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: side === 'input'
          ? 'Inputs of {{ $labels.model }} {{ $labels.version }} drifted from its baseline'
          : 'Predictions of {{ $labels.model }} {{ $labels.version }} drifted from its baseline',
        description: `PSI of ${side === 'input' ? 'feature {{ $labels.feature }}' : 'output {{ $labels.output }}'} in {{ $labels.namespace }} is {{ $value | printf "%.3f" }} over the last hour (0.1: watch; 0.25: act).`,
      },
    })),
    {
      alert: 'ModelshipRolledBack',
      // By the ModelDeployment's namespace, whatever the scrape did with it; the operator's replicas summed.
      expr: `sum by (namespace, name) (${byModelDeployment((m) => `increase(${OPERATOR_METRICS.rollbacks}{${m}}[15m])`)}) > 0`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A rollout of {{ $labels.namespace }}/{{ $labels.name }} was rolled back',
        description: 'The candidate failed a rollout check; `kubectl describe mdep -n {{ $labels.namespace }} {{ $labels.name }}` says which.',
      },
    },
  ];
}

/**
 * The Helm template. Go templates read `{{ $labels.x }}` and `{{ $value }}` too, so the rules' own template
 * text (for Prometheus) is escaped as `{{"{{"}}`, while threshold values stay Helm expressions.
 */
export function prometheusRuleTemplate(): string {
  const escapeForHelm = (text: string) => text.replace(/\{\{(?! \.Values\.)/g, '{{"{{"}}');
  const rules = stringify([{ name: 'modelship', rules: alertRules() }], { lineWidth: 0 });
  return [
    '# Generated from charts/monitoring/alerts.ts by `make generate`. Do not edit.',
    '{{- if .Values.monitoring.prometheusRule.enabled }}',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: modelship',
    '  namespace: {{ .Release.Namespace }}',
    '  labels:',
    '    app.kubernetes.io/name: modelship-operator',
    '    app.kubernetes.io/instance: {{ .Release.Name }}',
    '    {{- with .Values.monitoring.prometheusRule.labels }}',
    '    {{- toYaml . | nindent 4 }}',
    '    {{- end }}',
    'spec:',
    '  groups:',
    escapeForHelm(rules).trimEnd().split('\n').map((line) => `    ${line}`).join('\n'),
    '{{- end }}',
    '',
  ].join('\n');
}
