// One check of a rollout: the numbers of a window for the candidate and the stable version (and the
// shadow comparison, and the prediction shift), judged against spec.rollout's gates. Pure: the numbers come
// from the router's and the model servers' /metrics (metric-samples.ts) or from Prometheus (analysis.ts).
import { judgedShift } from './prediction-shift.ts';
import type { AnalysisResult, PredictionShift, RolloutSpec, ShadowNumbers, VersionNumbers } from './types.ts';

export interface WindowNumbers {
  candidate: VersionNumbers;
  stable: VersionNumbers;
  shadow?: ShadowNumbers;
  /** Each output's prediction shift, measured where the gate applies (prediction-shift.ts); else absent. */
  predictions?: PredictionShift[];
}

const fmt = (n: number) => String(Number(n.toPrecision(3)));

type Analysis = NonNullable<RolloutSpec['analysis']>;
type ShadowGates = NonNullable<RolloutSpec['shadow']>;

/** What a serving gate looks at: real traffic of the candidate (canary) or the shadow copies. */
interface Serving {
  who: 'candidate' | 'shadow';
  requests: number;
  errors: number;
  p99Ms: number | null;
  /** The stable version's p99 over the same window. */
  stableP99Ms: number | null;
}

/**
 * A gate (Flagger's habit: the checks are data, so a new gate is a new row): its limit from the spec, or
 * undefined when the spec sets none, and what fails it, described with its numbers, or undefined.
 */
interface Gate<Subject, Spec> {
  limit(spec: Spec): number | undefined;
  failure(subject: Subject, limit: number): string | undefined;
}

/** Judged on the candidate's traffic in a canary step, and on the shadow copies while shadowing. */
const SERVING_GATES: Array<Gate<Serving, Analysis>> = [
  {
    limit: (a) => a.maxErrorRate ?? 0.01,
    failure: (s, max) => {
      const errorRate = s.requests > 0 ? s.errors / s.requests : 0;
      return errorRate > max ? `${s.who} error rate ${fmt(errorRate)} > ${fmt(max)} (${s.errors} of ${s.requests})` : undefined;
    },
  },
  {
    limit: (a) => a.maxLatencyP99Ms,
    failure: (s, max) => (s.p99Ms !== null && s.p99Ms > max ? `${s.who} p99 latency ${fmt(s.p99Ms)} ms > ${fmt(max)} ms` : undefined),
  },
  {
    limit: (a) => a.maxLatencyP99Ratio,
    failure: (s, ratio) => (s.p99Ms !== null && s.stableP99Ms !== null && s.stableP99Ms > 0 && s.p99Ms > ratio * s.stableP99Ms
      ? `${s.who} p99 latency ${fmt(s.p99Ms)} ms > ${fmt(ratio)} x stable ${fmt(s.stableP99Ms)} ms`
      : undefined),
  },
];

/** Judged on the comparison of shadow answers with the stable version's, once there are enough. */
const COMPARISON_GATES: Array<Gate<ShadowNumbers, ShadowGates>> = [
  {
    limit: (g) => g.minAgreement,
    failure: (s, min) => (s.top1Agreement !== null && s.top1Agreement < min ? `top-1 agreement ${fmt(s.top1Agreement)} < ${fmt(min)} (${s.top1Rows} rows)` : undefined),
  },
  {
    limit: (g) => g.maxDivergence,
    failure: (s, max) => (s.divergenceP99 !== null && s.divergenceP99 > max ? `p99 max abs difference ${fmt(s.divergenceP99)} > ${fmt(max)}` : undefined),
  },
];

/** Judged on the worst output's shift of the candidate's predictions from the stable version's. */
const PREDICTION_GATES: Array<Gate<PredictionShift, Analysis>> = [
  {
    limit: (a) => a.maxPredictionShift,
    failure: (s, max) => (s.psi !== null && s.psi > max
      ? `prediction shift PSI ${fmt(s.psi)} > ${fmt(max)} (output ${s.output}, ${s.candidateRows} candidate and ${s.stableRows} stable rows)`
      : undefined),
  },
];

/** The prediction-shift gate over one window: judged with its failures, or holding for rows (and why). */
type ShiftCheck =
  | { judged: true; shift: PredictionShift; failed: string[] }
  | { judged: false; shift?: PredictionShift; holding: string };

/**
 * The prediction shift a check judges, with `needed` rows on both sides; undefined where the gate is unset
 * or was not measured. Too few rows hold the check rather than pass it.
 */
function checkShift(predictions: PredictionShift[] | undefined, analysis: Analysis, needed: number): ShiftCheck | undefined {
  if (predictions === undefined || analysis.maxPredictionShift === undefined) return undefined;
  const chosen = judgedShift(predictions, needed);
  if (chosen?.judged) return { judged: true, shift: chosen.shift, failed: failures(PREDICTION_GATES, analysis, chosen.shift) };
  const s = chosen?.shift;
  return {
    judged: false,
    shift: s,
    holding: s ? `${s.candidateRows} candidate and ${s.stableRows} stable prediction rows of ${needed} each (output ${s.output})` : `no prediction rows counted (${needed} needed on each side)`,
  };
}

/** The results' fields and the summary's words for a shift check. */
const withShift = (check: ShiftCheck | undefined) => (check?.shift ? { predictionShift: check.shift } : {});
const shiftSummary = (check: ShiftCheck | undefined) => (check?.judged ? `, prediction shift PSI ${fmt(check.shift.psi!)} (output ${check.shift.output})` : '');

/** The failures of every gate in the table whose limit the spec sets. */
function failures<Subject, Spec>(gates: Array<Gate<Subject, Spec>>, spec: Spec, subject: Subject): string[] {
  return gates.flatMap((gate) => {
    const limit = gate.limit(spec);
    const failure = limit === undefined ? undefined : gate.failure(subject, limit);
    return failure === undefined ? [] : [failure];
  });
}

export function judgeWindow(
  numbers: WindowNumbers,
  rollout: RolloutSpec | undefined,
  phase: AnalysisResult['phase'],
  windowSeconds: number,
  time: string,
): AnalysisResult {
  const analysis = rollout?.analysis ?? {};
  const { predictions, ...measured } = numbers;
  const base = { time, phase, windowSeconds: Math.round(windowSeconds), ...measured };
  if (phase === 'ABTesting') {
    return { ...base, verdict: 'observed', failedGates: [], message: `${numbers.candidate.requests} candidate and ${numbers.stable.requests} stable requests observed` };
  }
  const stableP99Ms = numbers.stable.p99Ms;

  if (phase === 'Shadowing') {
    const shadow = numbers.shadow ?? { comparisons: 0, mismatches: 0, top1Rows: 0, top1Agreement: null, divergenceP99: null, requests: 0, errors: 0, p99Ms: null };
    const gates = rollout?.shadow ?? {};
    const needed = gates.minComparisons ?? 100;
    const shift = checkShift(predictions, analysis, needed);
    const judged = { ...base, ...withShift(shift) };
    const failed: string[] = [];
    // Answers of another shape fail at once; errors once there are as many as a judgement needs.
    if (shadow.mismatches > 0) failed.push(`${shadow.mismatches} shadow answers differ in output names or shapes`);
    if (shadow.requests >= needed || shadow.errors >= needed) {
      failed.push(...failures(SERVING_GATES, analysis, { who: 'shadow', requests: shadow.requests, errors: shadow.errors, p99Ms: shadow.p99Ms, stableP99Ms }));
    }
    if (failed.length === 0 && shadow.comparisons < needed) {
      return { ...judged, verdict: 'insufficient', failedGates: [], message: `${shadow.comparisons} of ${needed} shadow comparisons` };
    }
    failed.push(...failures(COMPARISON_GATES, gates, shadow));
    if (failed.length === 0 && shift && !shift.judged) return { ...judged, verdict: 'insufficient', failedGates: [], message: shift.holding };
    if (shift?.judged) failed.push(...shift.failed);
    const agreement = shadow.top1Agreement === null ? '' : `, top-1 agreement ${fmt(shadow.top1Agreement)}`;
    const summary = `${shadow.comparisons} comparisons${agreement}, p99 max abs difference ${shadow.divergenceP99 === null ? 'n/a' : fmt(shadow.divergenceP99)}${shiftSummary(shift)}`;
    return { ...judged, verdict: failed.length > 0 ? 'failed' : 'passed', failedGates: failed, message: summary };
  }

  const { candidate } = numbers;
  const needed = analysis.minRequests ?? 50;
  const shift = checkShift(predictions, analysis, needed);
  const judged = { ...base, ...withShift(shift) };
  const failed = failures(SERVING_GATES, analysis, { who: 'candidate', requests: candidate.requests, errors: candidate.errors, p99Ms: candidate.p99Ms, stableP99Ms });
  // Too little traffic to judge latency or a low error rate; a flood of errors fails at once.
  if (candidate.requests < needed && !(failed.length > 0 && candidate.errors >= needed)) {
    return { ...judged, verdict: 'insufficient', failedGates: [], message: `${candidate.requests} of ${needed} candidate requests` };
  }
  // Enough requests but too few prediction rows (a sampled drift count, a stable version with little traffic).
  if (failed.length === 0 && shift && !shift.judged) return { ...judged, verdict: 'insufficient', failedGates: [], message: shift.holding };
  if (shift?.judged) failed.push(...shift.failed);
  const summary = `${candidate.requests} requests, error rate ${fmt(candidate.errorRate ?? 0)}, p99 ${candidate.p99Ms === null ? 'n/a' : `${fmt(candidate.p99Ms)} ms`} (stable ${numbers.stable.p99Ms === null ? 'n/a' : `${fmt(numbers.stable.p99Ms)} ms`})${shiftSummary(shift)}`;
  return { ...judged, verdict: failed.length > 0 ? 'failed' : 'passed', failedGates: failed, message: summary };
}
