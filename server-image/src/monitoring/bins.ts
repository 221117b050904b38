// Quantile bins: edges taken from reference quantiles, and the one rule that puts a value in a bin, shared
// by the profile (which counts the reference with it) and the server (which counts live values). Pure.

/**
 * The bin of `value` given ascending `edges`: the first i with value <= edges[i], else edges.length. So
 * there are edges.length + 1 bins, the first open below and the last open above. Binary search.
 */
export function binIndex(edges: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (value <= edges[mid]) high = mid;
    else low = mid + 1;
  }
  return low;
}

/**
 * Edges at the reference's quantiles 1/bins .. (bins-1)/bins, each the order statistic at or below its
 * quantile (numpy's 'lower'), so every edge is a value the reference has; repeats are removed, so a feature
 * with few distinct values gets fewer, wider bins and none empty by construction. `sorted` holds finite
 * values in ascending order.
 */
export function quantileEdges(sorted: ArrayLike<number>, bins: number): number[] {
  const n = sorted.length;
  if (n === 0) return [];
  const edges: number[] = [];
  for (let q = 1; q < bins; q++) {
    const edge = sorted[Math.floor((q / bins) * (n - 1))];
    // An edge at the maximum would leave the last bin empty.
    if (edge >= sorted[n - 1]) break;
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  return edges;
}

/** Shares of `values` (finite) in each of the edges.length + 1 bins; all 0 when there are no values. */
export function binShares(edges: ArrayLike<number>, values: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binIndex(edges, values[i])]++;
  return values.length === 0 ? counts : counts.map((c) => c / values.length);
}
