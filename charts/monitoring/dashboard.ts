// The chart's Grafana dashboard, built from the contract's metric names and drift queries. The chart ships it
// as a ConfigMap with the label Grafana's Helm chart sidecar watches (grafana_dashboard: "1");
// test/control-plane/dashboard.test.ts runs every panel's queries against a real Prometheus scraping real
// servers, a real router and the real operator during a rollout, and each must return series.
import { OPERATOR_METRICS, ROLLOUT_PHASES, ROUTER_METRICS, SERVER_METRICS, GATED_ROUTE } from '../../contract/metric-names.ts';
import { driftPsiQuery, predictionShiftQuery } from '../../contract/drift-queries.ts';
import { byModelDeployment } from './operator-series.ts';

/** Grafana's template variables the queries use, with what the test substitutes for them. */
export const DASHBOARD_VARIABLES = ['namespace', 'model', 'stable', 'candidate', 'drift_window'] as const;

/** Label matchers of one model's server series, and of its router's (which Prometheus labels from its pod's labels). */
const SERVER = 'namespace=~"$namespace",model=~"$model"';
const ROUTER = 'namespace=~"$namespace",app_kubernetes_io_instance=~"$model"';
const RATE = '$__rate_interval';

export interface Panel {
  title: string;
  unit: string;
  /** Grafana's panel type (default timeseries). */
  type?: 'timeseries' | 'state-timeline';
  /** Values shown as text (and colour) instead of numbers. */
  valueTexts?: Record<number, { text: string; color: string }>;
  /** PromQL with Grafana variables, and the legend of its series. */
  targets: Array<{ expr: string; legend: string }>;
}

const quantile = (q: number, histogram: string, matchers: string, by: string[]) =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${histogram}_bucket{${matchers}}[${RATE}])))`;

/** `expr` over the operator's series of the chosen ModelDeployment (its name is the model's), the operator's replicas merged by `aggregate`. */
const operator = (aggregate: string, expr: (matchers: string) => string) =>
  `${aggregate} (${byModelDeployment((m) => expr(`${m},name=~"$model"`), '$namespace')})`;

/** A value by ModelDeployment with its rollout's stable and candidate versions as labels, from the info series. */
const withVersions = (byModel: string) =>
  `${byModel} * on (namespace, name) group_left (stable, candidate) topk by (namespace, name) (1, ${operator('max by (namespace, name, stable, candidate)', (m) => `${OPERATOR_METRICS.rolloutInfo}{${m}}`)})`;

/** The rollout phase as a number, 1 + its index in ROLLOUT_PHASES (the state set's series at 1, times its number). */
const rolloutPhaseNumber = () => `sum by (namespace, name) (${operator('max by (namespace, name, phase)',
  (m) => ROLLOUT_PHASES.map((phase, i) => `${OPERATOR_METRICS.rolloutPhase}{${m},phase="${phase}"} * ${i + 1}`).join(' or '))})`;

const PHASE_COLORS: Record<(typeof ROLLOUT_PHASES)[number], string> = {
  Initialized: 'blue', Progressing: 'yellow', Shadowing: 'purple', Promoting: 'light-green', Succeeded: 'green', RolledBack: 'red', Aborted: 'orange', ABTesting: 'text',
};

export function dashboardPanels(): Panel[] {
  return [
    {
      title: 'Queue depth per pod (the autoscaling signal)', unit: 'short',
      targets: [{ expr: `${SERVER_METRICS.queueDepth}{${SERVER}}`, legend: '{{version}} {{pod}}' }],
    },
    {
      title: 'Latency of successful requests (p50, p95, p99)', unit: 's',
      targets: [0.5, 0.95, 0.99].map((q) => ({ expr: quantile(q, SERVER_METRICS.requestDuration, SERVER, ['version']), legend: `{{version}} p${Math.round(q * 100)}` })),
    },
    {
      title: 'Requests per second by outcome', unit: 'reqps',
      targets: [{ expr: `sum by (version, outcome) (rate(${SERVER_METRICS.inferenceRequests}{${SERVER}}[${RATE}]))`, legend: '{{version}} {{outcome}}' }],
    },
    {
      title: 'Rows per batch', unit: 'short',
      targets: [
        { expr: `sum by (version) (rate(modelship_batch_size_sum{${SERVER}}[${RATE}])) / sum by (version) (rate(modelship_batch_size_count{${SERVER}}[${RATE}]))`, legend: '{{version}} mean' },
        { expr: quantile(0.99, 'modelship_batch_size', SERVER, ['version']), legend: '{{version}} p99' },
      ],
    },
    {
      title: 'Traffic share by version (the router\'s weighted requests)', unit: 'percentunit',
      targets: [{
        expr: `sum by (version) (rate(${ROUTER_METRICS.requests}{${ROUTER},route="${GATED_ROUTE}"}[${RATE}])) / ignoring (version) group_left sum (rate(${ROUTER_METRICS.requests}{${ROUTER},route="${GATED_ROUTE}"}[${RATE}]))`,
        legend: '{{version}}',
      }],
    },
    {
      title: 'Shadow agreement (top-1 class) and divergence', unit: 'percentunit',
      targets: [
        { expr: `sum by (primary, shadow) (rate(${ROUTER_METRICS.shadowTop1Agreements}{${ROUTER}}[${RATE}])) / sum by (primary, shadow) (rate(${ROUTER_METRICS.shadowTop1Rows}{${ROUTER}}[${RATE}]))`, legend: '{{shadow}} vs {{primary}} agreement' },
        { expr: quantile(0.99, ROUTER_METRICS.shadowMaxAbsDiff, ROUTER, ['primary', 'shadow']), legend: '{{shadow}} vs {{primary}} p99 max abs difference' },
      ],
    },
    {
      title: 'Input drift: PSI per feature against the baseline (0.1 watch, 0.25 act)', unit: 'short',
      targets: [{ expr: driftPsiQuery('input', '$drift_window', SERVER), legend: '{{version}} {{feature}}' }],
    },
    {
      title: 'Prediction drift: PSI per output against the baseline', unit: 'short',
      targets: [{ expr: driftPsiQuery('prediction', '$drift_window', SERVER), legend: '{{version}} {{output}}' }],
    },
    {
      title: 'Prediction shift: the candidate\'s predictions against the stable version\'s (PSI)', unit: 'short',
      targets: [{ expr: predictionShiftQuery('$drift_window', `${SERVER},version=~"$candidate"`, `${SERVER},version=~"$stable"`), legend: '{{output}}' }],
    },
    {
      title: 'Rollout phase (stable → candidate)', unit: 'none', type: 'state-timeline',
      valueTexts: Object.fromEntries(ROLLOUT_PHASES.map((phase, i) => [i + 1, { text: phase, color: PHASE_COLORS[phase] }])),
      targets: [{ expr: withVersions(rolloutPhaseNumber()), legend: '{{namespace}}/{{name}} {{stable}} → {{candidate}}' }],
    },
    {
      title: 'Rollout: the candidate\'s share of traffic, and of requests copied to it while it shadows', unit: 'percent',
      targets: [
        { expr: withVersions(operator('max by (namespace, name)', (m) => `${OPERATOR_METRICS.rolloutCanaryWeight}{${m}}`)), legend: '{{namespace}}/{{name}} {{candidate}} weight' },
        { expr: withVersions(operator('max by (namespace, name)', (m) => `${OPERATOR_METRICS.rolloutShadowPercent}{${m}}`)), legend: '{{namespace}}/{{name}} {{candidate}} shadow' },
      ],
    },
    {
      title: 'Rollout: failed checks of the candidate (failureThreshold of them roll it back)', unit: 'short',
      targets: [{ expr: withVersions(operator('max by (namespace, name)', (m) => `${OPERATOR_METRICS.rolloutFailedChecks}{${m}}`)), legend: '{{namespace}}/{{name}} {{candidate}}' }],
    },
    {
      title: 'Candidates rolled back', unit: 'short',
      targets: [{ expr: operator('sum by (namespace, name)', (m) => `increase(${OPERATOR_METRICS.rollbacks}{${m}}[${RATE}])`), legend: '{{namespace}}/{{name}}' }],
    },
  ];
}

const variable = (name: string, query: string) => ({
  name, type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' }, query: { query, refId: name }, refresh: 2, includeAll: false, multi: false,
});

/** The dashboard as Grafana imports it (schemaVersion 39: Grafana 10 and 11). */
export function dashboard(): Record<string, unknown> {
  const panels = dashboardPanels().map((panel, i) => ({
    id: i + 1,
    type: panel.type ?? 'timeseries',
    title: panel.title,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        ...(panel.valueTexts ? { mappings: [{ type: 'value', options: Object.fromEntries(Object.entries(panel.valueTexts).map(([value, shown], index) => [value, { ...shown, index }])) }] } : {}),
      },
      overrides: [],
    },
    targets: panel.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend })),
  }));
  return {
    uid: 'modelship', title: 'modelship: model serving', schemaVersion: 39, tags: ['modelship'], timezone: 'browser',
    time: { from: 'now-1h', to: 'now' }, refresh: '30s',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus' },
        variable('namespace', `label_values(${SERVER_METRICS.queueDepth}, namespace)`),
        variable('model', `label_values(${SERVER_METRICS.queueDepth}{namespace=~"$namespace"}, model)`),
        variable('stable', `label_values(${SERVER_METRICS.queueDepth}{namespace=~"$namespace",model=~"$model"}, version)`),
        variable('candidate', `label_values(${SERVER_METRICS.queueDepth}{namespace=~"$namespace",model=~"$model"}, version)`),
        { name: 'drift_window', type: 'custom', query: '15m,1h,6h,24h', current: { text: '1h', value: '1h' } },
      ],
    },
    panels,
  };
}

/** The Helm template: Grafana's `{{version}}` legends are escaped, as Helm would read them too. */
export function dashboardConfigMapTemplate(): string {
  const json = JSON.stringify(dashboard(), null, 2).replace(/\{\{/g, '{{"{{"}}');
  return [
    '# Generated from charts/monitoring/dashboard.ts by `make generate`. Do not edit.',
    '{{- if .Values.monitoring.grafanaDashboard.enabled }}',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: modelship-dashboard',
    '  namespace: {{ .Values.monitoring.grafanaDashboard.namespace | default .Release.Namespace }}',
    '  labels:',
    '    grafana_dashboard: "1"',
    '    app.kubernetes.io/name: modelship-operator',
    '    app.kubernetes.io/instance: {{ .Release.Name }}',
    'data:',
    '  modelship.json: |',
    json.split('\n').map((line) => `    ${line}`).join('\n'),
    '{{- end }}',
    '',
  ].join('\n');
}
