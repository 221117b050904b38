// One check of a rollout: the numbers of a window for the candidate and the stable version (and the
// shadow comparison), judged against spec.rollout's gates. Pure: the numbers come from the router's
// /metrics (metric-samples.ts) or from Prometheus (prometheus.ts).
import type { AnalysisResult, RolloutSpec, ShadowNumbers, VersionNumbers } from './types.ts';

export interface WindowNumbers {
  candidate: VersionNumbers;
  stable: VersionNumbers;
  shadow?: ShadowNumbers;
}

const fmt = (n: number) => String(Number(n.toPrecision(3)));

export function judgeWindow(
  numbers: WindowNumbers,
  rollout: RolloutSpec | undefined,
  phase: AnalysisResult['phase'],
  windowSeconds: number,
  time: string,
): AnalysisResult {
  const analysis = rollout?.analysis ?? {};
  const maxErrorRate = analysis.maxErrorRate ?? 0.01;
  const base = { time, phase, windowSeconds: Math.round(windowSeconds), ...numbers };
  if (phase === 'ABTesting') {
    return { ...base, verdict: 'observed', failedGates: [], message: `${numbers.candidate.requests} candidate and ${numbers.stable.requests} stable requests observed` };
  }

  const failed: string[] = [];
  /** Latency and error gates, for real traffic (canary) or shadow copies. */
  const judgeServing = (who: string, requests: number, errors: number, p99Ms: number | null) => {
    const errorRate = requests > 0 ? errors / requests : 0;
    if (errorRate > maxErrorRate) failed.push(`${who} error rate ${fmt(errorRate)} > ${fmt(maxErrorRate)} (${errors} of ${requests})`);
    if (analysis.maxLatencyP99Ms !== undefined && p99Ms !== null && p99Ms > analysis.maxLatencyP99Ms) {
      failed.push(`${who} p99 latency ${fmt(p99Ms)} ms > ${fmt(analysis.maxLatencyP99Ms)} ms`);
    }
    const stableP99 = numbers.stable.p99Ms;
    if (analysis.maxLatencyP99Ratio !== undefined && p99Ms !== null && stableP99 !== null && stableP99 > 0 && p99Ms > analysis.maxLatencyP99Ratio * stableP99) {
      failed.push(`${who} p99 latency ${fmt(p99Ms)} ms > ${fmt(analysis.maxLatencyP99Ratio)} x stable ${fmt(stableP99)} ms`);
    }
  };

  if (phase === 'Shadowing') {
    const shadow = numbers.shadow ?? { comparisons: 0, mismatches: 0, top1Rows: 0, top1Agreement: null, divergenceP99: null, requests: 0, errors: 0, p99Ms: null };
    const gates = rollout?.shadow ?? {};
    const needed = gates.minComparisons ?? 100;
    // Answers of another shape fail at once; errors once there are as many as a judgement needs.
    if (shadow.mismatches > 0) failed.push(`${shadow.mismatches} shadow answers differ in output names or shapes`);
    if (shadow.requests >= needed || shadow.errors >= needed) judgeServing('shadow', shadow.requests, shadow.errors, shadow.p99Ms);
    if (failed.length === 0 && shadow.comparisons < needed) {
      return { ...base, verdict: 'insufficient', failedGates: [], message: `${shadow.comparisons} of ${needed} shadow comparisons` };
    }
    if (gates.minAgreement !== undefined && shadow.top1Agreement !== null && shadow.top1Agreement < gates.minAgreement) {
      failed.push(`top-1 agreement ${fmt(shadow.top1Agreement)} < ${fmt(gates.minAgreement)} (${shadow.top1Rows} rows)`);
    }
    if (gates.maxDivergence !== undefined && shadow.divergenceP99 !== null && shadow.divergenceP99 > gates.maxDivergence) {
      failed.push(`p99 max abs difference ${fmt(shadow.divergenceP99)} > ${fmt(gates.maxDivergence)}`);
    }
    const agreement = shadow.top1Agreement === null ? '' : `, top-1 agreement ${fmt(shadow.top1Agreement)}`;
    const summary = `${shadow.comparisons} comparisons${agreement}, p99 max abs difference ${shadow.divergenceP99 === null ? 'n/a' : fmt(shadow.divergenceP99)}`;
    return { ...base, verdict: failed.length > 0 ? 'failed' : 'passed', failedGates: failed, message: summary };
  }

  const { candidate } = numbers;
  const needed = analysis.minRequests ?? 50;
  judgeServing('candidate', candidate.requests, candidate.errors, candidate.p99Ms);
  // Too little traffic to judge latency or a low error rate; a flood of errors fails at once.
  if (candidate.requests < needed && !(failed.length > 0 && candidate.errors >= needed)) {
    return { ...base, verdict: 'insufficient', failedGates: [], message: `${candidate.requests} of ${needed} candidate requests` };
  }
  const summary = `${candidate.requests} requests, error rate ${fmt(candidate.errorRate ?? 0)}, p99 ${candidate.p99Ms === null ? 'n/a' : `${fmt(candidate.p99Ms)} ms`} (stable ${numbers.stable.p99Ms === null ? 'n/a' : `${fmt(numbers.stable.p99Ms)} ms`})`;
  return { ...base, verdict: failed.length > 0 ? 'failed' : 'passed', failedGates: failed, message: summary };
}
