// Decide: from one observation, everything the reconcile should bring about — the rollout's next state,
// the objects that should exist, the status, the Events to tell and when to look again. Pure: plain data
// in, plain data out, so every decision is unit-tested without an API server (act.ts carries it out).
import { conditionTime } from '../api/time.ts';
import type { EventRecord, ModelDeploymentStatus, ValidModelDeployment } from '../api/types.ts';
import { renderDesiredState, versionView } from '../render/desired-state.ts';
import { gpuPlacement } from '../render/gpu.ts';
import { gpuCapacityProblem, gpuHeadroomProblem } from '../render/gpu-capacity.ts';
import { selectorLabels, versionedName, versionNameClash } from '../render/names.ts';
import { routerUrl } from '../render/router.ts';
import type { OperatorSettings } from '../render/settings.ts';
import { versionUrl } from '../render/workload.ts';
import { advanceRollout, msUntilDecision } from '../rollout/state-machine.ts';
import { replicaRange, versionShares, type VersionShare } from '../rollout/traffic.ts';
import type { RolloutStatus } from '../rollout/types.ts';
import type { V1Deployment } from '@kubernetes/client-node';
import { modelRef, type InvalidObservation, type Observation, type ValidObservation } from './observe.ts';
import { computeStatus, transitionEvents, type StatusInput } from './status.ts';
import { driftCheckIntervalMs, driftMarks, judgeDrift } from '../monitoring/drift-judgement.ts';

export const PAUSE_ANNOTATION = 'serving.modelship.dev/paused';
export const ABORT_ANNOTATION = 'serving.modelship.dev/abort';

/** The soonest a rollout asks to be looked at again, so a decision due now cannot spin the queue. */
const MIN_REQUEUE_MS = 250;

export interface Decision {
  /** The rollout's next state (absent for a refused spec or version: then nothing is applied). */
  rollout?: RolloutStatus;
  /** The objects that should exist, for server-side apply. */
  objects: Array<Record<string, unknown>>;
  /** Versions whose objects stay; the others' are removed. Absent: remove nothing. */
  keepVersions?: string[];
  /** The routing provider whose objects go (the one status says was in effect before a switch). */
  pruneRouting?: string;
  status: ModelDeploymentStatus;
  /** The rollout's decisions, then conditions that changed status. */
  events: EventRecord[];
  /** When the rollout next needs a look (a check, a version to retire), if it does. */
  requeueAfterMs?: number;
}

/** The Deployment named for a version (one under an earlier name is on its way out). */
const deploymentOf = (mdep: ValidModelDeployment, deployments: V1Deployment[], version: string) =>
  deployments.find((d) => d.metadata?.name === versionedName(mdep, version));

/** Ready pods of a version against the low end of its replica range (its full range with `full`). */
function versionReady(mdep: ValidModelDeployment, deployments: V1Deployment[], share: VersionShare | undefined, full = false): boolean {
  if (!share) return false;
  const deployment = deploymentOf(mdep, deployments, share.model.version);
  const wanted = Math.max(1, full ? mdep.spec.scaling.minReplicas : replicaRange(mdep.spec.scaling, share).min);
  return (deployment?.status?.readyReplicas ?? 0) >= wanted && (deployment?.status?.updatedReplicas ?? 0) >= wanted;
}

/** The model's address: the router's Service, or with provider gateway-api the route's first host name (else the stable version's Service). */
function modelAddress(mdep: ValidModelDeployment, stable = mdep.spec.model.version): string {
  const routing = mdep.spec.rollout?.routing;
  if (routing?.provider !== 'gateway-api') return routerUrl(mdep);
  const host = routing.gateway?.hostnames?.[0];
  return host ? `http://${host}/v2/models/${mdep.metadata.name}` : versionUrl(mdep, stable);
}

function statusBasics(obs: ValidObservation): Omit<StatusInput, 'invalid' | 'desiredReplicas'> {
  const mdep = obs.defaulted;
  return {
    mdep,
    selector: Object.entries(selectorLabels(mdep)).map(([k, v]) => `${k}=${v}`).join(','),
    url: modelAddress(mdep, obs.mdep.status?.rollout?.stable.version),
    now: conditionTime(obs.now),
  };
}

/** Conditions that changed status, less those a rollout decision already told with an Event of the same reason. */
function withTransitions(obs: Observation, status: ModelDeploymentStatus, told: EventRecord[]): EventRecord[] {
  const reasons = new Set(told.map((e) => e.reason));
  return [...told, ...transitionEvents(obs.mdep.status?.conditions, status.conditions ?? []).filter((e) => !reasons.has(e.reason))];
}

function decideInvalid(obs: InvalidObservation): Decision {
  const mdep = obs.mdep;
  const status = computeStatus({ mdep, invalid: obs.errors, desiredReplicas: 0, selector: '', url: '', now: conditionTime(obs.now) });
  return { objects: [], status, events: withTransitions(obs, status, []) };
}

/**
 * A spec version whose objects would be a running version's (names.ts makes that a hash collision) is
 * refused: nothing applied, the last status kept, Degraded saying why.
 */
function decideVersionClash(obs: ValidObservation, sharesBefore: VersionShare[]): Decision | undefined {
  const wanted = obs.defaulted.spec.model.version;
  const clash = versionNameClash(obs.defaulted, [...sharesBefore.map((s) => s.model.version), wanted]);
  if (!clash) return undefined;
  const status = computeStatus({ ...statusBasics(obs), invalid: [], desiredReplicas: 0, refused: `${clash}: version ${wanted} is not started` });
  return { objects: [], status, events: withTransitions(obs, status, []) };
}

/**
 * `conflicts`: objects of the wanted names that another owner (or none) controls, found when applying;
 * act() decides again with them, so status and Events say Conflict while everything else stays the same.
 */
export function decide(obs: Observation, settings: OperatorSettings, conflicts: string[] = []): Decision {
  if (!obs.valid) return decideInvalid(obs);
  const { defaulted: mdep, deployments, nodes, now } = obs;
  const previous = obs.mdep.status?.rollout;
  const rollout = mdep.spec.rollout;
  const annotations = obs.mdep.metadata.annotations ?? {};
  const abortValue = annotations[ABORT_ANNOTATION];
  const placement = gpuPlacement(mdep.spec.gpu, settings);
  const sharesBefore = previous ? versionShares(previous) : [];
  const refused = decideVersionClash(obs, sharesBefore);
  if (refused) return refused;
  const headroom = obs.headroom;
  const decision = advanceRollout({
    model: modelRef(mdep),
    rollout,
    previous,
    paused: annotations[PAUSE_ANNOTATION] === 'true',
    abort: abortValue === 'true' || (abortValue !== undefined && abortValue === previous?.candidate?.version),
    candidateReady: versionReady(mdep, deployments, sharesBefore.find((s) => s.role === 'candidate')),
    stableFullyReady: versionReady(mdep, deployments, sharesBefore.find((s) => s.role === 'stable'), true),
    analysis: obs.analysis,
    // The candidate's pods already placed on a node count as room it has; the rest must fit in what is free.
    capacityProblem: headroom && ((weight) => {
      const pods = replicaRange(mdep.spec.scaling, { model: headroom.candidate, role: 'candidate', weight, shadowPercent: 0 }).min;
      return gpuHeadroomProblem(placement, pods - headroom.placed, nodes, headroom.usage);
    }),
    now,
  });
  const state = decision.status;
  const shares = versionShares(state);
  const stableShare = shares.find((s) => s.role === 'stable')!;
  const stableDeployment = deploymentOf(mdep, deployments, state.stable.version);
  const workload = stableDeployment?.status;
  const provider = rollout?.routing.provider ?? 'router';
  const status: ModelDeploymentStatus = {
    ...computeStatus({
      ...statusBasics(obs),
      invalid: [],
      rollout: state,
      desiredReplicas: versionView(mdep, stableShare).spec.scaling?.minReplicas ?? 1,
      workload: stableDeployment && {
        replicas: workload?.replicas ?? 0, readyReplicas: workload?.readyReplicas ?? 0, updatedReplicas: workload?.updatedReplicas ?? 0,
        podsNotCreated: workload?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True')?.message,
      },
      routerReadyReplicas: obs.routerReadyReplicas,
      gpuProblem: gpuCapacityProblem(placement, nodes),
      conflicts,
      drift: obs.drift && judgeDrift(obs.drift, driftMarks(mdep.spec.monitoring)),
    }),
    routing: provider,
  };
  const before = obs.mdep.status?.routing;
  // With monitoring, the drift is read again every check interval even when nothing else happens.
  const next = minDefined(msUntilDecision(state, rollout, now), obs.drift && driftCheckIntervalMs(mdep.spec.monitoring));
  return {
    rollout: state,
    objects: renderDesiredState(mdep, settings, state),
    keepVersions: shares.map((s) => s.model.version),
    ...(before !== undefined && before !== provider ? { pruneRouting: before } : {}),
    status,
    events: withTransitions(obs, status, decision.events),
    ...(next !== undefined ? { requeueAfterMs: Math.max(MIN_REQUEUE_MS, next) } : {}),
  };
}

const minDefined = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/** The status after applying the desired objects failed: Degraded, with the API's reason and no more. */
export function decideApplyFailure(obs: ValidObservation, message: string): ModelDeploymentStatus {
  return computeStatus({ ...statusBasics(obs), invalid: [], desiredReplicas: 0, applyFailure: message });
}
