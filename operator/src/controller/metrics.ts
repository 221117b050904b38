// The operator's Prometheus metrics: reconcile counts by result, durations, writes, queue depth, and each
// ModelDeployment's rollout (phase, versions, weights, failed checks, rollbacks) as its last reconcile left it.
import { subscribe } from 'node:diagnostics_channel';
import client from 'prom-client';
import { OPERATOR_METRICS, ROLLOUT_PHASES } from '../../../contract/metric-names.ts';
import type { RolloutPhase } from '../rollout/types.ts';
import type { RolloutSummary } from './act.ts';

// The contract's phase labels are exactly the rollout's phases: a phase added to either fails the type-check here.
const everyPhase: [RolloutPhase] extends [(typeof ROLLOUT_PHASES)[number]] ? readonly RolloutPhase[] : never = ROLLOUT_PHASES;

/** One ModelDeployment's rollout, with the labels of its series. */
type Rollout = RolloutSummary & { namespace: string; name: string };

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
  /** By ModelDeployment, from its first reconcile (at 0, so that its first rollback is an increase) until it is deleted. */
  private readonly rollbacks = new client.Counter({
    name: OPERATOR_METRICS.rollbacks, help: 'Candidates rolled back by a failed rollout check, by ModelDeployment', labelNames: ['namespace', 'name'], registers: [this.registry],
  });
  private readonly apiRequests = new client.Counter({ name: 'modelship_operator_api_requests_total', help: 'HTTP requests to the Kubernetes API (watches included)', labelNames: ['method'], registers: [this.registry] });
  /**
   * Each ModelDeployment's rollout as its last reconcile left it, by `namespace/name`. The rollout gauges are
   * set from it when scraped: a ModelDeployment gone from here leaves no series behind, nor a version that
   * changed an info series of the old one.
   */
  private readonly rollouts = new Map<string, Rollout>();

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    // Every request the Kubernetes client makes goes through node:http(s); count them where they start.
    subscribe('http.client.request.start', (message) => {
      this.apiRequests.inc({ method: (message as { request: { method: string } }).request.method });
    });
    // A state set (as kube-state-metrics exports phases): one series per phase, so a query picks the phase
    // by label, and a rollout's series stay the same ones while its phase changes.
    this.rolloutGauge(OPERATOR_METRICS.rolloutPhase, 'Rollout phase by ModelDeployment: 1 for the current phase, 0 for the others', ['phase'], (set, { phase }) => {
      for (const p of everyPhase) set({ phase: p }, p === phase ? 1 : 0);
    });
    // The versions as labels of a series of their own (an info metric, as kube_pod_info): on the phase or
    // weight gauges every new version would start new series of each; a query joins them in where it needs them.
    this.rolloutGauge(OPERATOR_METRICS.rolloutInfo, 'The stable and candidate versions of each ModelDeployment\'s rollout (candidate "" when there is none); always 1', ['stable', 'candidate'],
      (set, { stable, candidate }) => set({ stable, candidate: candidate ?? '' }, 1));
    this.rolloutGauge(OPERATOR_METRICS.rolloutCanaryWeight, 'The candidate\'s share of real traffic in percent, by ModelDeployment', [], (set, r) => set({}, r.canaryWeight));
    this.rolloutGauge(OPERATOR_METRICS.rolloutShadowPercent, 'The share of requests copied to the shadowing candidate in percent, by ModelDeployment', [], (set, r) => set({}, r.shadowPercent));
    this.rolloutGauge(OPERATOR_METRICS.rolloutFailedChecks, 'Failed rollout checks of the current candidate, by ModelDeployment', [], (set, r) => set({}, r.failedChecks));
  }

  /** A gauge by ModelDeployment (and `labels`), set from `rollouts` at each scrape. */
  private rolloutGauge(name: string, help: string, labels: string[], each: (set: (labels: Record<string, string>, value: number) => void, rollout: Rollout) => void): void {
    const gauge: client.Gauge = new client.Gauge({
      name, help, labelNames: ['namespace', 'name', ...labels], registers: [this.registry],
      collect: () => {
        gauge.reset();
        for (const rollout of this.rollouts.values()) each((more, value) => gauge.set({ namespace: rollout.namespace, name: rollout.name, ...more }, value), rollout);
      },
    });
  }

  /**
   * A reconcile found the ModelDeployment: its rollout as decided, or undefined when nothing was decided
   * (a refused spec, whose status then has no rollout either).
   */
  rollout(namespace: string, name: string, rollout: RolloutSummary | undefined): void {
    this.rollbacks.inc({ namespace, name }, 0);
    if (rollout) this.rollouts.set(`${namespace}/${name}`, { ...rollout, namespace, name });
    else this.rollouts.delete(`${namespace}/${name}`);
  }

  /** A reconcile found the ModelDeployment gone: its series go too. */
  forget(namespace: string, name: string): void {
    this.rollouts.delete(`${namespace}/${name}`);
    this.rollbacks.remove({ namespace, name });
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
