// Status from observation: conditions (Ready, Progressing, Degraded, GPUCapacityMissing, Drifting) with observedGeneration, in the
// shape kstatus, Argo CD, Flux and `kubectl wait` understand. Pure.
import { isDeepStrictEqual } from 'node:util';
import type { Condition, EventRecord, ModelDeployment, ModelDeploymentStatus } from '../api/types.ts';
import { isActive } from '../rollout/state-machine.ts';
import type { RolloutStatus } from '../rollout/types.ts';
import type { DriftCondition } from '../monitoring/drift-judgement.ts';

/** A condition as the operator writes it: every field set. */
type WrittenCondition = Condition & Required<Pick<Condition, 'reason' | 'message' | 'lastTransitionTime'>>;

export interface ObservedWorkload {
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /**
   * Why its pods cannot be created, when they cannot (the Deployment's ReplicaFailure condition): a missing
   * ServiceAccount or PriorityClass of spec.pod, a quota. Otherwise only the ReplicaSet's events would say.
   */
  podsNotCreated?: string;
}

export interface StatusInput {
  mdep: ModelDeployment;
  /** Validation problems; when any, nothing was applied. */
  invalid: string[];
  /** Why applying the desired state failed, when it did (it is retried with backoff). */
  applyFailure?: string;
  /** Why spec.model's version was not started (it would share a running version's objects); nothing was applied. */
  refused?: string;
  /** Objects left alone because another owner (or none) controls them; the rest was applied. */
  conflicts?: string[];
  workload?: ObservedWorkload;
  /** Ready pods of the router, when the router is the model's address (undefined: it is not). */
  routerReadyReplicas?: number;
  desiredReplicas: number;
  /** Why no node can take the pods' GPU request, when none can. */
  gpuProblem?: string;
  selector: string;
  url: string;
  now: string;
  /** The rollout's state; workload and desiredReplicas then describe its stable version. */
  rollout?: RolloutStatus;
  /** The Drifting condition, with spec.monitoring.baseline (it never touches Ready: kstatus, Argo CD and Flux see health, not data). */
  drift?: DriftCondition;
}

/** Keeps a condition's lastTransitionTime when its status did not change. */
function carry(previous: Condition[] | undefined, next: WrittenCondition): WrittenCondition {
  const before = previous?.find((c) => c.type === next.type);
  return { ...next, lastTransitionTime: before?.status === next.status && before.lastTransitionTime ? before.lastTransitionTime : next.lastTransitionTime };
}

export function computeStatus(input: StatusInput): ModelDeploymentStatus {
  const { mdep, invalid, workload, now } = input;
  const generation = mdep.metadata.generation;
  const previous = mdep.status?.conditions;
  const c = (type: string, status: Condition['status'], reason: string, message: string): WrittenCondition =>
    carry(previous, { type, status, observedGeneration: generation, lastTransitionTime: now, reason, message });

  if (invalid.length > 0) {
    const message = invalid.join('; ');
    return {
      observedGeneration: generation,
      phase: 'Failed',
      conditions: [c('Ready', 'False', 'InvalidSpec', message), c('Progressing', 'False', 'InvalidSpec', message), c('Degraded', 'True', 'InvalidSpec', message)],
    };
  }
  if (input.applyFailure || input.refused) {
    // What was there stays: the last status, and the objects of the versions that run.
    const [reason, message, progressing] = input.refused ? ['VersionConflict', input.refused, c('Progressing', 'False', 'VersionConflict', input.refused)]
      : ['ApplyFailed', input.applyFailure!, c('Progressing', 'True', 'Retrying', input.applyFailure!)];
    return {
      ...(mdep.status ?? {}),
      observedGeneration: generation,
      phase: 'Degraded',
      conditions: [c('Ready', 'False', reason, message), progressing, c('Degraded', 'True', reason, message)],
    };
  }
  const ready = workload?.readyReplicas ?? 0;
  const wanted = Math.max(1, input.desiredReplicas);
  const rolledOut = workload !== undefined && workload.updatedReplicas >= wanted && ready >= wanted;
  // Clients reach the model through its router: pods of the version that nothing can reach are not service.
  const routerDown = input.routerReadyReplicas === 0;
  const rollout = input.rollout;
  const stable = rollout?.stable.version ?? mdep.spec.model.version;
  const rollingOut = rollout !== undefined && (isActive(rollout) || rollout.phase === 'Promoting');
  const rejected = rollout !== undefined && (rollout.phase === 'RolledBack' || rollout.phase === 'Aborted') ? rollout : undefined;
  const conflict = input.conflicts?.length ? `not applied: ${input.conflicts.join('; ')}` : undefined;
  const notCreated = workload?.podsNotCreated ? `pods of version ${stable} cannot be created: ${workload.podsNotCreated}` : undefined;
  const phase = rejected?.phase === 'RolledBack' || conflict || notCreated ? 'Degraded' : rolledOut && !routerDown && !rollingOut ? 'Ready' : input.gpuProblem ? 'Pending' : 'Progressing';
  const progressing = rollingOut
    ? c('Progressing', 'True', rollout!.phase === 'Progressing' ? ((rollout!.step ?? -1) < 0 ? 'CandidateStarting' : 'Canary') : rollout!.phase, rollout!.message)
    : rejected
      ? c('Progressing', 'False', rejected.phase, `candidate ${rejected.candidate?.version} ${rejected.message}`)
      : rolledOut
        ? c('Progressing', 'False', 'RolledOut', `version ${stable} is rolled out`)
        : c('Progressing', 'True', 'RollingOut', `rolling out version ${stable}`);
  return {
    observedGeneration: generation,
    phase,
    replicas: workload?.replicas ?? 0,
    readyReplicas: ready,
    selector: input.selector,
    url: input.url,
    stableVersion: rollout ? stable : rolledOut ? stable : mdep.status?.stableVersion,
    gpuMode: mdep.spec.gpu?.mode ?? 'none',
    ...(rollout ? { rollout: JSON.parse(JSON.stringify(rollout)) as RolloutStatus } : {}),
    conditions: [
      conflict
        ? c('Ready', 'False', 'Conflict', conflict)
        : rolledOut && routerDown
        ? c('Ready', 'False', 'RouterNotReady', `${ready} of ${wanted} pods of version ${stable} ready, but no pod of the router in front of them`)
        : rolledOut
        ? c('Ready', 'True', 'Available', `${ready} of ${wanted} pods of version ${stable} ready`)
        : notCreated
        ? c('Ready', 'False', 'PodsNotCreated', `${ready} of ${wanted} pods of version ${stable} ready; ${notCreated}`)
        : c('Ready', 'False', 'PodsNotReady', `${ready} of ${wanted} pods of version ${stable} ready`),
      progressing,
      conflict
        ? c('Degraded', 'True', 'Conflict', conflict)
        : notCreated
        ? c('Degraded', 'True', 'PodsNotCreated', notCreated)
        : rejected?.phase === 'RolledBack'
        ? c('Degraded', 'True', 'RolledBack', `candidate ${rejected.candidate?.version} ${rejected.message}`)
        : c('Degraded', 'False', 'AsExpected', 'no problem found'),
      input.gpuProblem
        ? c('GPUCapacityMissing', 'True', 'NoNodeFits', input.gpuProblem)
        : c('GPUCapacityMissing', 'False', 'CapacityAvailable', 'a node advertises the GPU resources and labels the pods need'),
      ...(input.drift ? [c('Drifting', input.drift.status, input.drift.reason, input.drift.message)] : []),
    ],
  };
}

/** Events for conditions that changed status: a decision or a failure worth telling the user about once. */
export function transitionEvents(before: Condition[] | undefined, after: Condition[]): EventRecord[] {
  const events: EventRecord[] = [];
  for (const c of after) {
    const previous = before?.find((p) => p.type === c.type);
    // A condition still True for another reason (a conflict after a rollback) is news too.
    if (previous?.status === c.status && previous.reason === c.reason) continue;
    const message = c.message ?? '';
    if (c.type === 'GPUCapacityMissing' && c.status === 'True') events.push({ type: 'Warning', reason: 'GPUCapacityMissing', message });
    if (c.type === 'Degraded' && c.status === 'True') events.push({ type: 'Warning', reason: c.reason ?? 'Degraded', message });
    if (c.type === 'Ready' && c.status === 'True') events.push({ type: 'Normal', reason: 'Ready', message });
    if (c.type === 'Drifting') events.push(...driftEvents(previous, c));
  }
  return events;
}

/**
 * Drift rising to a mark is told as a Warning, falling back below the warning mark after one as Normal.
 * Unknown (too few rows, pods unreadable while they restart) is not news: it says nothing of the data.
 */
function driftEvents(previous: Condition | undefined, c: Condition): EventRecord[] {
  const message = c.message ?? '';
  if (c.reason === 'DriftAlert') return [{ type: 'Warning', reason: 'DriftDetected', message }];
  if (c.reason === 'DriftWarning') return [{ type: 'Warning', reason: 'DriftWarning', message }];
  if (c.reason === 'NoDrift' && (previous?.reason === 'DriftAlert' || previous?.reason === 'DriftWarning')) return [{ type: 'Normal', reason: 'DriftResolved', message }];
  return [];
}

/** Whether the computed status differs from the stored one (key order and undefined fields aside). */
export function statusChanged(before: unknown, after: unknown): boolean {
  const plain = (value: unknown) => JSON.parse(JSON.stringify(value ?? {}));
  return !isDeepStrictEqual(plain(before), plain(after));
}
