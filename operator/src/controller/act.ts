// Act: carries out one decision, the only place a reconcile writes. Starts or forgets the rollout's
// analysis window, applies the desired objects (server-side apply, skipped when unchanged), removes
// versions and routing objects no longer wanted, writes status only when it changed, and tells the Events.
// An object of a wanted name that another owner (or none) controls is left alone, never applied over: the
// decision is taken again knowing it, so status and Events report the Conflict (until a later reconcile
// finds it gone).
// A failed apply is reported in status as Degraded with the API server's reason only (stable across
// retries, so a retry does not rewrite status), then thrown for the work queue to retry with backoff.
import type { EventRecord, ModelDeployment, ModelDeploymentStatus } from '../api/types.ts';
import { applyIfChanged } from './apply.ts';
import { describeApiError } from './api-errors.ts';
import { decide, decideApplyFailure, type Decision } from './decide.ts';
import type { Observer, ValidObservation, Observation } from './observe.ts';
import { pruneRouting, pruneVersions } from './prune.ts';
import { statusChanged } from './status.ts';
import type { RolloutPhase, RolloutStatus } from '../rollout/types.ts';

/** What act() writes with (and the caches it keeps current). */
export interface Actor extends Pick<Observer, 'objects' | 'analysis' | 'cache' | 'settings'> {
  recordEvent(mdep: ModelDeployment, event: EventRecord): Promise<void>;
  /** For the status subresource (which KubernetesObjectApi does not reach). */
  patchStatus(namespace: string, name: string, status: ModelDeploymentStatus): Promise<void>;
}

export interface ReconcileResult {
  /** Objects written (applies, deletes and the status update); 0 when nothing changed. */
  writes: number;
  found: boolean;
  /** When the rollout next needs a look (a check, a version to retire), if sooner than the resync. */
  requeueAfterMs?: number;
  /** A candidate was rolled back in this reconcile (counted for the chart's rollback alert). */
  rolledBack?: boolean;
  /** The rollout as this reconcile decided it, for the operator's rollout gauges; absent when nothing was decided (a refused spec). */
  rollout?: RolloutSummary;
}

/** What the operator's rollout gauges show of a ModelDeployment's rollout. */
export interface RolloutSummary {
  phase: RolloutPhase;
  stable: string;
  /** The candidate version (kept after it was rolled back or aborted, as in status). */
  candidate?: string;
  /** The candidate's share of real traffic, in percent. */
  canaryWeight: number;
  /** The share of requests copied to the candidate, in percent (0 unless Shadowing). */
  shadowPercent: number;
  failedChecks: number;
}

const summary = (rollout: RolloutStatus): RolloutSummary => ({
  phase: rollout.phase,
  stable: rollout.stable.version,
  ...(rollout.candidate ? { candidate: rollout.candidate.version } : {}),
  canaryWeight: rollout.canaryWeight,
  shadowPercent: rollout.shadowPercent ?? 0,
  failedChecks: rollout.failedChecks,
});

/** Applying the desired state failed; the message is the API server's reason, fit for status and Events. */
class ApplyError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'ApplyError';
  }
}

async function writeStatus(r: Actor, mdep: ModelDeployment, status: ModelDeploymentStatus): Promise<number> {
  if (!statusChanged(mdep.status, status)) return 0;
  await r.patchStatus(mdep.metadata.namespace ?? 'default', mdep.metadata.name, status);
  return 1;
}

async function applyAll(r: Actor, obs: ValidObservation, objects: Decision['objects']): Promise<{ applied: string[]; conflicts: string[] }> {
  const applied: string[] = [];
  const conflicts: string[] = [];
  for (const desired of objects) {
    const name = `${desired.kind}/${(desired.metadata as { name: string }).name}`;
    try {
      const { written, conflict } = await applyIfChanged(r.objects, desired, r.cache && { lookup: r.cache.live, memo: r.cache.memo });
      if (conflict) conflicts.push(conflict);
      if (written) applied.push(name);
    } catch (error) {
      const failure = new ApplyError(`applying ${name}: ${describeApiError(error)}`, { cause: error });
      // Say so in status (kstatus: Degraded), then fail the reconcile so the queue retries with backoff.
      await writeStatus(r, obs.mdep, decideApplyFailure(obs, failure.message)).catch(() => undefined);
      throw failure;
    }
  }
  return { applied, conflicts };
}

export async function act(r: Actor, obs: Observation, decision: Decision): Promise<ReconcileResult> {
  let writes = 0;
  const events: EventRecord[] = [];
  if (obs.valid && decision.rollout) {
    const state = decision.rollout;
    const analysis = r.analysis(obs.defaulted);
    if (state.windowStartedAt && state.windowStartedAt !== obs.mdep.status?.rollout?.windowStartedAt) await analysis.startWindow(obs.defaulted, state);
    if (!state.windowStartedAt) analysis.forget(obs.defaulted);

    const { applied, conflicts } = await applyAll(r, obs, decision.objects);
    if (conflicts.length > 0) decision = decide(obs, r.settings, conflicts);
    writes += applied.length;
    if (applied.length > 0) events.push({ type: 'Normal', reason: 'Applied', message: `applied ${applied.join(', ')}` });
    // Versions that no longer run go once the routes no longer send them anything.
    if (decision.keepVersions) {
      const removed = await pruneVersions(r.objects, obs.defaulted, obs.deployments, decision.keepVersions);
      writes += removed.length;
      for (const version of removed) events.push({ type: 'Normal', reason: 'VersionRemoved', message: `removed version ${version}: no longer stable or candidate` });
    }
    if (decision.pruneRouting) writes += await pruneRouting(r.objects, obs.defaulted, decision.pruneRouting);
  }
  writes += await writeStatus(r, obs.mdep, decision.status);
  for (const event of [...events, ...decision.events]) await r.recordEvent(obs.valid ? obs.defaulted : obs.mdep, event);
  const rolledBack = decision.events.some((e) => e.reason === 'RolledBack');
  return {
    writes, found: true,
    ...(decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {}),
    ...(rolledBack ? { rolledBack } : {}),
    ...(decision.rollout ? { rollout: summary(decision.rollout) } : {}),
  };
}
