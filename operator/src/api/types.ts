// TypeScript view of ModelDeployment. The spec's and the status's types are derived from
// operator/api/v1alpha1/schema.ts (the source of truth), so a field added there is a field the renderers
// see, with its type.
import type { DefaultedSpecFromSchema, ModelDeploymentSpecFromSchema, ModelDeploymentStatusFromSchema } from '../../api/v1alpha1/schema.ts';
import type { RolloutStatus } from '../rollout/types.ts';
export type ModelDeploymentSpec = ModelDeploymentSpecFromSchema;
/** The spec once the schema's defaults are in (as the API server stores it): a field with a default is present. */
export type DefaultedSpec = DefaultedSpecFromSchema;
export type GpuMode = NonNullable<NonNullable<ModelDeploymentSpec['gpu']>['mode']>;

/** status as the operator writes it; status.rollout is the rollout state machine's own. */
export type ModelDeploymentStatus = Omit<ModelDeploymentStatusFromSchema, 'rollout'> & { rollout?: RolloutStatus };
export type Condition = NonNullable<ModelDeploymentStatus['conditions']>[number];

export interface ModelDeployment<Spec = ModelDeploymentSpec> {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Spec;
  status?: ModelDeploymentStatus;
}

/** A ModelDeployment that passed validation, its defaults filled in. */
export type ValidModelDeployment = ModelDeployment<DefaultedSpec>;

/** An Event to tell about a ModelDeployment: a decision, or a problem worth the user's attention. */
export interface EventRecord {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}
