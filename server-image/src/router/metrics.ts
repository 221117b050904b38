// The router's Prometheus metrics, on its own registry. The names the operator's rollout analysis reads are
// the contract's (contract/metric-names.ts); their labels are read there too, so change them only together.
import client from 'prom-client';
import type { Comparison } from './compare.ts';
import { ROUTER_METRICS } from '../../../contract/metric-names.ts';
import type { RouteTable } from '../../../contract/route-table.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DIFF_BUCKETS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100];

/** The version label of requests the router answered itself because no version takes traffic. */
export const NO_VERSION = 'none';

export type ShadowDropReason = 'queue_full' | 'error';

export class RouterMetrics {
  readonly registry = new client.Registry();
  private readonly requests;
  private readonly requestSeconds;
  private readonly shadowRequests;
  private readonly shadowSeconds;
  private readonly shadowDropped;
  private readonly comparisons;
  private readonly top1Rows;
  private readonly top1Agreements;
  private readonly maxAbsDiff;
  private readonly maxRelDiff;
  private readonly weight;
  private readonly shadowPercent;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: ROUTER_METRICS.requests, help: 'Requests answered, by the version that answered (none: no version ready) and HTTP status', labelNames: ['version', 'code'], registers,
    });
    this.requestSeconds = new client.Histogram({
      name: ROUTER_METRICS.requestDuration, help: 'Time from a request received to its response sent in full, by version', labelNames: ['version'], buckets: LATENCY_BUCKETS, registers,
    });
    this.shadowRequests = new client.Counter({
      name: ROUTER_METRICS.shadowRequests, help: 'Shadow copies answered, by shadow version and HTTP status', labelNames: ['version', 'code'], registers,
    });
    this.shadowSeconds = new client.Histogram({
      name: ROUTER_METRICS.shadowRequestDuration, help: 'Time of shadow copies, sent to answered in full', labelNames: ['version'], buckets: LATENCY_BUCKETS, registers,
    });
    this.shadowDropped = new client.Counter({
      name: 'modelship_router_shadow_dropped_total', help: 'Shadow copies not compared: queue full, or the shadow version failed to answer', labelNames: ['version', 'reason'], registers,
    });
    this.comparisons = new client.Counter({
      name: ROUTER_METRICS.shadowComparisons, help: 'Primary and shadow answers compared (compared), with different output names or shapes (mismatch), or not comparable because either was not 200 (skipped)', labelNames: ['primary', 'shadow', 'result'], registers,
    });
    this.top1Rows = new client.Counter({
      name: ROUTER_METRICS.shadowTop1Rows, help: 'Rows of classifier-like outputs compared by argmax', labelNames: ['primary', 'shadow'], registers,
    });
    this.top1Agreements = new client.Counter({
      name: ROUTER_METRICS.shadowTop1Agreements, help: 'Rows whose argmax agreed between primary and shadow', labelNames: ['primary', 'shadow'], registers,
    });
    this.maxAbsDiff = new client.Histogram({
      name: ROUTER_METRICS.shadowMaxAbsDiff, help: 'Per compared request, the largest absolute difference of any output element', labelNames: ['primary', 'shadow'], buckets: DIFF_BUCKETS, registers,
    });
    this.maxRelDiff = new client.Histogram({
      name: 'modelship_router_shadow_max_rel_diff', help: 'Per compared request, the largest relative difference |a-b|/max(|a|,|b|,1e-12)', labelNames: ['primary', 'shadow'], buckets: DIFF_BUCKETS, registers,
    });
    this.weight = new client.Gauge({ name: 'modelship_router_weight', help: 'Percent of traffic routed to each version by the current table', labelNames: ['version'], registers });
    this.shadowPercent = new client.Gauge({ name: 'modelship_router_shadow_percent', help: 'Percent of requests copied to the shadow version', labelNames: ['version'], registers });
  }

  /** Label children of the per-request series, looked up once per version and code: the hot path skips label hashing. */
  private readonly answered = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  requestAnswered(version: string, code: number, seconds: number): void {
    const key = `${version}\u0000${code}`;
    let series = this.answered.get(key);
    if (!series) {
      series = { count: this.requests.labels({ version, code: String(code) }), time: this.requestSeconds.labels({ version }) };
      this.answered.set(key, series);
    }
    series.count.inc();
    series.time.observe(seconds);
  }

  /** A request the router answered itself (404, 413, 503 with no version): counted, not timed as a version's latency. */
  requestRefused(version: string, code: number): void {
    this.requests.inc({ version, code: String(code) });
  }

  shadowAnswered(version: string, code: number, seconds: number): void {
    this.shadowRequests.inc({ version, code: String(code) });
    this.shadowSeconds.observe({ version }, seconds);
  }

  /** The shadow version could not be used (503 unreachable, 504 timed out, 502 broke off): counted under that code, and dropped. */
  shadowFailed(version: string, code: number): void {
    this.shadowRequests.inc({ version, code: String(code) });
    this.shadowDropped.inc({ version, reason: 'error' });
  }

  shadowDroppedCopy(version: string, reason: ShadowDropReason): void {
    this.shadowDropped.inc({ version, reason });
  }

  compared(primary: string, shadow: string, comparison: Comparison | 'skipped'): void {
    const labels = { primary, shadow };
    if (comparison === 'skipped' || comparison.result === 'mismatch') {
      this.comparisons.inc({ ...labels, result: comparison === 'skipped' ? 'skipped' : 'mismatch' });
      return;
    }
    this.comparisons.inc({ ...labels, result: 'compared' });
    this.maxAbsDiff.observe(labels, comparison.maxAbsDiff);
    this.maxRelDiff.observe(labels, comparison.maxRelDiff);
    if (comparison.top1Rows > 0) {
      this.top1Rows.inc(labels, comparison.top1Rows);
      this.top1Agreements.inc(labels, comparison.top1Agreements);
    }
  }

  /** The gauges follow the table: versions no longer listed disappear rather than report stale weights. */
  tableChanged(table: RouteTable): void {
    this.weight.reset();
    this.shadowPercent.reset();
    for (const v of table.versions) this.weight.set({ version: v.name }, v.weight);
    if (table.shadow) this.shadowPercent.set({ version: table.shadow.version }, table.shadow.percent);
  }
}
