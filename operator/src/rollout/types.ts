// The vocabulary of a rollout, shared by the state machine, the analysis and the renderers.
import type { ModelDeploymentSpec } from '../api/types.ts';

/** A model version as the rollout tracks it: the stable one is recorded in status, since spec moves on. */
export interface ModelRef {
  version: string;
  uri: string;
  sha256?: string;
}

export type RolloutPhase =
  | 'Initialized' // the first version: nothing to roll out from
  | 'Progressing' // the candidate's pods start (weight 0), then canary steps
  | 'Shadowing' // the candidate gets copies of requests; its answers are compared, never returned
  | 'Promoting' // the candidate passed: it is the stable version now, the old one retires
  | 'Succeeded'
  | 'RolledBack' // a gate failed failureThreshold times
  | 'Aborted' // by annotation
  | 'ABTesting'; // a fixed split, never promoted

/** What one check measured over its window, and what it concluded. */
export interface AnalysisResult {
  /** When the window closed (RFC 3339). */
  time: string;
  phase: 'Shadowing' | 'Progressing' | 'ABTesting';
  windowSeconds: number;
  candidate: VersionNumbers;
  stable: VersionNumbers;
  shadow?: ShadowNumbers;
  /** The prediction shift judged (or, holding for rows, the output nearest to enough), where the gate applies. */
  predictionShift?: PredictionShift;
  /** passed, failed, or insufficient (too few requests to judge: the step holds). */
  verdict: 'passed' | 'failed' | 'insufficient' | 'observed';
  /** Every gate that failed, each with its numbers, e.g. "errorRate 0.25 > 0.01". */
  failedGates: string[];
  message: string;
}

export interface VersionNumbers {
  requests: number;
  errors: number;
  errorRate: number | null;
  p99Ms: number | null;
}

export interface ShadowNumbers {
  comparisons: number;
  mismatches: number;
  top1Rows: number;
  top1Agreement: number | null;
  divergenceP99: number | null;
  requests: number;
  errors: number;
  p99Ms: number | null;
}

/**
 * One model output's prediction shift over a window: the PSI of the candidate's shares of the baseline's bins
 * against the stable version's (null when either counted none), and the rows each counted.
 */
export interface PredictionShift {
  psi: number | null;
  output: string;
  candidateRows: number;
  stableRows: number;
}

export interface RolloutStatus {
  phase: RolloutPhase;
  stable: ModelRef;
  candidate?: ModelRef;
  /** During Promoting: the version that served before, kept until the new stable version is fully sized. */
  retiring?: ModelRef;
  /** The candidate's share of real traffic, in percent. */
  canaryWeight: number;
  /** The share of requests copied to the candidate (Shadowing). */
  shadowPercent?: number;
  /** Index into spec.rollout.steps; -1 while the candidate's pods start. */
  step?: number;
  phaseStartedAt?: string;
  /** Start of the window the next check judges. */
  windowStartedAt?: string;
  /** The last check of this window that could not judge (too little traffic); the next one is an interval later. */
  lastCheckAt?: string;
  failedChecks: number;
  paused?: boolean;
  /** Why the next step waits (GPU capacity), when it does. */
  holding?: string;
  lastAnalysis?: AnalysisResult;
  message: string;
}

export type RolloutSpec = NonNullable<ModelDeploymentSpec['rollout']>;
