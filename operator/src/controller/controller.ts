// The running controller: informers (list + watch, relisting on 410 Gone, restarted with backoff after any
// other error) feed the work queue with ModelDeployment keys; owned Deployments changing (pods becoming
// ready) enqueue their owner. Each key is reconciled level-triggered by reconcile().
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, type Informer, type KubernetesObject, type ObjectCache, type V1Deployment, type V1Node } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../../api/v1alpha1/schema.ts';
import { MANAGER } from '../render/names.ts';
import type { OperatorSettings } from '../render/settings.ts';
import type { ModelDeployment } from '../api/types.ts';
import { kubeClients, nodeInfo } from './kube-client.ts';
import { reconcile } from './reconcile.ts';
import { analysisFor, PrometheusAnalysis, RouterAnalysis } from '../rollout/analysis.ts';
import { DriftWatch } from '../monitoring/drift-watch.ts';
import { objectKey, type AppliedMemo, type LiveLookup } from './apply.ts';
import { WorkQueue } from './work-queue.ts';
import { describeApiError } from './api-errors.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { Logger } from 'winston';

export interface ControllerOptions {
  config: KubeConfig;
  settings: OperatorSettings;
  logger: Logger;
  metrics: OperatorMetrics;
  workers: number;
  /** Periodic re-reconcile of every object, a safety net for missed events. */
  resyncMs: number;
  /** Router /metrics URLs by `namespace/name`, instead of the router pods' (an operator outside the cluster). */
  routerMetrics?: Map<string, string[]>;
  /** Model-server /metrics URLs by `namespace/name/version`, instead of the version's pods' (likewise). */
  serverMetrics?: Map<string, string[]>;
  /**
   * Only these namespaces: ModelDeployments and what the operator owns are listed and watched there alone,
   * so a Role in each is all the operator needs (nodes stay cluster-wide). Undefined: every namespace.
   */
  watchNamespaces?: string[];
}

export interface RunningController {
  /** True once every informer has listed at least once. */
  synced(): boolean;
  stop(): Promise<void>;
}

const key = (o: KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** The list and watch path of a namespaced resource: in one namespace, or across all of them. */
const resourcePath = (apiVersion: string, plural: string, namespace?: string) =>
  `/${apiVersion.includes('/') ? 'apis' : 'api'}/${apiVersion}${namespace ? `/namespaces/${namespace}` : ''}/${plural}`;

export function startController(options: ControllerOptions): RunningController {
  const { config, logger, metrics } = options;
  const clients = kubeClients(config);
  const custom = config.makeApiClient(CustomObjectsApi);
  const core = config.makeApiClient(CoreV1Api);
  // One informer per kind and watched namespace (one per kind across all namespaces when none are set).
  const scopes: Array<string | undefined> = options.watchNamespaces ?? [undefined];
  let nodes: Informer<KubernetesObject> & { list(): readonly KubernetesObject[] };
  // The objects this operator owns, by kind and scope, as the informers below last saw them.
  const ownedCaches = new Map<string, { cache: ObjectCache<KubernetesObject>; index: number }>();
  const ownedCache = (apiVersion: string, kind: string, namespace?: string) =>
    ownedCaches.get(`${apiVersion}/${kind}`) ?? ownedCaches.get(`${apiVersion}/${kind}/${namespace}`);
  const memo: AppliedMemo = new Map();
  const live: LiveLookup = (apiVersion, kind, namespace, name) => {
    const owned = ownedCache(apiVersion, kind, namespace);
    if (!owned || !listed.has(owned.index)) return 'uncached';
    return owned.cache.get(name, namespace) as Record<string, any> | undefined;
  };
  const versionDeployments = (mdep: { metadata: { name: string; namespace?: string; uid?: string } }): V1Deployment[] | undefined => {
    const owned = ownedCache('apps/v1', 'Deployment', mdep.metadata.namespace);
    if (!owned || !listed.has(owned.index)) return undefined;
    return (owned.cache.list(mdep.metadata.namespace) as V1Deployment[]).filter((d) => d.metadata?.labels?.['app.kubernetes.io/component'] === 'model-server'
      && d.metadata.ownerReferences?.some((o) => o.uid === mdep.metadata.uid));
  };
  /** One version's model-server /metrics URLs (drift, prediction shift). */
  const serverMetricsUrls = async (mdep: ModelDeployment, version: string) =>
    options.serverMetrics?.get(`${mdep.metadata.namespace}/${mdep.metadata.name}/${version}`) ?? clients.serverMetricsUrls(mdep, version);
  const drift = new DriftWatch(serverMetricsUrls);
  const analysis = {
    router: new RouterAnalysis(async (mdep) => options.routerMetrics?.get(`${mdep.metadata.namespace}/${mdep.metadata.name}`) ?? clients.routerMetricsUrls(mdep), serverMetricsUrls),
    prometheus: new PrometheusAnalysis(),
  };

  const queue = new WorkQueue(async (k) => {
    const [namespace, name] = k.split('/');
    const started = performance.now();
    try {
      const result = await reconcile({
        ...clients,
        // From the informer's cache: the capacity check must not list every node on every reconcile.
        listNodes: async () => nodes.list().map((n) => nodeInfo(n as V1Node)),
        drift: (mdep, version, now, intervalMs) => drift.read(mdep, version, now, intervalMs),
        analysis: (mdep) => analysisFor(mdep, analysis),
        cache: { live, memo, versionDeployments },
        settings: options.settings,
        clock: () => Date.now(),
      }, namespace, name);
      metrics.reconciled('success', (performance.now() - started) / 1000, result.writes);
      if (result.found) {
        metrics.rollout(namespace, name, result.rollout);
      } else {
        // Deleted: what the operator keeps per ModelDeployment goes with it.
        metrics.forget(namespace, name);
        drift.forget({ metadata: { name, namespace } });
        analysis.router.forget({ metadata: { name, namespace } });
      }
      if (result.rolledBack) metrics.rolledBack(namespace, name);
      return result.found ? { requeueAfterMs: Math.min(options.resyncMs, result.requeueAfterMs ?? Infinity) } : undefined;
    } catch (error) {
      metrics.reconciled('error', (performance.now() - started) / 1000, 0);
      throw error;
    }
  }, { workers: options.workers, baseDelayMs: 50, maxDelayMs: 5 * 60_000 });
  metrics.observeQueue(queue);
  queue.onError = (k, error, retryInMs) => {
    const message = describeApiError(error);
    logger.error('reconcile failed', { key: k, error: message, retryInMs });
    // Tell the user on the object too, not only in the operator's log (best effort: the API may be down).
    // The message leaves out the delay, which grows with every retry: the same failure again is the same
    // Event, its count rising, not one more Event.
    const [namespace, name] = k.split('/');
    const uid = (modelDeployments.list().find((o) => key(o) === k)?.metadata?.uid);
    void clients.recordEvent(
      { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace, uid }, spec: { model: { uri: '', version: '' } } },
      { type: 'Warning', reason: 'ReconcileFailed', message: `${message.slice(0, 900)} (retrying with backoff)` },
    ).catch(() => undefined);
  };

  const informers: Array<Informer<KubernetesObject>> = [];
  let stopping = false;
  const listed = new Set<number>();
  const watch = (path: string, list: () => Promise<any>, onObject: (o: KubernetesObject) => void, labelSelector?: string) => {
    // One informer per kind; ObjectCache's list() serves reads without API calls.
    const index = informers.length;
    const informer = makeInformer(config, path, async () => {
      const result = await list();
      listed.add(index);
      return result;
    }, labelSelector);
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, onObject);
    let failures = 0;
    informer.on('connect', () => (failures = 0));
    informer.on('error', (error) => {
      if (stopping) return; // stopping the informers aborts their watches: not a failure
      const delay = Math.min(30_000, 500 * 2 ** failures++);
      logger.warn('watch failed; restarting', { path, error: String(error?.message ?? error), retryInMs: delay });
      setTimeout(() => void informer.start().catch(() => undefined), delay).unref();
    });
    informers.push(informer);
    void informer.start().catch(() => undefined);
    return informer;
  };

  // A new spec generation deserves a fresh try at once, even of a key in backoff (the user may have fixed
  // what failed); anything else that re-queues a failing key (its own status write, say) waits the backoff.
  const generations = new Map<string, number | undefined>();
  const modelDeploymentInformers = scopes.map((namespace) => {
    const informer = watch(resourcePath(`${GROUP}/${VERSION}`, PLURAL, namespace),
      () => namespace ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL }) : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
      (o) => {
        const k = key(o);
        if (generations.has(k) && generations.get(k) !== o.metadata?.generation) queue.forget(k);
        generations.set(k, o.metadata?.generation);
        queue.add(k);
      });
    informer.on('delete', (o) => generations.delete(key(o)));
    return informer;
  });
  const modelDeployments = { list: () => modelDeploymentInformers.flatMap((i) => i.list()) };
  // Owned objects: a change (drift, a Deployment's pods becoming ready) or a deletion re-reconciles the owner,
  // and reconcile reads them from these caches instead of the API server.
  const owned = `app.kubernetes.io/managed-by=${MANAGER}`;
  const ownedKinds: Array<[string, string, string]> = [
    ['apps/v1', 'Deployment', 'deployments'],
    ['v1', 'Service', 'services'],
    ['v1', 'ConfigMap', 'configmaps'],
    ['v1', 'ServiceAccount', 'serviceaccounts'],
    ['policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'],
    ['autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'],
    ['rbac.authorization.k8s.io/v1', 'Role', 'roles'],
    ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings'],
  ];
  for (const [apiVersion, kind, plural] of ownedKinds) {
    for (const namespace of scopes) {
      const index = informers.length;
      const informer = watch(resourcePath(apiVersion, plural, namespace), () => clients.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, owned), (o) => {
        const owner = o.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
        if (owner) queue.add(`${o.metadata?.namespace}/${owner.name}`);
      }, owned);
      // Gone is gone: what we last applied no longer stands for it.
      informer.on('delete', (o) => memo.delete(objectKey(apiVersion, kind, o.metadata?.namespace ?? '', o.metadata?.name ?? '')));
      ownedCaches.set(namespace ? `${apiVersion}/${kind}/${namespace}` : `${apiVersion}/${kind}`, { cache: informer, index });
    }
  }

  // Node changes can make a GPU request fit (or stop fitting): re-check every ModelDeployment then.
  const enqueueAll = () => {
    for (const k of modelDeployments.list()) queue.add(key(k));
  };
  // Only what the capacity check reads counts as a change: kubelets (and kwok) update every node's status
  // with heartbeats every few seconds, which must not re-reconcile every ModelDeployment each time.
  const nodeFingerprints = new Map<string, string>();
  nodes = watch('/api/v1/nodes', () => core.listNode(), (o) => {
    const info = nodeInfo(o as V1Node);
    const fingerprint = JSON.stringify([info.labels, info.allocatable]);
    const gone = !nodes?.list().some((n) => n.metadata?.name === info.name);
    const changed = gone ? nodeFingerprints.delete(info.name) : nodeFingerprints.get(info.name) !== fingerprint;
    if (!gone) nodeFingerprints.set(info.name, fingerprint);
    if (changed && listed.size === informers.length) enqueueAll();
  });

  return {
    synced: () => listed.size === informers.length,
    async stop() {
      stopping = true;
      await Promise.all(informers.map((i) => i.stop()));
      await queue.shutdown();
      metrics.observeQueue(undefined);
    },
  };
}
