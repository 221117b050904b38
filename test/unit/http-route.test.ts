// The Gateway API HTTPRoute renderer: weighted backendRefs for every version the plan lists (weight 0
// included), a RequestMirror filter with percent only when a shadow share is set, hostnames only when
// given, the route's name, labels and owner reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHttpRoute, type GatewayRouting, type TrafficPlan } from '../../operator/src/render/http-route.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

/** A ModelDeployment as the API server would store it (defaults applied), with a uid. */
function stored(name = 'ranker') {
  const { object, errors } = validateModelDeployment(modelDeployment(name, { model: { uri: 'https://models.example.com/m.onnx', version: 'v2' } }));
  assert.deepEqual(errors, []);
  object.metadata.uid = 'uid-1';
  return object;
}
const gateway: GatewayRouting = { parentRefs: [{ name: 'web', namespace: 'gateways', sectionName: 'http' }] };
const canary: TrafficPlan = {
  backends: [{ version: 'v1', service: 'ranker-v1', port: 80, weight: 80 }, { version: 'v2', service: 'ranker-v2', port: 80, weight: 20 }],
};
const rule = (route: Record<string, any>) => {
  assert.equal(route.spec.rules.length, 1);
  return route.spec.rules[0];
};

test('a canary split: one weighted Service backendRef per version, matching the Open Inference Protocol paths', () => {
  const route = renderHttpRoute(stored(), canary, gateway) as Record<string, any>;
  assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
  assert.equal(route.kind, 'HTTPRoute');
  const { matches, backendRefs, filters } = rule(route);
  assert.deepEqual(matches, [{ path: { type: 'PathPrefix', value: '/v2' } }]);
  assert.deepEqual(backendRefs, [
    { group: '', kind: 'Service', name: 'ranker-v1', port: 80, weight: 80 },
    { group: '', kind: 'Service', name: 'ranker-v2', port: 80, weight: 20 },
  ]);
  assert.equal(filters, undefined);
});

test('a version at weight 0 stays listed with weight 0, so moving traffic back is a change of weights only', () => {
  const promoted = renderHttpRoute(stored(), { backends: [{ ...canary.backends[0], weight: 0 }, { ...canary.backends[1], weight: 100 }] }, gateway) as Record<string, any>;
  const rolledBack = renderHttpRoute(stored(), { backends: [{ ...canary.backends[0], weight: 100 }, { ...canary.backends[1], weight: 0 }] }, gateway) as Record<string, any>;
  assert.deepEqual(rule(promoted).backendRefs.map((b: any) => [b.name, b.weight]), [['ranker-v1', 0], ['ranker-v2', 100]]);
  assert.deepEqual(rule(rolledBack).backendRefs.map((b: any) => [b.name, b.weight]), [['ranker-v1', 100], ['ranker-v2', 0]]);
  assert.deepEqual(rule(promoted).backendRefs.map((b: any) => b.name), rule(rolledBack).backendRefs.map((b: any) => b.name));
});

test('a shadow share becomes a RequestMirror filter with percent to the shadow version', () => {
  const plan: TrafficPlan = {
    backends: [{ version: 'v1', service: 'ranker-v1', port: 80, weight: 100 }],
    mirror: { version: 'v2', service: 'ranker-v2', port: 80, percent: 10 },
  };
  const { filters, backendRefs } = rule(renderHttpRoute(stored(), plan, gateway) as Record<string, any>);
  assert.deepEqual(filters, [{ type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'ranker-v2', port: 80 }, percent: 10 } }]);
  assert.deepEqual(backendRefs.map((b: any) => b.name), ['ranker-v1'], 'the shadow version answers no request');
});

test('no mirror filter without a mirror, or with a mirror at 0 percent', () => {
  const zero: TrafficPlan = { ...canary, mirror: { version: 'v2', service: 'ranker-v2', port: 80, percent: 0 } };
  assert.equal('filters' in rule(renderHttpRoute(stored(), canary, gateway) as Record<string, any>), false);
  assert.equal('filters' in rule(renderHttpRoute(stored(), zero, gateway) as Record<string, any>), false);
});

test('parentRefs name Gateways explicitly; hostnames only when given', () => {
  const without = renderHttpRoute(stored(), canary, gateway) as Record<string, any>;
  assert.deepEqual(without.spec.parentRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'web', namespace: 'gateways', sectionName: 'http' }]);
  assert.equal('hostnames' in without.spec, false);
  assert.equal('hostnames' in (renderHttpRoute(stored(), canary, { ...gateway, hostnames: [] }) as Record<string, any>).spec, false);
  const withHosts = renderHttpRoute(stored(), canary, { parentRefs: [{ name: 'web', port: 443 }], hostnames: ['models.example.com', '*.ml.example.com'] }) as Record<string, any>;
  assert.deepEqual(withHosts.spec.hostnames, ['models.example.com', '*.ml.example.com']);
  assert.deepEqual(withHosts.spec.parentRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'web', port: 443 }]);
});

test('named after the ModelDeployment, in its namespace, owned by it, labelled without a version', () => {
  const { metadata } = renderHttpRoute(stored('fraud.classifier'), canary, gateway) as Record<string, any>;
  assert.match(metadata.name, /^fraud-classifier--h[0-9a-f]{10}$/, 'a DNS label made from the ModelDeployment name (a subdomain, dots allowed), apart from the one named fraud-classifier');
  assert.equal(metadata.namespace, 'ml');
  assert.deepEqual(metadata.ownerReferences, [{
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', name: 'fraud.classifier', uid: 'uid-1', controller: true, blockOwnerDeletion: true,
  }]);
  assert.equal(metadata.labels['app.kubernetes.io/instance'], 'fraud.classifier');
  assert.equal(metadata.labels['app.kubernetes.io/managed-by'], 'modelship');
  assert.equal('serving.modelship.dev/version' in metadata.labels, false, 'the route spans versions; pruning one version must not remove it');
});
