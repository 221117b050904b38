// The CustomResourceDefinition of ModelDeployment, rendered from the schema: a pure function, so the
// generated file, the tests and the chart all get the same object.
import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, VERSION, modelDeploymentSchema } from './v1alpha1/schema.ts';

export function modelDeploymentCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'modeldeployment', shortNames: ['mdep'], categories: ['all', 'modelship'] },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: modelDeploymentSchema },
        subresources: {
          status: {},
          // `kubectl scale mdep NAME --replicas N` sets the floor the autoscaler keeps.
          scale: { specReplicasPath: '.spec.scaling.minReplicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
        },
        additionalPrinterColumns: [
          { name: 'Version', type: 'string', jsonPath: '.spec.model.version', description: 'Model version in spec' },
          { name: 'Stable', type: 'string', jsonPath: '.status.stableVersion', description: 'Model version serving traffic' },
          { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready pods' },
          { name: 'GPU', type: 'string', jsonPath: '.spec.gpu.mode', description: 'GPU mode' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase' },
          { name: 'Rollout', type: 'string', jsonPath: '.status.rollout.phase', description: 'Rollout phase' },
          { name: 'Canary', type: 'integer', jsonPath: '.status.rollout.canaryWeight', description: 'Candidate traffic weight in percent' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
      }],
    },
  };
}

export const CRD_HEADER = '# Generated from operator/api/v1alpha1/schema.ts by `make crds`. Do not edit.\n';

export function modelDeploymentCrdYaml(): string {
  return CRD_HEADER + stringify(modelDeploymentCrd(), { lineWidth: 0 });
}
