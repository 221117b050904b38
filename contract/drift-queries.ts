// PromQL over the server's drift counters (DRIFT_METRICS), for whoever reads drift across pods and over any
// window: the operator (a Drifting condition, a rollout gate on prediction shift), recording rules and
// dashboards. PSI is sum over bins of (live - reference) * ln(live / reference) with each share floored at
// PSI_SHARE_FLOOR, as psi.ts computes it for the server's window gauge and the operator's gate, so all give
// the same number over the same rows.
import { DRIFT_COLUMN_LABELS, DRIFT_METRICS, type DriftSide } from './metric-names.ts';
import { PSI_SHARE_FLOOR } from './psi.ts';

/** Labels a drift series is identified by across pods (the pod's own labels summed away). */
const GROUP = ['namespace', 'model', 'version'];

/** Share of rows per bin over `window` (e.g. '1h'), all pods matching `matchers` (e.g. 'model="mlp"') summed. */
export function liveShares(side: DriftSide, window: string, matchers: string, group: string[] = GROUP): string {
  const column = DRIFT_COLUMN_LABELS[side];
  const increase = `increase(${DRIFT_METRICS[side].bins}{${matchers}}[${window}])`;
  const by = [...group, column].join(', ');
  return `(sum by (${by}, bin) (${increase}) / on (${by}) group_left sum by (${by}) (${increase}))`;
}

/** (a - b) * ln(a / b) summed over bins, each share floored, matched on `on`; summed by `by`. */
function psiOf(a: string, b: string, on: string[], by: string[]): string {
  const fa = `clamp_min(${a}, ${PSI_SHARE_FLOOR})`;
  const fb = `clamp_min(${b}, ${PSI_SHARE_FLOOR})`;
  const match = `on (${on.join(', ')})`;
  return `sum by (${by.join(', ')}) ((${fa} - ${match} ${fb}) * ln(${fa} / ${match} ${fb}))`;
}

/**
 * PSI of each feature (side 'input') or output (side 'prediction') over `window` against the baseline,
 * across every pod of each version matching `matchers`.
 */
export function driftPsiQuery(side: DriftSide, window: string, matchers: string): string {
  const column = DRIFT_COLUMN_LABELS[side];
  const reference = `max by (${[...GROUP, column].join(', ')}, bin) (${DRIFT_METRICS[side].baseline}{${matchers}})`;
  return psiOf(liveShares(side, window, matchers), reference, [...GROUP, column, 'bin'], [...GROUP, column]);
}

/**
 * A candidate version's prediction shift from the stable version's over the same `window`: PSI of the
 * candidate's output shares against the stable's, per output. `candidate` and `stable` are label matchers
 * (e.g. 'namespace="ml",model="mlp",version="v2"'). Needs no baseline's shares, only both versions' counters
 * (which a baseline's bins define).
 */
export function predictionShiftQuery(window: string, candidate: string, stable: string): string {
  const group = ['namespace', 'model'];
  const column = DRIFT_COLUMN_LABELS.prediction;
  return psiOf(liveShares('prediction', window, candidate, group), liveShares('prediction', window, stable, group), [...group, column, 'bin'], [...group, column]);
}
