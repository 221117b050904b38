// Where a check's numbers come from. provider router: the router pods' own /metrics, scraped at the start
// and the end of each window (the start is kept in memory: after an operator restart the window starts
// again rather than judging evidence nobody measured). provider prometheus: the model servers' metrics
// over the window, by query. Side effects live here; judging is gates.ts.
import type { ModelDeployment } from '../api/types.ts';
import { judgeWindow, type WindowNumbers } from './gates.ts';
import { addExposition, windowBetween, type Snapshot } from './metric-samples.ts';
import { ROUTER_METRIC_PREFIX, SERVER_ERROR_OUTCOMES, SERVER_METRICS } from '../../../contract/metric-names.ts';
import { routerWindowNumbers } from './router-numbers.ts';
import type { AnalysisResult, RolloutStatus, VersionNumbers } from './types.ts';
import { conditionTime } from '../api/time.ts';

export interface AnalysisSource {
  /** The numbers of the window that ends now, judged; 'no-baseline' when the window's start was not measured. */
  measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'>;
  /** Measures the start of the window that status.windowStartedAt names. */
  startWindow(mdep: ModelDeployment, status: RolloutStatus): Promise<void>;
  /** Forgets a ModelDeployment's measurements (deleted, or its rollout ended). */
  forget(mdep: ModelDeployment): void;
}

const key = (mdep: ModelDeployment) => `${mdep.metadata.namespace ?? 'default'}/${mdep.metadata.name}`;
const phaseOf = (status: RolloutStatus) => (status.phase === 'Shadowing' || status.phase === 'ABTesting' ? status.phase : 'Progressing');

function unmeasurable(status: RolloutStatus, now: number, why: string): AnalysisResult {
  const none: VersionNumbers = { requests: 0, errors: 0, errorRate: null, p99Ms: null };
  return { time: conditionTime(now), phase: phaseOf(status), windowSeconds: 0, candidate: none, stable: none, verdict: 'insufficient', failedGates: [], message: why };
}

/** Reads the router pods' metrics: the URLs of every router pod's /metrics. */
export type RouterEndpoints = (mdep: ModelDeployment) => Promise<string[]>;

export class RouterAnalysis implements AnalysisSource {
  private readonly endpoints: RouterEndpoints;
  private readonly baselines = new Map<string, { windowStartedAt: string; snapshot: Snapshot }>();
  /** The end of the window a check just measured: the start of the next window, when one starts at that moment. */
  private readonly lastEnds = new Map<string, { at: string; snapshot: Snapshot }>();
  private readonly timeoutMs: number;

  constructor(endpoints: RouterEndpoints, timeoutMs = 3000) {
    this.endpoints = endpoints;
    this.timeoutMs = timeoutMs;
  }

  /** Every router pod's metrics, summed; a pod that cannot be read makes the measurement fail. */
  private async snapshot(mdep: ModelDeployment): Promise<Snapshot> {
    const urls = await this.endpoints(mdep);
    if (urls.length === 0) throw new Error('no router pod to read metrics from');
    const snapshot: Snapshot = new Map();
    const texts = await Promise.all(urls.map(async (url) => {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      return response.text();
    }));
    texts.forEach((text, i) => addExposition(snapshot, text, (name) => name.startsWith(ROUTER_METRIC_PREFIX), urls[i]));
    return snapshot;
  }

  async startWindow(mdep: ModelDeployment, status: RolloutStatus): Promise<void> {
    if (!status.windowStartedAt) return;
    const end = this.lastEnds.get(key(mdep));
    this.lastEnds.delete(key(mdep));
    try {
      const snapshot = end?.at === status.windowStartedAt ? end.snapshot : await this.snapshot(mdep);
      this.baselines.set(key(mdep), { windowStartedAt: status.windowStartedAt, snapshot });
    } catch {
      // Unreadable now: the check finds no baseline and starts the window again.
      this.baselines.delete(key(mdep));
    }
  }

  async measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'> {
    const baseline = this.baselines.get(key(mdep));
    if (!baseline || baseline.windowStartedAt !== status.windowStartedAt || !status.candidate) return 'no-baseline';
    let end: Snapshot;
    try {
      end = await this.snapshot(mdep);
    } catch (error) {
      return unmeasurable(status, now, `cannot read the routers' metrics: ${(error as Error).message}`);
    }
    this.lastEnds.set(key(mdep), { at: conditionTime(now), snapshot: end });
    const numbers: WindowNumbers = routerWindowNumbers(windowBetween(baseline.snapshot, end), status.stable.version, status.candidate.version);
    if (status.phase !== 'Shadowing') delete numbers.shadow;
    return judgeWindow(numbers, mdep.spec.rollout, phaseOf(status), (now - Date.parse(status.windowStartedAt!)) / 1000, conditionTime(now));
  }

  forget(mdep: ModelDeployment): void {
    this.baselines.delete(key(mdep));
    this.lastEnds.delete(key(mdep));
  }
}

/**
 * provider prometheus: the model servers' own metrics (every version's pods carry model and version
 * labels), so it works behind any router or gateway. Shadow agreement is the router's alone; with this
 * provider a shadow is judged on the candidate's errors and latency.
 */
export class PrometheusAnalysis implements AnalysisSource {
  async startWindow(): Promise<void> {}
  forget(): void {}

  async measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'> {
    const url = mdep.spec.rollout?.analysis?.prometheusUrl;
    if (!url || !status.candidate || !status.windowStartedAt) return 'no-baseline';
    const seconds = Math.max(1, Math.round((now - Date.parse(status.windowStartedAt)) / 1000));
    try {
      const version = async (v: string): Promise<VersionNumbers> => {
        const queries = prometheusQueries(mdep, v, seconds);
        const [rawRequests, rawErrors, p99] = await Promise.all([queries.requests, queries.errors, queries.p99].map((q) => queryScalar(url, q, now)));
        // increase() extrapolates to the window's ends in floating point (30 errors come back as
        // 30.000000000000004): counts are whole requests, before minRequests and the messages see them.
        const requests = Math.round(rawRequests ?? 0);
        const errors = Math.round(rawErrors ?? 0);
        return { requests, errors, errorRate: requests ? errors / requests : null, p99Ms: p99 === null ? null : p99 * 1000 };
      };
      const [candidate, stable] = await Promise.all([version(status.candidate.version), version(status.stable.version)]);
      const numbers: WindowNumbers = { candidate, stable };
      if (status.phase === 'Shadowing') {
        numbers.shadow = { comparisons: candidate.requests, mismatches: 0, top1Rows: 0, top1Agreement: null, divergenceP99: null, requests: candidate.requests, errors: candidate.errors, p99Ms: candidate.p99Ms };
      }
      return judgeWindow(numbers, mdep.spec.rollout, phaseOf(status), seconds, conditionTime(now));
    } catch (error) {
      return unmeasurable(status, now, `cannot query Prometheus at ${url}: ${(error as Error).message}`);
    }
  }
}

/** PromQL over the model servers' metrics of one version, for a window of `seconds` ending now. */
export function prometheusQueries(mdep: ModelDeployment, version: string, seconds: number) {
  const selector = `namespace="${mdep.metadata.namespace ?? 'default'}",model="${mdep.metadata.name}",version="${version}"`;
  return {
    requests: `sum(increase(${SERVER_METRICS.inferenceRequests}{${selector}}[${seconds}s]))`,
    errors: `sum(increase(${SERVER_METRICS.inferenceRequests}{${selector},outcome=~"${SERVER_ERROR_OUTCOMES.join('|')}"}[${seconds}s]))`,
    p99: `histogram_quantile(0.99, sum by (le) (increase(${SERVER_METRICS.requestDuration}_bucket{${selector}}[${seconds}s])))`,
  };
}

async function queryScalar(base: string, query: string, now: number): Promise<number | null> {
  const url = new URL('/api/v1/query', base);
  url.searchParams.set('query', query);
  url.searchParams.set('time', String(now / 1000));
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await response.json() as { status: string; error?: string; data?: { result: Array<{ value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(body.error ?? `HTTP ${response.status}`);
  const value = body.data?.result[0]?.value[1];
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** The source for a ModelDeployment's analysis provider. */
export function analysisFor(mdep: ModelDeployment, sources: { router: AnalysisSource; prometheus: AnalysisSource }): AnalysisSource {
  return mdep.spec.rollout?.analysis?.provider === 'prometheus' ? sources.prometheus : sources.router;
}
