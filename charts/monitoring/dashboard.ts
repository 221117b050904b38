// The chart's Grafana dashboard, built from the contract's metric names and drift queries. The chart ships it
// as a ConfigMap with the label Grafana's Helm chart sidecar watches (grafana_dashboard: "1");
// test/control-plane/dashboard.test.ts runs every panel's queries against a real Prometheus scraping real
// servers and a real router, and each must return series.
import { ROUTER_METRICS, SERVER_METRICS, GATED_ROUTE } from '../../contract/metric-names.ts';
import { driftPsiQuery, predictionShiftQuery } from '../../contract/drift-queries.ts';

/** Grafana's template variables the queries use, with what the test substitutes for them. */
export const DASHBOARD_VARIABLES = ['namespace', 'model', 'stable', 'candidate', 'drift_window'] as const;

/** Label matchers of one model's server series, and of its router's (which Prometheus labels from its pod's labels). */
const SERVER = 'namespace=~"$namespace",model=~"$model"';
const ROUTER = 'namespace=~"$namespace",app_kubernetes_io_instance=~"$model"';
const RATE = '$__rate_interval';

export interface Panel {
  title: string;
  unit: string;
  /** PromQL with Grafana variables, and the legend of its series. */
  targets: Array<{ expr: string; legend: string }>;
}

const quantile = (q: number, histogram: string, matchers: string, by: string[]) =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${histogram}_bucket{${matchers}}[${RATE}])))`;

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
  ];
}

const variable = (name: string, query: string) => ({
  name, type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' }, query: { query, refId: name }, refresh: 2, includeAll: false, multi: false,
});

/** The dashboard as Grafana imports it (schemaVersion 39: Grafana 10 and 11). */
export function dashboard(): Record<string, unknown> {
  const panels = dashboardPanels().map((panel, i) => ({
    id: i + 1,
    type: 'timeseries',
    title: panel.title,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
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
