// The route table from a ConfigMap's `routes.json` key, watched through the Kubernetes API: a change arrives
// within a second, where a ConfigMap mounted as a volume would wait for the kubelet's sync (a minute or
// more). Loaded only when asked for: the Kubernetes client takes a third of a second to import, which a
// router reading a file should not pay at every start.
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { ROUTES_KEY } from '../../../contract/route-table.ts';
import { TableText, type RouteSource } from './sources.ts';


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
  const texts = new TableText(source);
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
      return { table: texts.first(text) };
    },
    watch(events) {
      const onObject = (cm: V1ConfigMap) => {
        const text = textOf(cm);
        if (text === undefined) {
          if (texts.lose()) events.rejected(new Error(`${source}: the key is missing; keeping the current table`));
          return;
        }
        texts.offer(text, events);
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
