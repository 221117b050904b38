// TypeScript view of ModelDeployment, matching operator/api/v1alpha1/schema.ts (the schema is the source
// of truth; these types are what the renderers read after defaults are applied).
export type GpuMode = 'none' | 'full' | 'mig' | 'timeSliced';

export interface ModelDeploymentSpec {
  model: { uri: string; sha256?: string; version: string };
  runtime?: {
    image?: string;
    maxBatchSize?: number;
    maxQueueDelayMs?: number;
    maxQueueSize?: number;
    timeoutMs?: number;
    instances?: number;
    intraOpThreads?: number;
    env?: Array<{ name: string; value?: string }>;
  };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  gpu?: {
    mode?: GpuMode;
    count?: number;
    profile?: string;
    product?: string;
    nodeSelector?: Record<string, string>;
    tolerations?: Array<Record<string, unknown>>;
  };
  scaling?: {
    minReplicas?: number;
    maxReplicas?: number;
    targetQueueDepth?: number;
    engine?: 'hpa' | 'keda';
    behavior?: Record<string, unknown>;
  };
  rollout?: Record<string, unknown>;
}

export interface ModelDeployment {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; labels?: Record<string, string> };
  spec: ModelDeploymentSpec;
  status?: Record<string, unknown>;
}
