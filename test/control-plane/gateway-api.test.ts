// Rendered HTTPRoutes, applied as the operator's ServiceAccount with its shipped RBAC, on a real API server with the Gateway API's own standard-channel CRDs (the pinned
// release, from the Go module proxy): a canary split, a shadow mirror with percent and a full promotion are
// accepted and read back as rendered, a route moves between them by server-side apply under one field
// manager (a dropped mirror disappears), and renders outside the CRD's bounds are refused by its schema and
// CEL rules, naming the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { operatorKubeconfig } from './operator-identity.ts';
import { renderHttpRoute, type GatewayRouting, type TrafficPlan } from '../../operator/src/render/http-route.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';

const mdep = (name: string): ModelDeployment => ({
  apiVersion: 'serving.modelship.dev/v1alpha1',
  kind: 'ModelDeployment',
  metadata: { name, namespace: 'ml', uid: `00000000-0000-0000-0000-${name.length.toString().padStart(12, '0')}` },
  spec: { model: { uri: 'https://models.example.com/m.onnx', version: 'v2' } },
});
const gateway: GatewayRouting = { parentRefs: [{ name: 'web', namespace: 'gateways', sectionName: 'http' }] };
const backend = (version: string, weight: number) => ({ version, service: `ranker-${version}`, port: 80, weight });
const SHADOW: TrafficPlan = { backends: [backend('v1', 100), backend('v2', 0)], mirror: { version: 'v2', service: 'ranker-v2', port: 80, percent: 10 } };
const CANARY: TrafficPlan = { backends: [backend('v1', 80), backend('v2', 20)] };
const PROMOTED: TrafficPlan = { backends: [backend('v1', 0), backend('v2', 100)] };

let cluster: LocalCluster;
/** The operator's ServiceAccount with the RBAC it ships with: writing its routes needs no more than that. */
let asOperator: string;
/** Server-side apply under the operator's field manager, as the reconciler applies what it renders. */
const apply = (object: Record<string, unknown>) =>
  cluster.kubectl(['--kubeconfig', asOperator, 'apply', '--server-side', '--field-manager', 'modelship', '-f', '-'], JSON.stringify(object));
const getRoute = async (name: string) => JSON.parse(await cluster.kubectl(['--kubeconfig', asOperator, 'get', '-n', 'ml', 'httproute', name, '-o', 'json']));
const weights = (route: any) => route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight]);

before(async () => {
  cluster = await startLocalCluster({ gatewayApi: true });
  asOperator = await operatorKubeconfig(cluster);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  await cluster.kubectl(['create', 'namespace', 'gateways']);
  // The Gateway the routes attach to (no controller runs here, so nothing programs it; the reference is real).
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'test' }, spec: { controllerName: 'modelship.dev/test' } },
      {
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'web', namespace: 'gateways' },
        spec: { gatewayClassName: 'test', listeners: [{ name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } }] },
      },
    ],
  }));
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

describe('rendered HTTPRoutes are accepted and read back as rendered', () => {
  test("the operator's RBAC grants every verb on HTTPRoutes, and not Gateways", async () => {
    const canI = (verb: string, resource: string) =>
      cluster.kubectl(['--kubeconfig', asOperator, 'auth', 'can-i', verb, resource, '-n', 'ml']).then((out) => out.trim(), () => 'no');
    assert.equal(await cluster.kubectl(['--kubeconfig', asOperator, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']),
      'system:serviceaccount:modelship-system:modelship-operator');
    for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete']) assert.equal(await canI(verb, 'httproutes.gateway.networking.k8s.io'), 'yes', verb);
    assert.equal(await canI('create', 'gateways.gateway.networking.k8s.io'), 'no');
  });

  test('a shadow phase: all traffic to the stable version, 10 percent mirrored to the candidate', async () => {
    await apply(renderHttpRoute(mdep('ranker'), SHADOW, gateway));
    const route = await getRoute('ranker');
    assert.deepEqual(weights(route), [['ranker-v1', 100], ['ranker-v2', 0]]);
    assert.deepEqual(route.spec.rules[0].filters, [{ type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'ranker-v2', port: 80 }, percent: 10 } }]);
    assert.deepEqual(route.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/v2' } }]);
    assert.deepEqual(route.spec.parentRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'web', namespace: 'gateways', sectionName: 'http' }]);
    assert.equal(route.metadata.ownerReferences[0].kind, 'ModelDeployment');
  });

  test('the same route moves to a canary split by server-side apply, and the dropped mirror is removed', async () => {
    await apply(renderHttpRoute(mdep('ranker'), CANARY, gateway));
    const route = await getRoute('ranker');
    assert.deepEqual(weights(route), [['ranker-v1', 80], ['ranker-v2', 20]]);
    assert.equal(route.spec.rules[0].filters, undefined);
  });

  test('then to a promotion, 0/100, with the old version still listed at weight 0', async () => {
    await apply(renderHttpRoute(mdep('ranker'), PROMOTED, gateway));
    assert.deepEqual(weights(await getRoute('ranker')), [['ranker-v1', 0], ['ranker-v2', 100]]);
  });

  test('hostnames and a parentRef by port are kept', async () => {
    await apply(renderHttpRoute(mdep('embedder'), CANARY, { parentRefs: [{ name: 'web', namespace: 'gateways', port: 80 }], hostnames: ['models.example.com', '*.ml.example.com'] }));
    const route = await getRoute('embedder');
    assert.deepEqual(route.spec.hostnames, ['models.example.com', '*.ml.example.com']);
    assert.equal(route.spec.parentRefs[0].port, 80);
    assert.deepEqual(weights(route), [['ranker-v1', 80], ['ranker-v2', 20]]);
  });
});

describe("renders outside the CRD's bounds are refused by its validation, naming the field", () => {
  const refusals: Array<[string, TrafficPlan, RegExp]> = [
    ['a weight above 1000000', { backends: [backend('v1', 1_000_001)] }, /spec\.rules\[0\]\.backendRefs\[0\]\.weight: Invalid value: 1000001: .*less than or equal to 1000000/],
    ['a negative weight', { backends: [backend('v1', 100), backend('v2', -1)] }, /spec\.rules\[0\]\.backendRefs\[1\]\.weight: Invalid value: -1: .*greater than or equal to 0/],
    ['a mirror percent above 100', { ...CANARY, mirror: { version: 'v2', service: 'ranker-v2', port: 80, percent: 101 } }, /spec\.rules\[0\]\.filters\[0\]\.requestMirror\.percent: Invalid value: 101: .*less than or equal to 100/],
    ['a mirror to port 0', { ...CANARY, mirror: { version: 'v2', service: 'ranker-v2', port: 0, percent: 10 } }, /spec\.rules\[0\]\.filters\[0\]\.requestMirror\.backendRef\.port: Invalid value: 0: .*greater than or equal to 1/],
  ];
  refusals.forEach(([what, plan, message], i) => {
    test(what, async () => {
      await assert.rejects(apply(renderHttpRoute(mdep(`broken-${i}`), plan, gateway)), message);
      await assert.rejects(getRoute(`broken-${i}`), /NotFound/, 'nothing was stored');
    });
  });

  test("the CRD's CEL rules run too: the same Gateway twice, once without a listener", async () => {
    const twice: GatewayRouting = { parentRefs: [{ name: 'web', namespace: 'gateways', sectionName: 'http' }, { name: 'web', namespace: 'gateways' }] };
    await assert.rejects(apply(renderHttpRoute(mdep('broken-parents'), CANARY, twice)),
      /spec\.parentRefs: Invalid value: .*sectionName must be specified when parentRefs includes 2 or more references to the same parent/);
  });
});
