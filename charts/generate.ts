// `make generate` (also run by `make crds`): the chart's copies of files whose source lives elsewhere, so
// the chart installs exactly what the tests exercise. The CRD comes from the TypeScript schema, the alerting
// rules and the Grafana dashboard from charts/monitoring/; the RBAC
// from operator/rbac/operator-rbac.yaml with the release namespace in place of modelship-system, and its
// namespaced part (the modelship-operator ClusterRole and binding) as a Role and RoleBinding in each of
// `watchNamespaces` when that value is set.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { modelDeploymentCrdYaml } from '../operator/api/crd.ts';
import { prometheusRuleTemplate } from './monitoring/alerts.ts';
import { dashboardConfigMapTemplate } from './monitoring/dashboard.ts';

const at = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const RBAC_SOURCE = at('../operator/rbac/operator-rbac.yaml');

/** The same rules, granted in one namespace: a Role and RoleBinding in `namespace`, named as before. */
function inNamespace(document: string, namespace: string): string {
  const named = (kind: string) => `kind: ${kind}\nmetadata:\n  name: modelship-operator\n`;
  return document
    .replace(named('ClusterRoleBinding'), `${named('RoleBinding')}  namespace: ${namespace}\n`)
    .replace(named('ClusterRole'), `${named('Role')}  namespace: ${namespace}\n`)
    .replace('  kind: ClusterRole\n  name: modelship-operator\n', '  kind: Role\n  name: modelship-operator\n');
}

export function chartRbac(source = readFileSync(RBAC_SOURCE, 'utf8')): string {
  const documents = source.replaceAll('namespace: modelship-system', 'namespace: {{ $.Release.Namespace }}').split(/^---\n/m);
  const namespacedPart = (d: string) => /^kind: ClusterRole(Binding)?\nmetadata:\n  name: modelship-operator\n/m.test(d);
  const namespaced = documents.filter(namespacedPart);
  if (namespaced.length !== 2) throw new Error(`${RBAC_SOURCE}: expected the modelship-operator ClusterRole and ClusterRoleBinding`);
  const [header, ...rest] = documents.filter((d) => !namespacedPart(d));
  return [
    '# Generated from operator/rbac/operator-rbac.yaml by `make generate`. Do not edit.\n',
    header,
    '{{- if .Values.watchNamespaces }}\n{{- range $namespace := .Values.watchNamespaces }}\n---\n',
    namespaced.map((d) => inNamespace(d, '{{ $namespace }}')).join('---\n'),
    '{{- end }}\n{{- else }}\n---\n',
    namespaced.join('---\n'),
    '{{- end }}\n---\n',
    rest.join('---\n'),
  ].join('');
}

export const CHART_FILES: Array<[string, () => string]> = [
  [at('./modelship/crds/modeldeployment.yaml'), modelDeploymentCrdYaml],
  [at('./modelship/templates/rbac.yaml'), () => chartRbac()],
  [at('./modelship/templates/prometheusrule.yaml'), prometheusRuleTemplate],
  [at('./modelship/templates/grafana-dashboard.yaml'), dashboardConfigMapTemplate],
];

if (import.meta.main) {
  for (const [path, render] of CHART_FILES) {
    writeFileSync(path, render());
    console.log(`wrote ${path}`);
  }
}
