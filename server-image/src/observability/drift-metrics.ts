// The drift monitor's state as Prometheus series, read at scrape time (nothing is updated per request):
// per-bin counters and the baseline's shares for the first `maxColumns` columns of each side, window PSI
// per column and its worst and mean over all columns, and the data quality counters. Names and labels come
// from the contract (DRIFT_METRICS), where the operator reads them.
import client from 'prom-client';
import { DRIFT_COLUMN_LABELS, DRIFT_METRICS, DRIFT_OTHER_COLUMN, type DriftSide } from '../../../contract/metric-names.ts';
import { windowPsi, type DriftColumn, type DriftMonitor } from '../monitoring/drift-monitor.ts';

function registerSide(registry: client.Registry, monitor: DriftMonitor, side: DriftSide, maxColumns: number): void {
  const names = DRIFT_METRICS[side];
  const label = DRIFT_COLUMN_LABELS[side];
  const columns = (): DriftColumn[] => (side === 'input' ? monitor.inputs : monitor.outputs);
  const registers = [registry];
  const what = side === 'input' ? 'input feature' : 'model output';
  new client.Counter({
    name: names.bins, help: `Rows whose ${what} fell in each bin of the baseline`, labelNames: [label, 'bin'], registers,
    collect() {
      this.reset();
      for (const column of columns().slice(0, maxColumns)) {
        column.totals.forEach((count, bin) => this.inc({ [label]: column.name, bin: String(bin) }, count));
      }
    },
  });
  new client.Gauge({
    name: names.baseline, help: `Reference share of each bin of each ${what}, from the baseline`, labelNames: [label, 'bin'], registers,
    collect() {
      for (const column of columns().slice(0, maxColumns)) {
        column.reference.forEach((share, bin) => this.set({ [label]: column.name, bin: String(bin) }, share));
      }
    },
  });
  new client.Gauge({
    name: names.psi, help: `PSI of each ${what} over the sliding window against the baseline`, labelNames: [label], registers,
    collect() {
      this.reset();
      for (const column of columns().slice(0, maxColumns)) {
        const value = windowPsi(column, monitor.settings.minRows);
        if (value !== undefined) this.set({ [label]: column.name }, value);
      }
    },
  });
  const summary = (stat: 'worst' | 'mean') => new client.Gauge({
    name: stat === 'worst' ? names.psiWorst : names.psiMean,
    help: `${stat === 'worst' ? 'Largest' : 'Mean'} window PSI over every profiled ${what}`, registers,
    collect() {
      this.reset();
      const values = columns().map((c) => windowPsi(c, monitor.settings.minRows)).filter((v) => v !== undefined);
      if (values.length === 0) return;
      this.set(stat === 'worst' ? Math.max(...values) : values.reduce((a, b) => a + b, 0) / values.length);
    },
  });
  summary('worst');
  summary('mean');
  const quality = (name: string, help: string, read: (c: DriftColumn) => number) => new client.Counter({
    name, help, labelNames: [label], registers,
    collect() {
      this.reset();
      const all = columns();
      for (const column of all.slice(0, maxColumns)) this.inc({ [label]: column.name }, read(column));
      if (all.length > maxColumns) this.inc({ [label]: DRIFT_OTHER_COLUMN }, all.slice(maxColumns).reduce((sum, c) => sum + read(c), 0));
    },
  });
  quality(names.outOfRange, `Values of each ${what} outside the baseline's range`, (c) => c.outOfRange);
  quality(names.nonFinite, `Values of each ${what} missing or not finite`, (c) => c.nonFinite);
}

export function registerDriftMetrics(registry: client.Registry, monitor: DriftMonitor, maxColumns: number): void {
  new client.Counter({
    name: DRIFT_METRICS.rows, help: 'Rows counted into the drift bins', registers: [registry],
    collect() {
      this.reset();
      this.inc(monitor.rows);
    },
  });
  new client.Counter({
    name: DRIFT_METRICS.droppedRows, help: 'Rows left out of the drift bins because binning fell behind', registers: [registry],
    collect() {
      this.reset();
      this.inc(monitor.droppedRows);
    },
  });
  new client.Counter({
    name: DRIFT_METRICS.budgetSkippedRows, help: 'Rows left uncounted because the drift budget (driftMaxRowsPerSecond) was spent', registers: [registry],
    collect() {
      this.reset();
      this.inc(monitor.skippedRows);
    },
  });
  registerSide(registry, monitor, 'input', maxColumns);
  registerSide(registry, monitor, 'prediction', maxColumns);
}
