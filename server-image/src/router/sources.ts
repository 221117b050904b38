// Where route tables come from: a file (JSON or YAML; watched), or a ConfigMap's `routes.json` key (watched
// through the Kubernetes API, which sees a change within a second, where a mounted ConfigMap would wait for
// the kubelet's sync, a minute or more). Either way a table that fails to parse is reported and the router
// keeps the one it has.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { RouteTableError, parseRouteTable, type RouteTable } from './routes.ts';

export const ROUTES_KEY = 'routes.json';

export interface RouteSourceEvents {
  table(table: RouteTable): void;
  /** A new version of the source that was refused; the current table stays. */
  rejected(error: Error): void;
  /** Trouble reaching the source (not its content). */
  trouble(message: string): void;
}

export interface RouteSource {
  readonly description: string;
  /**
   * The first table; rejects (RouteTableError) when the source's content is bad or a file cannot be read.
   * No table, and why, when a ConfigMap does not exist yet or the API cannot be reached: the router then
   * starts with no version ready and the watch brings the table when it appears.
   */
  initial(): Promise<{ table: RouteTable } | { table: undefined; why: string }>;
  /** Watches for changes from now on. */
  watch(events: RouteSourceEvents): void;
  stop(): void;
}

/** How often the file is also re-read, for filesystems where change notifications do not arrive. */
const FILE_POLL_MS = 2000;
/** Several notifications arrive per write; one re-read after they settle. */
const FILE_SETTLE_MS = 20;

export function fileSource(path: string): RouteSource {
  let lastText: string | undefined;
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  const read = () => readFileSync(path, 'utf8');
  return {
    description: `file ${path}`,
    async initial() {
      let text: string;
      try {
        text = read();
      } catch (error) {
        throw new RouteTableError(path, [`cannot read: ${(error as Error).message}`]);
      }
      const table = parseRouteTable(text, path);
      lastText = text;
      return { table };
    },
    watch(events) {
      const check = () => {
        let text: string;
        try {
          text = read();
        } catch (error) {
          // Mid-replacement, or removed: keep the table and look again at the next change.
          if (lastText !== undefined) events.trouble(`cannot read ${path}: ${(error as Error).message}`);
          lastText = undefined;
          return;
        }
        if (text === lastText) return;
        lastText = text;
        try {
          events.table(parseRouteTable(text, path));
        } catch (error) {
          events.rejected(error as Error);
        }
      };
      const soon = () => {
        clearTimeout(settle);
        settle = setTimeout(check, FILE_SETTLE_MS);
      };
      // The directory, not the file: editors and ConfigMap volumes replace the file (rename, symlink swap),
      // which a watch on the old file would miss.
      const name = basename(path);
      watcher = watch(dirname(path), (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith('..')) soon();
      });
      watcher.on('error', (error) => events.trouble(`watching ${dirname(path)}: ${error.message}`));
      poll = setInterval(check, FILE_POLL_MS).unref();
    },
    stop() {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(settle);
    },
  };
}

/** The ConfigMap `namespace/name`, watched with the usual kubeconfig resolution (KUBECONFIG, or in-cluster). */
export function configMapSource(reference: string, kubeConfig?: KubeConfig): RouteSource {
  const [namespace, name] = reference.split('/');
  const config = kubeConfig ?? new KubeConfig();
  if (!kubeConfig) config.loadFromDefault();
  const api = config.makeApiClient(CoreV1Api);
  const source = `configmap ${reference} key ${ROUTES_KEY}`;
  let informer: ListWatch<V1ConfigMap> | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let lastText: string | undefined;
  const textOf = (cm: V1ConfigMap | undefined) => cm?.data?.[ROUTES_KEY];
  return {
    description: `configmap ${reference}`,
    async initial() {
      let cm: V1ConfigMap;
      try {
        cm = await api.readNamespacedConfigMap({ namespace, name });
      } catch (error) {
        const code = (error as { code?: number }).code;
        return { table: undefined, why: code === 404 ? `${source}: the ConfigMap does not exist (yet)` : `${source}: ${(error as Error).message.split('\n')[0]}` };
      }
      const text = textOf(cm);
      if (text === undefined) return { table: undefined, why: `${source}: the key is missing` };
      const table = parseRouteTable(text, source);
      lastText = text;
      return { table };
    },
    watch(events) {
      const onObject = (cm: V1ConfigMap) => {
        const text = textOf(cm);
        if (text === undefined) {
          if (lastText !== undefined) events.rejected(new Error(`${source}: the key is missing; keeping the current table`));
          lastText = undefined;
          return;
        }
        if (text === lastText) return;
        lastText = text;
        try {
          events.table(parseRouteTable(text, source));
        } catch (error) {
          events.rejected(error as Error);
        }
      };
      const path = `/api/v1/namespaces/${namespace}/configmaps`;
      const fieldSelector = `metadata.name=${name}`;
      // A list and watch of this one object (the field selector also lets RBAC grant it by resourceNames).
      informer = new ListWatch<V1ConfigMap>(path, new Watch(config), () => api.listNamespacedConfigMap({ namespace, fieldSelector }), false, undefined, fieldSelector);
      informer.on('add', onObject);
      informer.on('update', onObject);
      informer.on('delete', () => events.trouble(`${source}: the ConfigMap was deleted; keeping the current table`));
      let failures = 0;
      informer.on('connect', () => (failures = 0));
      informer.on('error', (error: unknown) => {
        if (stopped) return;
        const delay = Math.min(30_000, 500 * 2 ** failures++);
        events.trouble(`watching ${source}: ${(error as Error)?.message ?? String(error)}; retrying in ${delay} ms`);
        retry = setTimeout(() => void informer?.start().catch(() => undefined), delay);
        retry.unref();
      });
      void informer.start().catch(() => undefined);
    },
    stop() {
      stopped = true;
      clearTimeout(retry);
      void informer?.stop();
    },
  };
}
