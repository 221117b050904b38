// The rollout as a pure state machine: from the previous status, the spec, what is observed (candidate pods
// ready, the verdict of a due check, GPU headroom) and the time, decide the next status and the Events to
// tell. No I/O: the reconciler gathers the observations and applies the consequences (weights, replicas).
import type { EventRecord } from '../api/types.ts';
import { conditionTime } from '../api/time.ts';
import { formatDuration, parseDuration } from './durations.ts';
import type { AnalysisResult, ModelRef, RolloutSpec, RolloutStatus } from './types.ts';

export interface RolloutInput {
  /** spec.model: the version that should end up serving. */
  model: ModelRef;
  /** spec.rollout with the schema's defaults; undefined: a new version takes all traffic once ready. */
  rollout?: RolloutSpec;
  previous?: RolloutStatus;
  /** The serving.modelship.dev/paused annotation. */
  paused: boolean;
  /** The serving.modelship.dev/abort annotation names this candidate (or says "true"). */
  abort: boolean;
  /** The candidate's Deployment has its pods ready. */
  candidateReady: boolean;
  /** During Promoting: the new stable version's Deployment has its full size ready. */
  stableFullyReady: boolean;
  /** The result of the check that checkDue() said was due, or 'no-baseline' when its window has no start measurement. */
  analysis?: AnalysisResult | 'no-baseline';
  /** Why raising the candidate to this weight cannot fit on the nodes now (GPU), or undefined when it fits. */
  capacityProblem?: (candidateWeight: number) => string | undefined;
  now: number;
}

export interface RolloutDecision {
  status: RolloutStatus;
  events: EventRecord[];
}

export const sameModel = (a: ModelRef | undefined, b: ModelRef | undefined) =>
  a !== undefined && b !== undefined && a.version === b.version && a.uri === b.uri && (a.sha256 ?? '') === (b.sha256 ?? '');

const ACTIVE: ReadonlySet<string> = new Set(['Progressing', 'Shadowing', 'ABTesting']);
export const isActive = (status: RolloutStatus | undefined) => status !== undefined && ACTIVE.has(status.phase) && status.candidate !== undefined;

const steps = (rollout: RolloutSpec | undefined) => rollout?.steps ?? [5, 20, 50, 100];
const stepInterval = (rollout: RolloutSpec | undefined) => parseDuration(rollout?.stepInterval ?? '1m');
const shadowDuration = (rollout: RolloutSpec | undefined) => parseDuration(rollout?.shadow?.duration ?? '5m');
const failureThreshold = (rollout: RolloutSpec | undefined) => rollout?.analysis?.failureThreshold ?? 2;

/** Whether a check is due now: the machine wants an analysis result in its next input. */
export function checkDue(status: RolloutStatus | undefined, rollout: RolloutSpec | undefined, now: number): boolean {
  return msUntilCheck(status, rollout, now) === 0;
}

/** Time until the next check (0: due now), or undefined when no check is scheduled. */
export function msUntilCheck(status: RolloutStatus | undefined, rollout: RolloutSpec | undefined, now: number): number | undefined {
  const starting = status?.phase === 'Progressing' && (status.step ?? -1) < 0;
  if (!status || !isActive(status) || status.paused || !status.windowStartedAt || starting) return undefined;
  const since = Math.max(Date.parse(status.windowStartedAt), status.lastCheckAt ? Date.parse(status.lastCheckAt) : 0);
  return Math.max(0, since + stepInterval(rollout) - now);
}

/**
 * How long the retiring version stays after it stopped getting traffic: every router must have read the
 * new routes and finished its requests to it before its Service and pods go.
 */
export const RETIRE_AFTER_MS = 10_000;

/** When the machine next wants to be asked (a check, or a retiring version to remove), or undefined. */
export function msUntilDecision(status: RolloutStatus | undefined, rollout: RolloutSpec | undefined, now: number): number | undefined {
  if (status?.phase === 'Promoting') return Math.max(0, Date.parse(status.phaseStartedAt ?? '') + RETIRE_AFTER_MS - now);
  return msUntilCheck(status, rollout, now);
}

export function advanceRollout(input: RolloutInput): RolloutDecision {
  const { model, rollout, previous: prev, now } = input;
  const at = conditionTime(now);
  const events: EventRecord[] = [];
  const tell = (type: EventRecord['type'], reason: string, message: string) => events.push({ type, reason, message });
  const done = (status: RolloutStatus): RolloutDecision => ({ status, events });

  if (!prev) {
    return done({ phase: 'Initialized', stable: model, canaryWeight: 0, failedChecks: 0, message: `version ${model.version} serves all traffic` });
  }

  // spec.model is the stable version: nothing to roll out, or a rollout to finish or to cancel.
  if (sameModel(model, prev.stable)) {
    if (prev.phase === 'Promoting') {
      if (!input.stableFullyReady) return done({ ...prev, message: `promoting ${model.version}: waiting for its full size before ${prev.retiring?.version} retires` });
      if (now < Date.parse(prev.phaseStartedAt ?? '') + RETIRE_AFTER_MS) return done({ ...prev, message: `promoting ${model.version}: ${prev.retiring?.version} drains before it retires` });
      tell('Normal', 'Promoted', `version ${model.version} is stable and serves all traffic; ${prev.retiring?.version} retired`);
      return done({ phase: 'Succeeded', stable: model, canaryWeight: 0, failedChecks: 0, lastAnalysis: prev.lastAnalysis, message: `version ${model.version} promoted` });
    }
    if (prev.candidate && prev.phase !== 'Succeeded' && prev.phase !== 'Initialized') {
      if (isActive(prev)) tell('Normal', 'RolloutCancelled', `spec.model is back at the stable version ${model.version}; candidate ${prev.candidate.version} dropped`);
      return done({ phase: 'Succeeded', stable: model, canaryWeight: 0, failedChecks: 0, lastAnalysis: prev.lastAnalysis, message: `spec.model is the stable version ${model.version}` });
    }
    return done(prev);
  }

  // A version that is neither stable nor the current candidate: a new rollout from the stable version.
  if (!sameModel(model, prev.candidate)) {
    const replaced = isActive(prev) ? ` (replacing candidate ${prev.candidate!.version})` : '';
    const how = !rollout ? 'cutover once ready' : rollout.strategy === 'abTest' ? 'A/B test' : rollout.shadow ? 'shadow, then canary' : 'canary';
    tell('Normal', 'RolloutStarted', `rolling out ${model.version} from stable ${prev.stable.version} (${how})${replaced}`);
    const started: RolloutStatus = {
      phase: 'Progressing', stable: prev.stable, candidate: model, canaryWeight: 0, step: -1, failedChecks: 0,
      phaseStartedAt: at, message: `starting candidate ${model.version}`,
    };
    return done(holdFirstPods(started, input, tell));
  }

  // The current candidate.
  if (prev.phase === 'RolledBack' || prev.phase === 'Aborted') return done(prev);
  const candidate = prev.candidate!;
  if (input.abort) {
    tell('Warning', 'RolloutAborted', `rollout of ${candidate.version} aborted by annotation; ${prev.stable.version} serves all traffic`);
    return done({ ...rest(prev), phase: 'Aborted', canaryWeight: 0, message: `aborted by annotation at weight ${prev.canaryWeight}%; remove serving.modelship.dev/abort before the next version` });
  }
  if (input.paused) {
    if (prev.paused) return done(prev);
    tell('Normal', 'RolloutPaused', `rollout of ${candidate.version} paused at weight ${prev.canaryWeight}%`);
    return done({ ...prev, paused: true, message: `paused at weight ${prev.canaryWeight}% by annotation` });
  }
  if (prev.paused) {
    // Evidence from before the pause is stale: the step's window starts again.
    tell('Normal', 'RolloutResumed', `rollout of ${candidate.version} resumed at weight ${prev.canaryWeight}%`);
    return done({ ...prev, paused: undefined, windowStartedAt: at, lastCheckAt: undefined, message: `resumed at weight ${prev.canaryWeight}%` });
  }

  const base = (next: Partial<RolloutStatus>): RolloutStatus => ({ ...prev, holding: undefined, ...next });

  /** Raise the candidate to step i, unless its pods would not fit: then hold, and say why. */
  const enterStep = (i: number, from: RolloutStatus): RolloutDecision => {
    const weight = steps(rollout)[i];
    const problem = input.capacityProblem?.(weight);
    if (problem) {
      if (from.holding !== problem) tell('Warning', 'StepHeld', `holding before weight ${weight}%: ${problem}`);
      return done({ ...from, holding: problem, windowStartedAt: at, lastCheckAt: undefined, message: `holding before weight ${weight}%: ${problem}` });
    }
    tell('Normal', 'StepAdvanced', `candidate ${candidate.version} at weight ${weight}% (step ${i + 1} of ${steps(rollout).length})`);
    return done({
      ...from, holding: undefined, phase: 'Progressing', step: i, canaryWeight: weight, shadowPercent: undefined, windowStartedAt: at, lastCheckAt: undefined,
      message: `weight ${weight}%: judging for ${formatDuration(stepInterval(rollout))}`,
    });
  };
  const promote = (): RolloutDecision => {
    tell('Normal', 'Promoting', `candidate ${candidate.version} becomes stable; ${prev.stable.version} retires once ${candidate.version} is fully sized`);
    return done({
      // The promoted version takes all traffic: shown as weight 100 until the old one has retired.
      phase: 'Promoting', stable: candidate, retiring: prev.stable, canaryWeight: 100, failedChecks: prev.failedChecks,
      lastAnalysis: prev.lastAnalysis, phaseStartedAt: at, message: `promoting ${candidate.version}`,
    });
  };

  // Waiting for the candidate's pods.
  if (prev.phase === 'Progressing' && (prev.step ?? -1) < 0) {
    if (!input.candidateReady) return done(holdFirstPods({ ...prev, message: `waiting for the pods of candidate ${candidate.version}` }, input, tell));
    if (!rollout) return promote();
    if (rollout.strategy === 'abTest') {
      const weight = rollout.abTest?.weight ?? 50;
      tell('Normal', 'ABTestStarted', `A/B test: ${candidate.version} gets ${weight}%, ${prev.stable.version} ${100 - weight}%`);
      return done(base({ phase: 'ABTesting', canaryWeight: weight, windowStartedAt: at, lastCheckAt: undefined, phaseStartedAt: at, message: `A/B test at ${weight}% (never promoted: change spec.model to end it)` }));
    }
    if (rollout.shadow) {
      const percent = rollout.shadow.percent ?? 10;
      tell('Normal', 'ShadowStarted', `copying ${percent}% of requests to ${candidate.version} for ${formatDuration(shadowDuration(rollout))}; clients get ${prev.stable.version}'s answers`);
      return done(base({ phase: 'Shadowing', shadowPercent: percent, phaseStartedAt: at, windowStartedAt: at, lastCheckAt: undefined, message: `shadowing ${percent}% of requests` }));
    }
    return enterStep(0, prev);
  }

  // A/B with strategy switched to canary (or back): follow the spec.
  if (prev.phase === 'ABTesting' && rollout?.strategy !== 'abTest') return enterStep(0, prev);
  if (prev.phase !== 'ABTesting' && rollout?.strategy === 'abTest') return done({ ...prev, step: -1, phase: 'Progressing', message: 'strategy changed to abTest' });

  const result = input.analysis;
  if (result === undefined) return done(prev);
  if (result === 'no-baseline') {
    return done({ ...prev, windowStartedAt: at, lastCheckAt: undefined, message: 'analysis window restarted: no measurement of its start (the operator restarted)' });
  }
  if (prev.phase === 'ABTesting' || result.verdict === 'observed') {
    return done({ ...prev, lastAnalysis: result, windowStartedAt: at, lastCheckAt: undefined });
  }
  if (result.verdict === 'insufficient') {
    // Not enough traffic to judge: the window goes on growing until there is.
    return done({ ...prev, lastAnalysis: result, lastCheckAt: at, message: `holding: ${result.message}` });
  }
  if (result.verdict === 'failed') {
    const failedChecks = prev.failedChecks + 1;
    const threshold = failureThreshold(rollout);
    tell('Warning', 'CheckFailed', `check ${failedChecks} of ${threshold} failed for ${candidate.version}: ${result.failedGates.join('; ')}`);
    if (failedChecks >= threshold) {
      tell('Warning', 'RolledBack', `candidate ${candidate.version} rolled back to ${prev.stable.version}: ${result.failedGates.join('; ')}`);
      return done({ ...rest(prev), phase: 'RolledBack', canaryWeight: 0, failedChecks, lastAnalysis: result, message: `rolled back: ${result.failedGates.join('; ')}` });
    }
    return done({ ...prev, failedChecks, lastAnalysis: result, windowStartedAt: at, lastCheckAt: undefined, message: `check failed (${failedChecks} of ${threshold}): ${result.failedGates.join('; ')}` });
  }
  // Passed.
  const judged = { ...prev, lastAnalysis: result };
  if (prev.phase === 'Shadowing') {
    const left = Date.parse(prev.phaseStartedAt ?? at) + shadowDuration(rollout) - now;
    if (left > 0) return done({ ...judged, windowStartedAt: at, lastCheckAt: undefined, message: `shadow check passed; ${formatDuration(left)} of shadowing left` });
    tell('Normal', 'ShadowPassed', `shadow of ${candidate.version} passed: ${result.message}`);
    return enterStep(0, judged);
  }
  const step = prev.step ?? 0;
  if (step >= steps(rollout).length - 1) return promote();
  return enterStep(step + 1, judged);
}

/**
 * While the candidate's first pods would not fit on the GPUs the nodes have free, none are created (no
 * Pending pods): the rollout waits with the reason in status, told once by Event, until room appears.
 */
function holdFirstPods(status: RolloutStatus, input: RolloutInput, tell: (type: EventRecord['type'], reason: string, message: string) => void): RolloutStatus {
  const problem = input.capacityProblem?.(0);
  if (!problem) return { ...status, holding: undefined };
  if (status.holding !== problem) tell('Warning', 'CandidateHeld', `candidate ${status.candidate?.version} waits for GPU room: ${problem}`);
  return { ...status, holding: problem, message: `waiting for GPU room for candidate ${status.candidate?.version}: ${problem}` };
}

/** The status of a finished rollout keeps the rejected candidate (so the same spec does not retry it) and drops the step state. */
function rest(prev: RolloutStatus): RolloutStatus {
  return { phase: prev.phase, stable: prev.stable, candidate: prev.candidate, canaryWeight: 0, failedChecks: prev.failedChecks, lastAnalysis: prev.lastAnalysis, phaseStartedAt: prev.phaseStartedAt, message: prev.message };
}
