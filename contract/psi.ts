// The Population Stability Index between a reference distribution and live counts over the same bins:
// sum over bins of (live - reference) * ln(live / reference), each side as shares. By the usual reading,
// under 0.1 is stable, 0.1 to 0.25 a moderate shift, over 0.25 a major one. One definition for both halves:
// the server's window gauge (live rows against the baseline) and the operator's prediction-shift gate (a
// candidate's rows against the stable version's); the PromQL of drift-queries.ts computes the same. Pure.

/**
 * Shares below this are raised to it before the logarithm: a bin empty on either side would otherwise make
 * the index infinite. The same floor appears in the PromQL (drift-queries.ts), so both give the same number.
 */
export const PSI_SHARE_FLOOR = 1e-4;

/** PSI of `counts` (live, any scale) against `reference` (shares summing to 1). 0 when `counts` are all 0. */
export function psi(reference: ArrayLike<number>, counts: ArrayLike<number>): number {
  if (reference.length !== counts.length) throw new Error(`psi: ${reference.length} reference bins but ${counts.length} counted`);
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total <= 0) return 0;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const expected = Math.max(reference[i], PSI_SHARE_FLOOR);
    const actual = Math.max(counts[i] / total, PSI_SHARE_FLOOR);
    sum += (actual - expected) * Math.log(actual / expected);
  }
  return sum;
}

/** Counts as shares of their total; all 0 when the total is 0. */
export function shares(counts: ArrayLike<number>): number[] {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  return Array.from(counts, (c) => (total > 0 ? c / total : 0));
}
