// `make generate` (also run by `make crds`): the chart's copies of files whose source lives elsewhere, so
// the chart installs exactly what the tests exercise. The CRD comes from the TypeScript schema; the RBAC
// from operator/rbac/operator-rbac.yaml with the release namespace in place of modelship-system.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { modelDeploymentCrdYaml } from '../operator/api/crd.ts';

const at = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const RBAC_SOURCE = at('../operator/rbac/operator-rbac.yaml');

export function chartRbac(source = readFileSync(RBAC_SOURCE, 'utf8')): string {
  return '# Generated from operator/rbac/operator-rbac.yaml by `make generate`. Do not edit.\n'
    + source.replaceAll('namespace: modelship-system', 'namespace: {{ .Release.Namespace }}');
}

export const CHART_FILES: Array<[string, () => string]> = [
  [at('./modelship/crds/modeldeployment.yaml'), modelDeploymentCrdYaml],
  [at('./modelship/templates/rbac.yaml'), () => chartRbac()],
];

if (import.meta.main) {
  for (const [path, render] of CHART_FILES) {
    writeFileSync(path, render());
    console.log(`wrote ${path}`);
  }
}
