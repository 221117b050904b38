// The numbers of the prediction-shift gate (spec.rollout.analysis.maxPredictionShift): per model output, how
// far the candidate's predictions moved from the stable version's over the same window, as the PSI of the
// candidate's shares of the baseline's bins against the stable's (contract/psi.ts, the server's own
// definition, each share floored as it floors them). Both versions' servers load the same baseline, so they
// count into the same bins. Pure: the counts come from the servers' /metrics (metric-samples.ts), or the
// PSI from Prometheus (contract/drift-queries.ts).
import { DRIFT_COLUMN_LABELS, DRIFT_METRICS } from '../../../contract/metric-names.ts';
import { psi, shares } from '../../../contract/psi.ts';
import type { Snapshot } from './metric-samples.ts';
import type { PredictionShift, RolloutSpec, RolloutStatus } from './types.ts';

/** Rows per bin of each output of one version over a window: output -> bin -> rows. */
export type PredictionCounts = Map<string, Map<string, number>>;

/**
 * Whether a check judges the prediction shift: only where the gate is set, and only while the stable
 * version serves traffic to compare with (shadowing, or a canary step below 100%; at 100% the stable
 * version predicts nothing, and the steps before judged the shift). A/B tests only observe.
 */
export function predictionShiftApplies(rollout: RolloutSpec | undefined, status: RolloutStatus): boolean {
  if (rollout?.analysis?.maxPredictionShift === undefined || !status.candidate) return false;
  if (status.phase === 'Shadowing') return true;
  return status.phase === 'Progressing' && (status.step ?? -1) >= 0 && status.canaryWeight < 100;
}

/** The prediction bin counters of one version's server pods over a window, summed across its pods. */
export function predictionCounts(window: Snapshot): PredictionCounts {
  const outputLabel = DRIFT_COLUMN_LABELS.prediction;
  const counts: PredictionCounts = new Map();
  for (const { name, labels, value } of window.values()) {
    const output = labels[outputLabel];
    if (name !== DRIFT_METRICS.prediction.bins || output === undefined || labels.bin === undefined || !(value >= 0)) continue;
    const bins = counts.get(output) ?? new Map<string, number>();
    bins.set(labels.bin, (bins.get(labels.bin) ?? 0) + value);
    counts.set(output, bins);
  }
  return counts;
}

const total = (bins: Map<string, number> | undefined) => [...(bins?.values() ?? [])].reduce((a, b) => a + b, 0);

/** Each output either version counted, with the PSI of the candidate's shares against the stable's. */
export function outputShifts(candidate: PredictionCounts, stable: PredictionCounts): PredictionShift[] {
  const outputs = [...new Set([...candidate.keys(), ...stable.keys()])].sort();
  return outputs.map((output) => {
    const c = candidate.get(output);
    const s = stable.get(output);
    const candidateRows = total(c);
    const stableRows = total(s);
    // Both over the same bins: a bin only one side counted in is 0 on the other (floored by psi()).
    const bins = [...new Set([...(c?.keys() ?? []), ...(s?.keys() ?? [])])];
    const value = candidateRows > 0 && stableRows > 0
      ? psi(shares(bins.map((b) => s!.get(b) ?? 0)), bins.map((b) => c!.get(b) ?? 0))
      : null;
    return { output, psi: value, candidateRows, stableRows };
  });
}

/**
 * The shift a check judges: the worst output among those with at least `minRows` rows on both sides
 * (judged: true). When none has, not judged, and the output nearest to enough rows (to say why).
 * Undefined when neither version counted any prediction.
 */
export function judgedShift(shifts: PredictionShift[], minRows: number): { judged: boolean; shift: PredictionShift } | undefined {
  const enough = shifts.filter((s) => s.psi !== null && s.candidateRows >= minRows && s.stableRows >= minRows);
  if (enough.length > 0) return { judged: true, shift: enough.reduce((worst, s) => (s.psi! > worst.psi! ? s : worst)) };
  if (shifts.length === 0) return undefined;
  const fewest = (s: PredictionShift) => Math.min(s.candidateRows, s.stableRows);
  return { judged: false, shift: shifts.reduce((nearest, s) => (fewest(s) > fewest(nearest) ? s : nearest)) };
}
