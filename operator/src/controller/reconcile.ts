// One reconcile of one ModelDeployment: read it, validate, advance its rollout (a pure state machine fed
// with what is observed: candidate readiness, the verdict of a due check, GPU headroom), render the
// desired state for the versions that run, apply what changed, remove versions that no longer run, and
// write status and Events. Level-triggered and idempotent: run it any number of times.
import type { KubernetesObjectApi, V1Deployment } from '@kubernetes/client-node';
import { GROUP, KIND, VERSION } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment } from '../api/types.ts';
import { validateModelDeployment } from '../api/validate.ts';
import { renderDesiredState, versionView } from '../render/desired-state.ts';
import { selectorLabels, versionedName, versionNameClash } from '../render/names.ts';
import type { OperatorSettings } from '../render/settings.ts';
import { routerUrl } from '../render/router.ts';
import { versionUrl } from '../render/workload.ts';
import { applyIfChanged, type AppliedMemo, type LiveLookup } from './apply.ts';
import { isNotFound } from './api-errors.ts';
import { listVersionDeployments, pruneRouting, pruneVersions } from './prune.ts';
import { conditionTime } from '../api/time.ts';
import { computeStatus, statusChanged, transitionEvents, type Condition, type EventRecord } from './status.ts';
import { gpuPlacement } from '../render/gpu.ts';
import { gpuCapacityProblem, gpuHeadroomProblem, type NodeInfo, type NodeUsage } from '../render/gpu-capacity.ts';
import { advanceRollout, checkDue, msUntilDecision, sameModel } from '../rollout/state-machine.ts';
import { replicaRange, versionShares, type VersionShare } from '../rollout/traffic.ts';
import type { ModelRef, RolloutStatus } from '../rollout/types.ts';
import type { AnalysisSource } from '../rollout/analysis.ts';

export interface ReconcileResult {
  /** Objects written (applies and the status update); 0 when nothing changed. */
  writes: number;
  found: boolean;
  /** When the rollout next needs a look (a check, a version to retire), if sooner than the resync. */
  requeueAfterMs?: number;
}

export interface Reconciler {
  objects: KubernetesObjectApi;
  /** Nodes as the GPU capacity check sees them (the controller serves these from its informer cache). */
  listNodes(): Promise<NodeInfo[]>;
  /** Extended resources requested by the pods on each node, for the headroom check before a GPU step. */
  nodeUsage(): Promise<NodeUsage>;
  /** Pods of one version of a ModelDeployment that are bound to a node. */
  scheduledPods(mdep: ModelDeployment, version: string): Promise<number>;
  recordEvent(mdep: ModelDeployment, event: EventRecord): Promise<void>;
  /** For the status subresource (which KubernetesObjectApi does not reach). */
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  /** Where the rollout's checks read their numbers, by spec.rollout.analysis.provider. */
  analysis(mdep: ModelDeployment): AnalysisSource;
  settings: OperatorSettings;
  /** Milliseconds since the epoch. */
  clock(): number;
  /**
   * The controller's informer caches of the objects it owns, read instead of the API server where they
   * cover a kind; without them every read goes to the API (as in the reconcile tests).
   */
  cache?: { live: LiveLookup; memo: AppliedMemo; versionDeployments(mdep: ModelDeployment): V1Deployment[] | undefined };
}

export const PAUSE_ANNOTATION = 'serving.modelship.dev/paused';
export const ABORT_ANNOTATION = 'serving.modelship.dev/abort';

const modelRef = (mdep: ModelDeployment): ModelRef => {
  const { version, uri, sha256 } = mdep.spec.model;
  return { version, uri, ...(sha256 ? { sha256 } : {}) };
};

/** Ready pods of a version against the low end of its replica range. */
function versionReady(mdep: ModelDeployment, deployments: V1Deployment[], share: VersionShare | undefined, full = false): boolean {
  if (!share) return false;
  const deployment = deployments.find((d) => d.metadata?.name === versionedName(mdep, share.model.version));
  const wanted = Math.max(1, full ? mdep.spec.scaling?.minReplicas ?? 1 : replicaRange(mdep.spec.scaling ?? {}, share).min);
  return (deployment?.status?.readyReplicas ?? 0) >= wanted && (deployment?.status?.updatedReplicas ?? 0) >= wanted;
}

/** The model's address: the router's Service, or with provider gateway-api the route's first host name (else the stable version's Service). */
function modelAddress(mdep: ModelDeployment, stable = mdep.spec.model.version): string {
  const routing = mdep.spec.rollout?.routing;
  if (routing?.provider !== 'gateway-api') return routerUrl(mdep);
  const host = routing.gateway?.hostnames?.[0];
  return host ? `http://${host}/v2/models/${mdep.metadata.name}` : versionUrl(mdep, stable);
}

export async function reconcile(r: Reconciler, namespace: string, name: string): Promise<ReconcileResult> {
  let mdep: ModelDeployment;
  try {
    mdep = await r.objects.read({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace } }) as unknown as ModelDeployment;
  } catch (error) {
    // Deleted: owner references let the garbage collector remove what we created.
    if (isNotFound(error)) return { writes: 0, found: false };
    throw error;
  }
  const now = r.clock();
  const { object: defaulted, errors } = validateModelDeployment(mdep);
  const statusBasics = {
    mdep: defaulted,
    selector: Object.entries(selectorLabels(defaulted)).map(([k, v]) => `${k}=${v}`).join(','),
    url: modelAddress(defaulted, (mdep.status?.rollout as RolloutStatus | undefined)?.stable.version),
    now: conditionTime(now),
  };
  if (errors.length > 0) {
    const status = computeStatus({ ...statusBasics, invalid: errors, desiredReplicas: 0 });
    return finish(r, mdep, defaulted, status, [], 0);
  }

  // The rollout: observe, then decide.
  const previous = mdep.status?.rollout as RolloutStatus | undefined;
  const rollout = defaulted.spec.rollout;
  const deployments = r.cache?.versionDeployments(defaulted) ?? await listVersionDeployments(r.objects, defaulted);
  const sharesBefore = previous ? versionShares(previous) : [];
  const analysisSource = r.analysis(defaulted);
  const annotations = (mdep.metadata as { annotations?: Record<string, string> }).annotations ?? {};
  const abortValue = annotations[ABORT_ANNOTATION];
  const placement = gpuPlacement(defaulted.spec.gpu, r.settings);
  const due = checkDue(previous, rollout, now);
  const wanted = modelRef(defaulted);
  // A version whose objects would be a running version's is refused (no apply), not applied over it.
  const clash = versionNameClash(defaulted, [...sharesBefore.map((s) => s.model.version), wanted.version]);
  if (clash) {
    const status = computeStatus({ ...statusBasics, invalid: [], desiredReplicas: 0, refused: `${clash}: version ${wanted.version} is not started` });
    return finish(r, mdep, defaulted, status, [], 0);
  }
  const starting = previous !== undefined && !sameModel(wanted, previous.stable) && !sameModel(wanted, previous.candidate);
  const waiting = previous?.phase === 'Progressing' && (previous.step ?? -1) < 0;
  const needsGpu = Object.keys(placement.resources).length > 0;
  // Nodes matter only to pods that need GPUs (the capacity condition and the rollout's headroom checks).
  const nodes = needsGpu ? await r.listNodes() : [];
  let capacityProblem: ((weight: number) => string | undefined) | undefined;
  if ((due || starting || waiting) && needsGpu) {
    // The candidate's pods already placed on a node count as room it has; the rest must fit in what is free.
    const candidate = starting ? wanted : previous!.candidate!;
    const [usage, placed] = await Promise.all([r.nodeUsage(), starting ? 0 : r.scheduledPods(defaulted, candidate.version)]);
    capacityProblem = (weight) => {
      const pods = replicaRange(defaulted.spec.scaling ?? {}, { model: candidate, role: 'candidate', weight, shadowPercent: 0 }).min;
      return gpuHeadroomProblem(placement, pods - placed, nodes, usage);
    };
  }
  const decision = advanceRollout({
    model: wanted,
    rollout,
    previous,
    paused: annotations[PAUSE_ANNOTATION] === 'true',
    abort: abortValue === 'true' || (abortValue !== undefined && abortValue === previous?.candidate?.version),
    candidateReady: versionReady(defaulted, deployments, sharesBefore.find((s) => s.role === 'candidate')),
    stableFullyReady: versionReady(defaulted, deployments, sharesBefore.find((s) => s.role === 'stable'), true),
    analysis: due && previous ? await analysisSource.measure(defaulted, previous, now) : undefined,
    capacityProblem,
    now,
  });
  const state = decision.status;
  if (state.windowStartedAt && state.windowStartedAt !== previous?.windowStartedAt) await analysisSource.startWindow(defaulted, state);
  if (!state.windowStartedAt) analysisSource.forget(defaulted);

  // Apply the desired state of the versions that run.
  let writes = 0;
  let stableWorkload;
  const applied: string[] = [];
  const conflicts: string[] = [];
  const stableName = versionedName(defaulted, state.stable.version);
  try {
    for (const desired of renderDesiredState(defaulted, r.settings, state)) {
      const { object, written, conflict } = await applyIfChanged(r.objects, desired, r.cache && { lookup: r.cache.live, memo: r.cache.memo });
      // Another owner's object is left alone and reported; it is re-checked on the next reconcile.
      if (conflict) {
        conflicts.push(conflict);
        continue;
      }
      if (written) {
        writes++;
        applied.push(`${object.kind}/${object.metadata.name}`);
      }
      if (object.kind === 'Deployment' && object.metadata.name === stableName) stableWorkload = object.status ?? {};
    }
  } catch (error) {
    // Say so in status (kstatus: Degraded), then fail the reconcile so the queue retries with backoff.
    const failed = computeStatus({ ...statusBasics, invalid: [], desiredReplicas: 0, applyFailure: (error as Error).message.slice(0, 1000) });
    if (statusChanged(mdep.status, failed)) await r.patchStatus(namespace, name, failed).catch(() => undefined);
    throw error;
  }

  const shares = versionShares(state);
  const stableShare = shares.find((s) => s.role === 'stable')!;
  const status = computeStatus({
    ...statusBasics,
    invalid: [],
    rollout: state,
    desiredReplicas: versionView(defaulted, stableShare).spec.scaling?.minReplicas ?? 1,
    workload: stableWorkload && { replicas: stableWorkload.replicas ?? 0, readyReplicas: stableWorkload.readyReplicas ?? 0, updatedReplicas: stableWorkload.updatedReplicas ?? 0 },
    gpuProblem: gpuCapacityProblem(placement, nodes),
    conflicts,
  });

  // Versions that no longer run go once the routes no longer send them anything.
  const removed = await pruneVersions(r.objects, defaulted, deployments, shares.map((s) => s.model.version));
  writes += removed.length;
  const provider = rollout?.routing?.provider ?? 'router';
  status.routing = provider;
  const before = mdep.status?.routing as string | undefined;
  if (before !== undefined && before !== provider) writes += await pruneRouting(r.objects, defaulted, before);
  const events: EventRecord[] = [...decision.events];
  for (const version of removed) events.push({ type: 'Normal', reason: 'VersionRemoved', message: `removed version ${version}: no longer stable or candidate` });
  if (applied.length > 0) events.unshift({ type: 'Normal', reason: 'Applied', message: `applied ${applied.join(', ')}` });
  const next = msUntilDecision(state, rollout, now);
  return finish(r, mdep, defaulted, status, events, writes, next === undefined ? undefined : Math.max(250, next));
}

async function finish(r: Reconciler, mdep: ModelDeployment, defaulted: ModelDeployment, status: Record<string, unknown>, events: EventRecord[], writes: number, requeueAfterMs?: number): Promise<ReconcileResult> {
  if (statusChanged(mdep.status, status)) {
    await r.patchStatus(defaulted.metadata.namespace ?? 'default', defaulted.metadata.name, status);
    writes++;
  }
  // A condition that changed because of a rollout decision was already told by the rollout's own Event.
  const told = new Set(events.map((e) => e.reason));
  const transitions = transitionEvents(mdep.status?.conditions as Condition[] | undefined, status.conditions as Condition[]).filter((e) => !told.has(e.reason));
  for (const event of [...events, ...transitions]) {
    await r.recordEvent(defaulted, event);
  }
  return { writes, found: true, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}
