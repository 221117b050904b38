// Where a check's numbers come from. provider router: the router pods' own /metrics (and, for the
// prediction-shift gate, the model-server pods' of the stable and the candidate version), scraped at the
// start and the end of each window (the start is kept in memory: after an operator restart the window
// starts again rather than judging evidence nobody measured). provider prometheus: the model servers'
// metrics over the window, by query. Side effects live here; judging is gates.ts.
import type { ModelDeployment } from '../api/types.ts';
import { judgeWindow, type WindowNumbers } from './gates.ts';
import { addExposition, windowBetween, type Snapshot } from './metric-samples.ts';
import { DRIFT_COLUMN_LABELS, DRIFT_METRICS, ROUTER_METRIC_PREFIX, SERVER_ERROR_OUTCOMES, SERVER_METRICS } from '../../../contract/metric-names.ts';
import { predictionShiftQuery } from '../../../contract/drift-queries.ts';
import { routerWindowNumbers } from './router-numbers.ts';
import { outputShifts, predictionCounts, predictionShiftApplies } from './prediction-shift.ts';
import type { AnalysisResult, PredictionShift, RolloutStatus, VersionNumbers } from './types.ts';
import { conditionTime } from '../api/time.ts';
import { DEFAULT_SCRAPE_LIMITS, fetchBounded, scrapeText, type ScrapeLimits } from '../monitoring/scrape.ts';

export interface AnalysisSource {
  /** The numbers of the window that ends now, judged; 'no-baseline' when the window's start was not measured. */
  measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'>;
  /** Measures the start of the window that status.windowStartedAt names. */
  startWindow(mdep: ModelDeployment, status: RolloutStatus): Promise<void>;
  /** Forgets a ModelDeployment's measurements (deleted, or its rollout ended). */
  forget(mdep: Pick<ModelDeployment, 'metadata'>): void;
}

const key = (mdep: Pick<ModelDeployment, 'metadata'>) => `${mdep.metadata.namespace ?? 'default'}/${mdep.metadata.name}`;
const phaseOf = (status: RolloutStatus) => (status.phase === 'Shadowing' || status.phase === 'ABTesting' ? status.phase : 'Progressing');

function unmeasurable(status: RolloutStatus, now: number, why: string): AnalysisResult {
  const none: VersionNumbers = { requests: 0, errors: 0, errorRate: null, p99Ms: null };
  return { time: conditionTime(now), phase: phaseOf(status), windowSeconds: 0, candidate: none, stable: none, verdict: 'insufficient', failedGates: [], message: why };
}

/** Reads the router pods' metrics: the URLs of every router pod's /metrics. */
export type RouterEndpoints = (mdep: ModelDeployment) => Promise<string[]>;
/** Reads one version's model-server pods' metrics: the URLs of each ready pod's /metrics. */
export type ServerEndpoints = (mdep: ModelDeployment, version: string) => Promise<string[]>;

/** What a window's ends hold: the routers' series, and where the shift gate applies each version's prediction counters. */
interface Measurement {
  router: Snapshot;
  /** By version: the model-server pods' prediction bin counters, each pod's series apart. */
  servers?: Map<string, Snapshot>;
}

export class RouterAnalysis implements AnalysisSource {
  private readonly endpoints: RouterEndpoints;
  private readonly serverEndpoints: ServerEndpoints;
  private readonly baselines = new Map<string, { windowStartedAt: string; measurement: Measurement }>();
  /** The end of the window a check just measured: the start of the next window, when one starts at that moment. */
  private readonly lastEnds = new Map<string, { at: string; measurement: Measurement }>();
  private readonly limits: ScrapeLimits;

  constructor(endpoints: RouterEndpoints, serverEndpoints: ServerEndpoints, limits: ScrapeLimits = DEFAULT_SCRAPE_LIMITS) {
    this.endpoints = endpoints;
    this.serverEndpoints = serverEndpoints;
    this.limits = limits;
  }

  /**
   * Every pod's metrics whose names `keep` keeps, each pod's apart; a pod that cannot be read (or sends more
   * than the limits allow) makes the measurement fail.
   */
  private async scrape(urls: string[], keep: (name: string) => boolean): Promise<Snapshot> {
    const snapshot: Snapshot = new Map();
    const texts = await Promise.all(urls.map((url) => scrapeText(url, this.limits)));
    texts.forEach((text, i) => addExposition(snapshot, text, keep, urls[i]));
    return snapshot;
  }

  private async measurement(mdep: ModelDeployment, status: RolloutStatus): Promise<Measurement> {
    const urls = await this.endpoints(mdep);
    if (urls.length === 0) throw new Error('no router pod to read metrics from');
    const routerScrape = this.scrape(urls, (name) => name.startsWith(ROUTER_METRIC_PREFIX));
    if (!predictionShiftApplies(mdep.spec.rollout, status)) return { router: await routerScrape };
    const versions = [status.stable.version, status.candidate!.version];
    const serverScrapes = versions.map(async (version) => {
      const serverUrls = await this.serverEndpoints(mdep, version);
      if (serverUrls.length === 0) throw new Error(`no ready model-server pod of version ${version} to read metrics from`);
      return [version, await this.scrape(serverUrls, (name) => name === DRIFT_METRICS.prediction.bins)] as const;
    });
    const [router, ...servers] = await Promise.all([routerScrape, ...serverScrapes]);
    return { router, servers: new Map(servers) };
  }

  async startWindow(mdep: ModelDeployment, status: RolloutStatus): Promise<void> {
    if (!status.windowStartedAt) return;
    const end = this.lastEnds.get(key(mdep));
    this.lastEnds.delete(key(mdep));
    try {
      const reusable = end?.at === status.windowStartedAt && covers(end.measurement, mdep, status);
      const measurement = reusable ? end.measurement : await this.measurement(mdep, status);
      this.baselines.set(key(mdep), { windowStartedAt: status.windowStartedAt, measurement });
    } catch {
      // Unreadable now: the check finds no baseline and starts the window again.
      this.baselines.delete(key(mdep));
    }
  }

  async measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'> {
    const baseline = this.baselines.get(key(mdep));
    // A start measured without what this window needs (the gate set since) is no start either.
    if (!baseline || baseline.windowStartedAt !== status.windowStartedAt || !status.candidate || !covers(baseline.measurement, mdep, status)) return 'no-baseline';
    let end: Measurement;
    try {
      end = await this.measurement(mdep, status);
    } catch (error) {
      return unmeasurable(status, now, `cannot read the metrics: ${(error as Error).message}`);
    }
    this.lastEnds.set(key(mdep), { at: conditionTime(now), measurement: end });
    const numbers: WindowNumbers = routerWindowNumbers(windowBetween(baseline.measurement.router, end.router), status.stable.version, status.candidate.version);
    if (status.phase !== 'Shadowing') delete numbers.shadow;
    if (end.servers) {
      const counts = (version: string) => predictionCounts(windowBetween(baseline.measurement.servers!.get(version)!, end.servers!.get(version)!));
      numbers.predictions = outputShifts(counts(status.candidate.version), counts(status.stable.version));
    }
    return judgeWindow(numbers, mdep.spec.rollout, phaseOf(status), (now - Date.parse(status.windowStartedAt!)) / 1000, conditionTime(now));
  }

  forget(mdep: Pick<ModelDeployment, 'metadata'>): void {
    this.baselines.delete(key(mdep));
    this.lastEnds.delete(key(mdep));
  }
}

/** Whether a measurement holds what a window of this status needs: both versions' servers where the shift gate applies. */
function covers(measurement: Measurement, mdep: ModelDeployment, status: RolloutStatus): boolean {
  if (!predictionShiftApplies(mdep.spec.rollout, status)) return true;
  return measurement.servers?.has(status.stable.version) === true && measurement.servers.has(status.candidate!.version);
}

/**
 * provider prometheus: the model servers' own metrics (every version's pods carry model and version
 * labels), so it works behind any router or gateway. Shadow agreement is the router's alone; with this
 * provider a shadow is judged on the candidate's errors and latency.
 */
export class PrometheusAnalysis implements AnalysisSource {
  private readonly limits: ScrapeLimits;

  /** Each query's answer is bounded in time and bytes like a scrape (a query can match many series). */
  constructor(limits: ScrapeLimits = { ...DEFAULT_SCRAPE_LIMITS, timeoutMs: 5000 }) {
    this.limits = limits;
  }

  async startWindow(): Promise<void> {}
  forget(): void {}

  async measure(mdep: ModelDeployment, status: RolloutStatus, now: number): Promise<AnalysisResult | 'no-baseline'> {
    const url = mdep.spec.rollout?.analysis?.prometheusUrl;
    if (!url || !status.candidate || !status.windowStartedAt) return 'no-baseline';
    const seconds = Math.max(1, Math.round((now - Date.parse(status.windowStartedAt)) / 1000));
    try {
      const version = async (v: string): Promise<VersionNumbers> => {
        const queries = prometheusQueries(mdep, v, seconds);
        const [rawRequests, rawErrors, p99] = await Promise.all([queries.requests, queries.errors, queries.p99].map((q) => queryScalar(url, q, now, this.limits)));
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
      if (predictionShiftApplies(mdep.spec.rollout, status)) {
        numbers.predictions = await prometheusShifts(url, predictionShiftQueries(mdep, status.stable.version, status.candidate.version, seconds), now, this.limits);
      }
      return judgeWindow(numbers, mdep.spec.rollout, phaseOf(status), seconds, conditionTime(now));
    } catch (error) {
      return unmeasurable(status, now, `cannot query Prometheus at ${url}: ${(error as Error).message}`);
    }
  }
}

const versionSelector = (mdep: ModelDeployment, version: string) =>
  `namespace="${mdep.metadata.namespace ?? 'default'}",model="${mdep.metadata.name}",version="${version}"`;

/** PromQL over the model servers' metrics of one version, for a window of `seconds` ending now. */
export function prometheusQueries(mdep: ModelDeployment, version: string, seconds: number) {
  const selector = versionSelector(mdep, version);
  return {
    requests: `sum(increase(${SERVER_METRICS.inferenceRequests}{${selector}}[${seconds}s]))`,
    errors: `sum(increase(${SERVER_METRICS.inferenceRequests}{${selector},outcome=~"${SERVER_ERROR_OUTCOMES.join('|')}"}[${seconds}s]))`,
    p99: `histogram_quantile(0.99, sum by (le) (increase(${SERVER_METRICS.requestDuration}_bucket{${selector}}[${seconds}s])))`,
  };
}

/**
 * PromQL of the prediction-shift gate over a window of `seconds` ending now: per output, the PSI of the
 * candidate's prediction shares against the stable version's, and the rows each version counted.
 */
export function predictionShiftQueries(mdep: ModelDeployment, stable: string, candidate: string, seconds: number) {
  const window = `${seconds}s`;
  const rows = (version: string) => `sum by (${DRIFT_COLUMN_LABELS.prediction}) (increase(${DRIFT_METRICS.prediction.bins}{${versionSelector(mdep, version)}}[${window}]))`;
  return {
    psi: predictionShiftQuery(window, versionSelector(mdep, candidate), versionSelector(mdep, stable)),
    candidateRows: rows(candidate),
    stableRows: rows(stable),
  };
}

/** Each output's shift from those queries' answers (a PSI Prometheus could not compute, 0/0 shares, is null). */
async function prometheusShifts(base: string, queries: ReturnType<typeof predictionShiftQueries>, now: number, limits: ScrapeLimits): Promise<PredictionShift[]> {
  const [psis, candidateRows, stableRows] = await Promise.all([queries.psi, queries.candidateRows, queries.stableRows].map((q) => queryVector(base, q, now, limits)));
  const byOutput = (samples: Sample[]) => new Map(samples.map((s) => [s.metric[DRIFT_COLUMN_LABELS.prediction] ?? '', s.value]));
  const [psi, candidate, stable] = [byOutput(psis), byOutput(candidateRows), byOutput(stableRows)];
  const outputs = [...new Set([...candidate.keys(), ...stable.keys()])].sort();
  // increase() extrapolates to the window's ends: rows are whole, as with the request counts.
  const rows = (n: number | null | undefined) => Math.round(n ?? 0);
  return outputs.map((output) => ({ output, psi: psi.get(output) ?? null, candidateRows: rows(candidate.get(output)), stableRows: rows(stable.get(output)) }));
}

interface Sample {
  metric: Record<string, string>;
  /** null where Prometheus answered NaN or an infinity. */
  value: number | null;
}

async function queryVector(base: string, query: string, now: number, limits: ScrapeLimits): Promise<Sample[]> {
  const url = new URL('/api/v1/query', base);
  url.searchParams.set('query', query);
  url.searchParams.set('time', String(now / 1000));
  const answer = await fetchBounded(url, 'a query answer', limits);
  let body: { status?: unknown; error?: unknown; data?: { result?: unknown } };
  try {
    body = JSON.parse(answer.text);
  } catch {
    throw new Error(`HTTP ${answer.status}, not JSON`);
  }
  if (body?.status !== 'success') throw new Error(typeof body?.error === 'string' ? body.error : `HTTP ${answer.status}`);
  const result = Array.isArray(body.data?.result) ? body.data.result as Array<{ metric?: unknown; value?: unknown }> : [];
  return result.map((r) => {
    const n = Array.isArray(r.value) ? Number(r.value[1]) : NaN;
    const metric = typeof r.metric === 'object' && r.metric !== null ? r.metric as Record<string, string> : {};
    return { metric, value: Number.isFinite(n) ? n : null };
  });
}

async function queryScalar(base: string, query: string, now: number, limits: ScrapeLimits): Promise<number | null> {
  return (await queryVector(base, query, now, limits))[0]?.value ?? null;
}

/** The source for a ModelDeployment's analysis provider. */
export function analysisFor(mdep: ModelDeployment, sources: { router: AnalysisSource; prometheus: AnalysisSource }): AnalysisSource {
  return mdep.spec.rollout?.analysis?.provider === 'prometheus' ? sources.prometheus : sources.router;
}
