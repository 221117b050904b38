// Observe: everything one reconcile decides from, read once into plain data. The ModelDeployment as
// stored (validated, defaults in), the Deployments of its versions and its router, the nodes (only for GPU pods) and, only
// when the rollout needs them now, the GPU headroom and the verdict of a due check, and with monitoring
// the drift the pods measure. Reads, never writes.
import type { KubernetesObjectApi, V1Deployment } from '@kubernetes/client-node';
import { GROUP, KIND, VERSION } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment, ValidModelDeployment } from '../api/types.ts';
import { validateModelDeployment } from '../api/validate.ts';
import { gpuPlacement } from '../render/gpu.ts';
import type { NodeInfo, NodeUsage } from '../render/gpu-capacity.ts';
import type { OperatorSettings } from '../render/settings.ts';
import type { AnalysisSource } from '../rollout/analysis.ts';
import { checkDue, sameModel } from '../rollout/state-machine.ts';
import type { AnalysisResult, ModelRef } from '../rollout/types.ts';
import type { AppliedMemo, LiveLookup } from './apply.ts';
import { isNotFound } from './api-errors.ts';
import { listVersionDeployments } from './prune.ts';
import { isControlledBy } from './ownership.ts';
import { routerName } from '../render/router.ts';
import { driftCheckIntervalMs, type DriftReading } from '../monitoring/drift-judgement.ts';

/** What observe() reads from. */
export interface Observer {
  objects: KubernetesObjectApi;
  /** Nodes as the GPU capacity check sees them (the controller serves these from its informer cache). */
  listNodes(): Promise<NodeInfo[]>;
  /** Extended resources requested by the pods on each node, for the headroom check before a GPU step. */
  nodeUsage(): Promise<NodeUsage>;
  /** Pods of one version of a ModelDeployment that are bound to a node. */
  scheduledPods(mdep: ModelDeployment, version: string): Promise<number>;
  /** The drift its pods measure, read at most every `intervalMs` (with spec.monitoring.baseline). */
  drift(mdep: ModelDeployment, version: string, now: number, intervalMs: number): Promise<DriftReading>;
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

/** A spec the operator refuses (validation failed): nothing else was read. */
export interface InvalidObservation {
  valid: false;
  /** As read from the API server. */
  mdep: ModelDeployment;
  errors: string[];
  now: number;
}

export interface ValidObservation {
  valid: true;
  /** As read from the API server: its status is what is written now. */
  mdep: ModelDeployment;
  /** The same with the schema's defaults in. */
  defaulted: ValidModelDeployment;
  now: number;
  /** The Deployments of its model versions, with their status. */
  deployments: V1Deployment[];
  /**
   * Ready pods of its router, when the router is the model's address (with provider gateway-api it is not:
   * undefined). Clients reach the model through it, so the model is not Ready before it is.
   */
  routerReadyReplicas?: number;
  /** The nodes, when its pods need GPUs (else none: nothing to check). */
  nodes: NodeInfo[];
  /** GPU use on the nodes, when a rollout step that needs GPUs may start now. */
  headroom?: {
    usage: NodeUsage;
    /** The candidate the step is for (spec.model when a rollout starts). */
    candidate: ModelRef;
    /** Its pods already bound to a node: room it has. */
    placed: number;
  };
  /** The verdict of the check that is due now, if one is. */
  analysis?: AnalysisResult | 'no-baseline';
  /** What the stable version's pods measure of drift, with spec.monitoring.baseline. */
  drift?: DriftReading;
}

export type Observation = InvalidObservation | ValidObservation;

export const modelRef = (mdep: ModelDeployment): ModelRef => {
  const { version, uri, sha256 } = mdep.spec.model;
  return { version, uri, ...(sha256 ? { sha256 } : {}) };
};

/** Reads one ModelDeployment and what exists for it; undefined when it is gone. */
export async function observe(r: Observer, namespace: string, name: string): Promise<Observation | undefined> {
  let mdep: ModelDeployment;
  try {
    mdep = await r.objects.read({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace } }) as unknown as ModelDeployment;
  } catch (error) {
    // Deleted: owner references let the garbage collector remove what we created.
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const now = r.clock();
  const { object, errors } = validateModelDeployment(mdep);
  if (errors.length > 0) return { valid: false, mdep, errors, now };
  // Valid against the schema with ajv's useDefaults: every field with a default is present.
  const defaulted = object as ValidModelDeployment;

  const previous = mdep.status?.rollout;
  const deployments = r.cache?.versionDeployments(defaulted) ?? await listVersionDeployments(r.objects, defaulted);
  const placement = gpuPlacement(defaulted.spec.gpu, r.settings);
  const needsGpu = Object.keys(placement.resources).length > 0;
  // Nodes matter only to pods that need GPUs (the capacity condition and the rollout's headroom checks).
  const nodes = needsGpu ? await r.listNodes() : [];
  const due = checkDue(previous, defaulted.spec.rollout, now);
  const wanted = modelRef(defaulted);
  const starting = previous !== undefined && !sameModel(wanted, previous.stable) && !sameModel(wanted, previous.candidate);
  const waiting = previous?.phase === 'Progressing' && (previous.step ?? -1) < 0;
  let headroom: ValidObservation['headroom'];
  if ((due || starting || waiting) && needsGpu && (starting || previous?.candidate)) {
    const candidate = starting ? wanted : previous!.candidate!;
    const [usage, placed] = await Promise.all([r.nodeUsage(), starting ? 0 : r.scheduledPods(defaulted, candidate.version)]);
    headroom = { usage, candidate, placed };
  }
  const analysis = due && previous ? await r.analysis(defaulted).measure(defaulted, previous, now) : undefined;
  const routerReadyReplicas = defaulted.spec.rollout?.routing?.provider === 'gateway-api' ? undefined : await routerReady(r, defaulted);
  const monitoring = defaulted.spec.monitoring;
  const drift = monitoring?.baseline
    ? await r.drift(defaulted, previous?.stable.version ?? wanted.version, now, driftCheckIntervalMs(monitoring))
    : undefined;
  return {
    valid: true, mdep, defaulted, now, deployments, nodes, routerReadyReplicas,
    ...(headroom ? { headroom } : {}), ...(analysis ? { analysis } : {}), ...(drift ? { drift } : {}),
  };
}

/** The router Deployment's ready pods (0 while it does not exist or is not the ModelDeployment's own). */
async function routerReady(r: Observer, mdep: ValidModelDeployment): Promise<number> {
  const namespace = mdep.metadata.namespace ?? 'default';
  const name = routerName(mdep);
  const cached = r.cache ? r.cache.live('apps/v1', 'Deployment', namespace, name) : 'uncached';
  const router = (cached === 'uncached' ? await readDeployment(r, namespace, name) : cached) as V1Deployment | undefined;
  if (!router || !isControlledBy(router, mdep.metadata.uid)) return 0;
  return router.status?.readyReplicas ?? 0;
}

async function readDeployment(r: Observer, namespace: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await r.objects.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace } }) as V1Deployment;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
