// PromQL over the operator's series by ModelDeployment (OPERATOR_METRICS), whatever the scrape did to their
// `namespace` label. The operator exports the ModelDeployment's namespace as `namespace`; a scrape with
// honor_labels keeps it, but the usual pod scrape (the kubernetes-pods job that reads the chart's
// prometheus.io annotations, as cluster/addons.ts configures it, or a PodMonitor) sets `namespace` to the
// operator pod's own and keeps the ModelDeployment's as `exported_namespace`.

/**
 * `expr(matchers)` over the operator's series of the ModelDeployments in the namespaces `namespace` (a
 * regex) matches, with `namespace` the ModelDeployment's in either case. `expr` must keep each series'
 * labels (a selector, rate, increase); the caller aggregates by the labels it wants, which also merges the
 * operator's replicas.
 */
export function byModelDeployment(expr: (matchers: string) => string, namespace = '.+'): string {
  const exported = expr(`exported_namespace=~"${namespace}"`);
  const kept = expr(`exported_namespace="",namespace=~"${namespace}"`);
  return `label_replace(${exported} or ${kept}, "namespace", "$1", "exported_namespace", "(.+)")`;
}
