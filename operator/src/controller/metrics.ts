// The operator's Prometheus metrics: reconcile counts by result, durations, writes, queue depth.
import { subscribe } from 'node:diagnostics_channel';
import client from 'prom-client';
import { OPERATOR_METRICS } from '../../../contract/metric-names.ts';

export class OperatorMetrics {
  readonly registry = new client.Registry();
  private readonly reconciles = new client.Counter({ name: 'modelship_operator_reconciles_total', help: 'Reconciles by result', labelNames: ['result'], registers: [this.registry] });
  private readonly durations = new client.Histogram({
    name: 'modelship_operator_reconcile_duration_seconds', help: 'Time per reconcile', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  private readonly writes = new client.Counter({ name: 'modelship_operator_writes_total', help: 'Objects written to the API server (applies and status updates)', registers: [this.registry] });
  /** The work queue the gauges below read when scraped (the running controller's, while it leads). */
  private queue?: { readonly depth: number; readonly waiting: number };
  private readonly depth: client.Gauge = new client.Gauge({
    name: 'modelship_operator_queue_depth', help: 'Keys waiting in the work queue', registers: [this.registry],
    collect: () => {
      this.depth.set(this.queue?.depth ?? 0);
    },
  });
  private readonly delayed: client.Gauge = new client.Gauge({
    name: 'modelship_operator_queue_delayed', help: 'Keys with a delayed re-queue pending (resync, rollout check or retry): at most one per key', registers: [this.registry],
    collect: () => {
      this.delayed.set(this.queue?.waiting ?? 0);
    },
  });
  /** By ModelDeployment: as many series as ModelDeployments that ever rolled back, which their owners bound. */
  private readonly rollbacks = new client.Counter({
    name: OPERATOR_METRICS.rollbacks, help: 'Candidates rolled back by a failed rollout check, by ModelDeployment', labelNames: ['namespace', 'name'], registers: [this.registry],
  });
  private readonly apiRequests = new client.Counter({ name: 'modelship_operator_api_requests_total', help: 'HTTP requests to the Kubernetes API (watches included)', labelNames: ['method'], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    // Every request the Kubernetes client makes goes through node:http(s); count them where they start.
    subscribe('http.client.request.start', (message) => {
      this.apiRequests.inc({ method: (message as { request: { method: string } }).request.method });
    });
  }

  rolledBack(namespace: string, name: string): void {
    this.rollbacks.inc({ namespace, name });
  }

  reconciled(result: 'success' | 'error', seconds: number, writes: number): void {
    this.reconciles.inc({ result });
    this.durations.observe(seconds);
    this.writes.inc(writes);
  }

  observeQueue(queue: { readonly depth: number; readonly waiting: number } | undefined): void {
    this.queue = queue;
  }
}
