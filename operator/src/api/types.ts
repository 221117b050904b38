// TypeScript view of ModelDeployment. The spec's type is derived from operator/api/v1alpha1/schema.ts (the
// source of truth), so a field added there is a field the renderers see, with its type.
import type { ModelDeploymentSpecFromSchema } from '../../api/v1alpha1/schema.ts';
export type ModelDeploymentSpec = ModelDeploymentSpecFromSchema;
export type GpuMode = NonNullable<NonNullable<ModelDeploymentSpec['gpu']>['mode']>;

export interface ModelDeployment {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; labels?: Record<string, string> };
  spec: ModelDeploymentSpec;
  status?: Record<string, unknown>;
}
