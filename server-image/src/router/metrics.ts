// The router's Prometheus metrics, on its own registry. The names the operator's rollout analysis reads are
// the contract's (contract/metric-names.ts); their labels are read there too, so change them only together.
import client from 'prom-client';
import type { Comparison } from './compare.ts';
import { ROUTER_METRICS, type RouterRoute } from '../../../contract/metric-names.ts';
import type { RouteTable } from '../../../contract/route-table.ts';
import type { ByteBudget } from '../memory/byte-budget.ts';
import { unhandledRejectionCount } from '../process-faults.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DIFF_BUCKETS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100];

/** The version label of requests the router answered itself, charged to no version (none ready, malformed, over budget, a loop). */
export const NO_VERSION = 'none';

/**
 * Why a shadow copy was not compared: no room (count or bytes) among the copies, the shadow version failed
 * to answer, or the primary failed (its copy is never sent).
 */
export type ShadowDropReason = 'queue_full' | 'error' | 'primary_failed';

/** What the router holds in bytes: the clients' requests and answers, and the shadow copies. */
export interface RouterBudgets {
  inflight: ByteBudget;
  shadow: ByteBudget;
}

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

  constructor(budgets: RouterBudgets) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: ROUTER_METRICS.requests,
      help: 'Requests answered, by the version that answered (none: the router answered itself), how it was chosen (weighted, pinned, other) and HTTP status',
      labelNames: ['version', 'route', 'code'], registers,
    });
    this.requestSeconds = new client.Histogram({
      name: ROUTER_METRICS.requestDuration, help: 'Time from a request received to its response sent in full, by version and how it was chosen', labelNames: ['version', 'route'], buckets: LATENCY_BUCKETS, registers,
    });
    this.shadowRequests = new client.Counter({
      name: ROUTER_METRICS.shadowRequests, help: 'Shadow copies answered, by shadow version and HTTP status', labelNames: ['version', 'code'], registers,
    });
    this.shadowSeconds = new client.Histogram({
      name: ROUTER_METRICS.shadowRequestDuration, help: 'Time of shadow copies, sent to answered in full', labelNames: ['version'], buckets: LATENCY_BUCKETS, registers,
    });
    this.shadowDropped = new client.Counter({
      name: 'modelship_router_shadow_dropped_total', help: 'Shadow copies not compared: no room among the copies (queue_full, by count or bytes), the shadow version failed to answer (error), or the primary failed and the copy was not sent (primary_failed)', labelNames: ['version', 'reason'], registers,
    });
    this.comparisons = new client.Counter({
      name: ROUTER_METRICS.shadowComparisons,
      help: 'Primary and shadow answers compared (compared), with different output names or shapes (mismatch), a shadow answer undecodable or too large (invalid), or not comparable because either was not 200 or the primary\'s answer was unusable (skipped)',
      labelNames: ['primary', 'shadow', 'result'], registers,
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
    const held = (budget: ByteBudget) => function (this: client.Gauge) {
      this.set(budget.usedBytes);
    };
    new client.Gauge({ name: 'modelship_router_inflight_bytes', help: 'Bytes of client requests and answers the router holds now', registers, collect: held(budgets.inflight) });
    new client.Gauge({ name: 'modelship_router_inflight_bytes_limit', help: 'The most bytes of client requests and answers held at once (--max-inflight-bytes); beyond it requests get 503', registers }).set(budgets.inflight.limitBytes);
    new client.Gauge({ name: 'modelship_router_shadow_bytes', help: 'Bytes the shadow copies hold now (requests, primary answers kept to compare, shadow answers)', registers, collect: held(budgets.shadow) });
    new client.Counter({
      name: 'modelship_router_unhandled_rejections_total', help: 'Promise rejections nobody handled (bugs), logged instead of ending the process', registers,
      collect() {
        this.reset();
        this.inc(unhandledRejectionCount());
      },
    });
  }

  /** Label children of the per-request series, looked up once per version, route and code: the hot path skips label hashing. */
  private readonly answered = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  requestAnswered(version: string, route: RouterRoute, code: number, seconds: number): void {
    const key = `${version}\u0000${route}\u0000${code}`;
    let series = this.answered.get(key);
    if (!series) {
      series = { count: this.requests.labels({ version, route, code: String(code) }), time: this.requestSeconds.labels({ version, route }) };
      this.answered.set(key, series);
    }
    series.count.inc();
    series.time.observe(seconds);
  }

  /** A request the router answered itself (400, 404, 413, 503, 508), charged to NO_VERSION: counted, not timed as a version's latency. */
  requestRefused(route: RouterRoute, code: number): void {
    this.requests.inc({ version: NO_VERSION, route, code: String(code) });
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

  compared(primary: string, shadow: string, comparison: Comparison): void {
    const labels = { primary, shadow };
    if (comparison.result !== 'compared') {
      this.comparisons.inc({ ...labels, result: comparison.result });
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
