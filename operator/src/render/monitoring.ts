// The server settings of spec.monitoring (drift against a baseline, prediction logging). Pure.
import type { MONITORING_OPTIONS } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment } from '../api/types.ts';
import type { BaselineSource } from './model-source.ts';

export type MonitoringSettings = Record<typeof MONITORING_OPTIONS[number], string | number | undefined>;

/** Unset fields stay unset: the server's own defaults apply (the same numbers the schema documents). */
export function monitoringSettings(monitoring: ModelDeployment['spec']['monitoring'], baseline: BaselineSource | undefined): MonitoringSettings {
  const drift = monitoring?.baseline ? monitoring.drift : undefined;
  const log = monitoring?.predictionLog;
  return {
    baseline: baseline?.baseline,
    baselineSha256: baseline ? monitoring?.baseline?.sha256 : undefined,
    driftWindowSeconds: drift?.windowSeconds,
    driftMinRows: drift?.minRows,
    driftSampleRate: drift?.sampleRate,
    predictionLog: log?.sink,
    predictionLogSampleRate: log?.sampleRate,
    predictionLogInputElements: log?.inputElements,
  };
}
