// Prometheus text exposition, as the router's /metrics serves it, reduced to what the analysis needs:
// samples summed across router pods, the difference between two snapshots (the analysis window), and
// quantiles of histograms. Pure.

export type Labels = Record<string, string>;

/** Samples keyed by `name{sorted labels}`, values summed across the scraped pods. */
export type Snapshot = Map<string, { name: string; labels: Labels; value: number }>;

const seriesKey = (name: string, labels: Labels) =>
  `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;

function parseLabels(text: string): Labels {
  const labels: Labels = {};
  for (const [, key, raw] of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/**
 * Adds one pod's exposition to a snapshot. With `source` (the pod), each pod's series stay apart, so a
 * window sees one pod's restart as that pod's reset rather than as a smaller total; sum() and quantile()
 * add the pods up. Without it, samples of the same series from several expositions add up at once.
 */
export function addExposition(snapshot: Snapshot, text: string, only?: (name: string) => boolean, source?: string): Snapshot {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, labelText, valueText] = match;
    if (only && !only(name)) continue;
    const value = Number(valueText);
    if (Number.isNaN(value)) continue;
    const labels = labelText ? parseLabels(labelText) : {};
    if (source !== undefined) labels.__source = source;
    const key = seriesKey(name, labels);
    const existing = snapshot.get(key);
    if (existing) existing.value += value;
    else snapshot.set(key, { name, labels, value });
  }
  return snapshot;
}

/**
 * What happened between two snapshots of counters and histograms. A series that went down was reset (a
 * router pod restarted): its whole current value is what happened since.
 */
export function windowBetween(start: Snapshot, end: Snapshot): Snapshot {
  const window: Snapshot = new Map();
  for (const [key, sample] of end) {
    const before = start.get(key)?.value ?? 0;
    window.set(key, { ...sample, value: sample.value >= before ? sample.value - before : sample.value });
  }
  return window;
}

const matches = (labels: Labels, want: Labels) => Object.entries(want).every(([k, v]) => labels[k] === v);

/** The sum of a metric's samples whose labels include `want` (and pass `filter`). */
export function sum(snapshot: Snapshot, name: string, want: Labels = {}, filter?: (labels: Labels) => boolean): number {
  let total = 0;
  for (const sample of snapshot.values()) {
    if (sample.name === name && matches(sample.labels, want) && (!filter || filter(sample.labels))) total += sample.value;
  }
  return total;
}

/** A histogram quantile as Prometheus computes it (linear within the bucket); null without observations. */
export function quantile(snapshot: Snapshot, histogram: string, q: number, want: Labels = {}): number | null {
  const buckets = new Map<number, number>();
  for (const sample of snapshot.values()) {
    if (sample.name !== `${histogram}_bucket` || !matches(sample.labels, want)) continue;
    const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, cumulative] of sorted) {
    if (cumulative >= rank) {
      // Past the last finite bound there is nothing to interpolate towards: report that bound.
      if (le === Infinity) return lower;
      const inBucket = cumulative - below;
      return inBucket === 0 ? le : lower + (le - lower) * ((rank - below) / inBucket);
    }
    lower = le;
    below = cumulative;
  }
  return lower;
}
