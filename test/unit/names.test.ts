// Names and labels of the rendered objects: one name per (ModelDeployment, version) and per router, for
// every kind in one namespace, DNS-1035 labels of at most 63 characters; version label values one per
// version; two versions that would still share objects refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDesiredState } from '../../operator/src/render/desired-state.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';
import { instanceLabel, labelValue, objectName, versionedName, versionNameClash } from '../../operator/src/render/names.ts';
import { httpRouteName } from '../../operator/src/render/http-route.ts';
import { routerObjectRefs } from '../../operator/src/render/router.ts';
import { validateModelDeployment } from '../../operator/src/api/validate.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import type { RolloutStatus } from '../../operator/src/rollout/types.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

const DNS_1035 = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/;

function stored(name: string, version: string, spec: Record<string, unknown> = {}): ModelDeployment {
  const { object, errors } = validateModelDeployment(modelDeployment(name, { ...spec, model: { uri: 'https://models.example.com/m.onnx', version } }));
  assert.deepEqual(errors, [], `${name} ${version}`);
  object.metadata.uid = `uid-${name}`;
  return object;
}

/** `kind/name` of every object rendered for these ModelDeployments (a canary when a candidate is given), each once. */
function renderedNames(mdeps: Array<[ModelDeployment, string?]>): Map<string, string> {
  const owners = new Map<string, string>();
  for (const [mdep, candidate] of mdeps) {
    const rollout: RolloutStatus | undefined = candidate
      ? { phase: 'Progressing', stable: mdep.spec.model, candidate: { ...mdep.spec.model, version: candidate }, step: 0, canaryWeight: 20, failedChecks: 0, message: '' }
      : undefined;
    for (const spec of [{}, { rollout: { routing: { provider: 'gateway-api', gateway: { parentRefs: [{ name: 'web' }] } } } }]) {
      const view = { ...mdep, spec: { ...mdep.spec, ...spec } } as ModelDeployment;
      for (const o of renderDesiredState(view, DEFAULT_SETTINGS, rollout) as Array<Record<string, any>>) {
        const key = `${o.kind}/${o.metadata.name}`;
        const owner = `${mdep.metadata.name} ${o.metadata.labels['serving.modelship.dev/version'] ?? 'router'}`;
        assert.ok(DNS_1035.test(o.metadata.name) && o.metadata.name.length <= 63, `${key}: not a DNS-1035 label of at most 63 characters`);
        assert.equal(owners.get(key) ?? owner, owner, `${key} wanted by both ${owners.get(key)} and ${owner}`);
        owners.set(key, owner);
      }
    }
  }
  return owners;
}

test("the issue's collisions get apart: a/b-c and a-b/c, p/q and p-q's router, 1.0 and 1_0, V1 and v1", () => {
  const owners = renderedNames([[stored('a', 'b-c')], [stored('a-b', 'c')], [stored('p', 'q')], [stored('p-q', 'v1')], [stored('r', '1.0'), '1_0'], [stored('s', 'V1'), 'v1']]);
  assert.equal(owners.get('Deployment/a--b-c'), 'a b-c');
  assert.equal(owners.get('Deployment/a-b--c'), 'a-b c');
  assert.equal(owners.get('Deployment/p--q'), 'p q');
  assert.equal(owners.get('Service/p-q'), 'p-q router', "the router's Service is the model's address: the ModelDeployment's name");
  const r = [...owners].filter(([key, owner]) => key.startsWith('Deployment/r--') && owner !== 'r router');
  assert.equal(r.length, 2, `two Deployments for 1.0 and 1_0: ${JSON.stringify(r)}`);
});

test("two versions' pods never share selector labels", () => {
  for (const [stable, candidate] of [['1.0', '1_0'], ['V1', 'v1'], ['v1', 'v1-'], ['v1.', 'v1_']]) {
    const objects = renderDesiredState(stored('ranker', stable), DEFAULT_SETTINGS, {
      phase: 'Progressing', stable: { uri: 'a', version: stable }, candidate: { uri: 'b', version: candidate }, step: 0, canaryWeight: 20, failedChecks: 0, message: '',
    }) as Array<Record<string, any>>;
    const selectors = objects.filter((o) => o.kind === 'Service' && o.metadata.labels['serving.modelship.dev/version']).map((o) => JSON.stringify(o.spec.selector));
    assert.equal(new Set(selectors).size, 2, `${stable} and ${candidate}: ${selectors}`);
  }
});

// Names chosen to break a scheme that joins, lower-cases, replaces or truncates: near misses of each other.
const NAMES = ['a', 'a-b', 'a-b-c', 'a--b', 'p', 'p-q', 'm-7up', '7up', 'fraud.classifier', 'fraud-classifier', 'h0123456789', 'a--h0123456789',
  'x'.repeat(48), 'x'.repeat(49), 'x'.repeat(50), 'x'.repeat(56), 'x'.repeat(57), 'x'.repeat(62) + 'y', 'x'.repeat(63), 'x'.repeat(63) + 'z', 'x'.repeat(253)];
const VERSIONS = ['b-c', 'c', 'q', 'b', '1.0', '1_0', '1-0', 'V1', 'v1', 'v1-', 'v1.', 'v1_', 'v1--b', '2024-06-01', 'h0123456789', 'routes', 'router',
  'a'.repeat(63), 'A'.repeat(63), 'a'.repeat(62) + 'b', 'a'.repeat(62) + '.'];

test('names are one per ModelDeployment and version and apart from the routers\', for every kind, truncation included', () => {
  const owners = new Map<string, string>();
  const claim = (kind: string, name: string, owner: string) => {
    assert.ok(DNS_1035.test(name) && name.length <= 63, `${kind}/${name}: not a DNS-1035 label of at most 63 characters`);
    const key = `${kind}/${name}`;
    assert.equal(owners.get(key) ?? owner, owner, `${key} wanted by both ${owners.get(key)} and ${owner}`);
    owners.set(key, owner);
  };
  for (const name of NAMES) {
    const mdep = stored(name, 'v1');
    for (const [, kind, routerObject] of routerObjectRefs(mdep)) claim(kind, routerObject, `router of ${name}`);
    claim('HTTPRoute', httpRouteName(mdep), `route of ${name}`);
    for (const version of VERSIONS) {
      for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ScaledObject']) claim(kind, versionedName(mdep, version), `${name} ${version}`);
    }
  }
  assert.equal(owners.size, NAMES.length * (7 + 5 * VERSIONS.length));
  const long = stored('x'.repeat(63), 'v1');
  assert.equal(versionedName(long, 'v1').length, 63, 'a name too long for both parts keeps a prefix of them and a hash');
  assert.match(versionedName(long, 'v1'), /^x{50}--h[0-9a-f]{10}$/);
});

test('names stay readable: plain parts joined with "--", a hash only where needed', () => {
  assert.equal(versionedName(stored('ranker', 'v7')), 'ranker--v7');
  assert.equal(versionedName(stored('ranker', '2024-06-01')), 'ranker--2024-06-01');
  assert.match(versionedName(stored('ranker', '2024.06.01_RC1')), /^ranker--2024-06-01-rc1--h[0-9a-f]{10}$/);
  assert.match(versionedName(stored('7up', 'v1')), /^m-7up--v1--h[0-9a-f]{10}$/, 'a DNS-1035 label starts with a letter');
  assert.equal(objectName(['ranker']), 'ranker');
  assert.match(objectName(['fraud.classifier']), /^fraud-classifier--h[0-9a-f]{10}$/, 'apart from the ModelDeployment named fraud-classifier');
});

test('a seeded mix of look-alike names and versions never shares a name', () => {
  let seed = 7;
  const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % n;
  const pick = (alphabet: string, min: number, max: number) => Array.from({ length: min + random(max - min + 1) }, () => alphabet[random(alphabet.length)]).join('');
  const seen = new Map<string, string>();
  for (let i = 0; i < 5000; i++) {
    // Names: DNS-1123 subdomains; versions: the schema's pattern. Tiny alphabets make near misses likely.
    const name = `a${pick('a-.1', 0, random(4) === 0 ? 70 : 6)}`.replace(/[-.]+$/, '');
    const version = `${pick('aA1', 1, 1)}${pick('aA1-._', 0, random(4) === 0 ? 62 : 5)}`;
    for (const [parts, owner] of [[[name], `router ${name}`], [[name, version], `${name} ${version}`]] as Array<[string[], string]>) {
      const got = objectName(parts);
      assert.ok(DNS_1035.test(got) && got.length <= 63, got);
      assert.equal(seen.get(got) ?? owner, owner, `${got} for both ${seen.get(got)} and ${owner}`);
      seen.set(got, owner);
    }
    const label = labelValue(version);
    assert.ok(LABEL_VALUE.test(label) && label.length <= 63, label);
    assert.equal(seen.get(`label ${label}`) ?? version, version, `label ${label} for both ${seen.get(`label ${label}`)} and ${version}`);
    seen.set(`label ${label}`, version);
  }
});

test('label values: a valid value is itself, any other a prefix and a hash, one per value', () => {
  assert.equal(labelValue('2024-06-01'), '2024-06-01', 'label values may start with a digit');
  assert.equal(labelValue('V1'), 'V1');
  const odd = ['v1', 'v1-', 'v1.', 'v1_', 'v1+build/7', 'v1--h0123456789', 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), '-'];
  const labels = odd.map(labelValue);
  assert.equal(new Set(labels).size, odd.length, JSON.stringify(labels));
  for (const label of labels) assert.ok(LABEL_VALUE.test(label) && label.length <= 63, label);
  assert.match(labelValue('v1+build/7'), /^v1-build-7--h[0-9a-f]{10}$/);
  assert.match(labelValue('v1--h0123456789'), /^v1--h0123456789--h[0-9a-f]{10}$/, 'a value shaped like a replacement is replaced too');
  assert.equal(instanceLabel(stored('fraud.classifier', 'v1')), 'fraud.classifier');
  assert.ok(instanceLabel(stored('x'.repeat(253), 'v1')).length <= 63, 'a long ModelDeployment name still makes a valid instance label');
});

// Found by a birthday search over half a million versions: the 40-bit hashes of these two versions' names agree.
const CLASHING = { name: 'fraud-detection-transaction-scoring-ensemble-eu-west-1-production', versions: ['v469224', 'v496721'] };

test('two versions that would share objects are refused, the decision naming both', () => {
  const mdep = stored(CLASHING.name, CLASHING.versions[0]);
  const [a, b] = CLASHING.versions;
  assert.equal(versionedName(mdep, a), versionedName(mdep, b), 'the fixture is a real collision of the naming scheme');
  assert.equal(versionNameClash(mdep, [a, b]), `versions ${a} and ${b} would share the objects named ${versionedName(mdep, a)}`);
  assert.equal(versionNameClash(mdep, [a, a]), undefined, 'one version is no clash');
  assert.equal(versionNameClash(stored('r', 'v1'), ['1.0', '1_0', '1-0', 'V1', 'v1', 'v1-']), undefined);
});
