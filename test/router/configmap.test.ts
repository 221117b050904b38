// The router reading its table from a ConfigMap through a real kube-apiserver, as its Deployment runs it:
// authenticated as a ServiceAccount whose Role may get, list and watch that one ConfigMap and nothing else
// (the operator renders the same Role). Changes arrive through the watch; a bad one is refused and the
// table in use stays; a ConfigMap that appears after the router started is picked up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../control-plane/local-cluster.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { client, inferBody, routesOf, startRouter, type RouterProcess } from './router-process.ts';

const NAMESPACE = 'ml';

describe('route tables from a ConfigMap', () => {
  let cluster: LocalCluster;
  let v1: ServerProcess;
  let v2: ServerProcess;
  const routers: RouterProcess[] = [];
  const http = client(2);
  const row = randomRows(1, MLP.features, 12)[0];

  const table = (weights: Record<string, number>) => ({
    versions: Object.entries(weights).map(([name, weight]) => ({ name, url: `http://iris-${name}.${NAMESPACE}.svc:8080`, weight })),
  });
  const applyRoutes = (name: string, routes: unknown) => cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NAMESPACE },
    data: { 'routes.json': typeof routes === 'string' ? routes : JSON.stringify(routes) },
  }));
  /** A router as the ServiceAccount `<configmap>-router`, allowed only that ConfigMap. */
  const routerFor = async (configMap: string) => {
    const account = `${configMap}-router`;
    await cluster.kubectl(['apply', '-f', '-'], [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace: NAMESPACE } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: account, namespace: NAMESPACE }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [configMap], verbs: ['get', 'list', 'watch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: account, namespace: NAMESPACE }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account }, subjects: [{ kind: 'ServiceAccount', name: account, namespace: NAMESPACE }] },
    ].map((o) => JSON.stringify(o)).join('\n'));
    const token = (await cluster.kubectl(['create', 'token', '-n', NAMESPACE, account, '--duration', '1h'])).trim();
    const router = await startRouter(['--routes-configmap', `${NAMESPACE}/${configMap}`, '--upstream', `v1=${v1.url}`, '--upstream', `v2=${v2.url}`],
      { KUBECONFIG: cluster.kubeconfigFor(account, token) });
    routers.push(router);
    return router;
  };
  const weightsOf = async (router: RouterProcess) => Object.fromEntries((await routesOf(router)).versions.map((v: any) => [v.name, v.weight]));

  before(async () => {
    [cluster, v1, v2] = await Promise.all([
      startLocalCluster(),
      startServer(['--model', modelPath.mlp(), '--version', 'v1']),
      startServer(['--model', modelPath.mlp(), '--version', 'v2']),
    ]);
    await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  }, { timeout: 60 * 60_000 }); // the first run builds the Kubernetes programs
  after(async () => {
    http.close();
    for (const router of routers) assert.equal(await router.stop(), 0);
    await Promise.all([v1?.stop(), v2?.stop(), cluster?.stop()]);
  });

  test('the table in the ConfigMap routes at start, and an update takes effect through the watch', async () => {
    await applyRoutes('iris-routes', table({ v2: 0, v1: 100 }));
    const router = await routerFor('iris-routes');
    const res = await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([row]));
    assert.equal(res.status, 200);
    assert.equal(res.body.model_version, 'v1');

    await applyRoutes('iris-routes', table({ v2: 100, v1: 0 }));
    await eventually('the new weights', async () => ((await weightsOf(router)).v2 === 100 ? true : undefined), { intervalMs: 20 });
    assert.equal((await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([row]))).body.model_version, 'v2');

    // A bad update: refused with the key at fault, and the table in use stays.
    await applyRoutes('iris-routes', table({ v2: 60, v1: 60 }));
    const refused = await eventually('the refusal', async () => (await routesOf(router)).rejected);
    assert.match(refused.error, /configmap ml\/iris-routes key routes\.json: versions: weights must sum to 100, they sum to 120/);
    assert.deepEqual(await weightsOf(router), { v2: 100, v1: 0 });
    assert.equal((await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([row]))).status, 200);
  });

  test('a ConfigMap created after the router started: not ready until it appears, then routing', async () => {
    const router = await routerFor('late-routes');
    assert.equal((await http.send(`${router.url}/v2/health/ready`)).status, 503);
    assert.equal((await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([row]))).status, 503);
    await applyRoutes('late-routes', table({ v1: 100 }));
    await eventually('the router to be ready', async () => ((await http.send(`${router.url}/v2/health/ready`)).status === 200 ? true : undefined), { intervalMs: 20 });
    assert.equal((await http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([row]))).body.model_version, 'v1');
  });
});
