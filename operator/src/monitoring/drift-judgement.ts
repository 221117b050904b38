// The Drifting condition from what the model servers measure: each pod exports, per feature and per output,
// PSI over its own sliding window (modelship_drift_*_psi, only once the window holds driftMinRows rows). The
// deployment's drift is each column's largest PSI over the stable version's pods, judged against
// spec.monitoring.drift's marks. Pure: expositions in, a condition out (drift-watch.ts reads the pods).
import { DRIFT_COLUMN_LABELS, DRIFT_METRICS, type DriftSide } from '../../../contract/metric-names.ts';
import { addExposition, type Snapshot } from '../rollout/metric-samples.ts';
import type { ModelDeployment } from '../api/types.ts';
import { DRIFT_DEFAULTS } from '../../api/v1alpha1/schema.ts';

/** One column's drift: the largest PSI any pod reports for it. */
export interface ColumnDrift {
  side: DriftSide;
  /** The feature or output label; undefined for the worst of the columns past driftMaxFeatures. */
  column?: string;
  psi: number;
}

/** What the stable version's pods said, or why nothing could be read. */
export type DriftReading =
  | { kind: 'unavailable'; version: string; reason: string }
  | { kind: 'measured'; version: string; pods: number; columns: ColumnDrift[] };

export interface DriftMarks {
  warnPsi: number;
  alertPsi: number;
  minRows: number;
}

export interface DriftCondition {
  status: 'True' | 'False' | 'Unknown';
  reason: 'DriftAlert' | 'DriftWarning' | 'NoDrift' | 'InsufficientData' | 'MetricsUnavailable';
  message: string;
}

/** The per-column PSI gauges of the pods' expositions, each column's largest value across pods. */
export function columnDrift(expositions: string[]): ColumnDrift[] {
  const snapshot: Snapshot = new Map();
  const names = new Set<string>(Object.values(DRIFT_METRICS).flatMap((m) => (typeof m === 'string' ? [] : [m.psi, m.psiWorst])));
  // Each pod apart (source), so gauges are compared across pods instead of summed.
  expositions.forEach((text, pod) => addExposition(snapshot, text, (name) => names.has(name), String(pod)));
  const worst = new Map<string, ColumnDrift>();
  const named = { input: 0, prediction: 0 };
  for (const side of Object.keys(DRIFT_COLUMN_LABELS) as DriftSide[]) {
    const metric = DRIFT_METRICS[side];
    for (const { name, labels, value } of snapshot.values()) {
      if (!Number.isFinite(value) || (name !== metric.psi && name !== metric.psiWorst)) continue;
      const column = name === metric.psi ? labels[DRIFT_COLUMN_LABELS[side]] : undefined;
      if (name === metric.psi) named[side] = Math.max(named[side], value);
      const key = `${side}/${column ?? ''}`;
      if ((worst.get(key)?.psi ?? -Infinity) < value) worst.set(key, { side, column, psi: value });
    }
  }
  // psi_worst covers every column, the named ones too: it adds a column only when an unnamed one is worse.
  return [...worst.values()].filter((c) => c.column !== undefined || c.psi > named[c.side]).sort((a, b) => b.psi - a.psi);
}

const fmt = (psi: number) => psi.toFixed(2);
const describe = (c: ColumnDrift) => `${c.side} ${c.column ?? '(a column past driftMaxFeatures)'} PSI ${fmt(c.psi)}`;
/** At most this many columns are named in the message (the metrics have them all). */
const NAMED = 3;

export function judgeDrift(reading: DriftReading, marks: DriftMarks): DriftCondition {
  if (reading.kind === 'unavailable') {
    return { status: 'Unknown', reason: 'MetricsUnavailable', message: `cannot read the drift of version ${reading.version}: ${reading.reason}` };
  }
  const { columns, version, pods } = reading;
  const of = `version ${version}, ${pods} pod${pods === 1 ? '' : 's'}`;
  if (columns.length === 0) {
    return { status: 'Unknown', reason: 'InsufficientData', message: `fewer than ${marks.minRows} rows in the drift window of version ${version}` };
  }
  const alerting = columns.filter((c) => c.psi >= marks.alertPsi);
  if (alerting.length > 0) {
    return { status: 'True', reason: 'DriftAlert', message: `${alerting.slice(0, NAMED).map(describe).join(', ')}${alerting.length > NAMED ? ` and ${alerting.length - NAMED} more` : ''} at or above the alert mark ${fmt(marks.alertPsi)} (${of})` };
  }
  const warning = columns.filter((c) => c.psi >= marks.warnPsi);
  if (warning.length > 0) {
    return { status: 'False', reason: 'DriftWarning', message: `${warning.slice(0, NAMED).map(describe).join(', ')}${warning.length > NAMED ? ` and ${warning.length - NAMED} more` : ''} at or above the warning mark ${fmt(marks.warnPsi)} (${of})` };
  }
  // No numbers here: they move with every window, and a status that is written only when it changes should not.
  return { status: 'False', reason: 'NoDrift', message: `every feature and output of version ${version} below PSI ${fmt(marks.warnPsi)}` };
}

type Monitoring = ModelDeployment['spec']['monitoring'];

/** The marks of spec.monitoring.drift, the schema's defaults where unset. */
export function driftMarks(monitoring: Monitoring): DriftMarks {
  const drift = monitoring?.drift;
  return { warnPsi: drift?.warnPsi ?? DRIFT_DEFAULTS.warnPsi, alertPsi: drift?.alertPsi ?? DRIFT_DEFAULTS.alertPsi, minRows: drift?.minRows ?? DRIFT_DEFAULTS.minRows };
}

/**
 * How often the pods are read: a tenth of the drift window, between 10 s and 60 s (a 5-minute window is
 * read every 30 s). The PSI gauges move with the window, so reading faster says little more.
 */
export function driftCheckIntervalMs(monitoring: Monitoring): number {
  const windowSeconds = monitoring?.drift?.windowSeconds ?? DRIFT_DEFAULTS.windowSeconds;
  return Math.min(60_000, Math.max(10_000, windowSeconds * 100));
}
