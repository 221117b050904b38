// The operator's cost stays bounded whatever a spec or a flood of watch events does to it, against the real
// API server: a spec the API refuses to apply is retried with exponential backoff (its own status writes
// and Events do not re-queue it early), told by one Event whose count rises and by a status that is written
// once, without HTTP details; many watch events on one object leave one periodic resync, not one per event;
// the Event recorder's memory is bounded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import { EventRecorder } from '../../operator/src/controller/events.ts';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { eventually } from '../support/eventually.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const RESYNC_MS = 1000;

let cluster: LocalCluster;
let operator: ChildProcess;
let custom: CustomObjectsApi;
const logs: string[] = [];
let metricsUrl: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const within = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  eventually(what, probe, { timeoutMs, context: () => logs.slice(-20).join('') });

/** A sample of the operator's /metrics, 0 when it has not been counted yet. */
async function metric(series: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
const reconciles = (result: 'success' | 'error') => metric(`modelship_operator_reconciles_total{result="${result}"}`);

async function getMdep(name: string) {
  return JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', name, '-o', 'json']));
}

before(async () => {
  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  custom = config.makeApiClient(CustomObjectsApi);
  operator = startOperator(await operatorKubeconfig(cluster), ['--no-leader-elect', '--resync-ms', String(RESYNC_MS)], (chunk) => logs.push(chunk));
  const port = await within('the operator to start', async () => {
    const started = logs.join('').split('\n').find((l) => l.includes('"operator started"'));
    return started ? JSON.parse(started).healthPort as number : undefined;
  });
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
}, { timeout: 60 * 60_000 });
after(async () => {
  operator?.kill('SIGKILL');
  await cluster?.stop();
});

test('a spec the API refuses to apply is retried with backoff, told by one Event whose count rises, and its status is written once without HTTP details', async () => {
  // The CRD admits the ModelDeployment; a platform's admission policy refuses the Deployment rendered from it
  // (pods annotated as blocked), as a cluster's policies refuse objects an operator applies.
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'no-blocked-pods' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] },
        validations: [{
          expression: "!has(object.spec.template.metadata.annotations) || !('example.com/blocked' in object.spec.template.metadata.annotations)",
          message: 'pods annotated example.com/blocked are not allowed in this namespace',
        }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'no-blocked-pods' },
      spec: { policyName: 'no-blocked-pods', validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ml' } } } },
    },
  ] }));
  const blocked = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'policy-probe', namespace: 'ml' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' }, annotations: { 'example.com/blocked': 'yes' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
  await within('the admission policy in force', async () => (await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(blocked)).then(() => undefined, () => true)));
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('unappliable', { pod: { annotations: { 'example.com/blocked': 'yes' } } })));
  const failed = await within('Degraded in status', async () => {
    const mdep = await getMdep('unappliable');
    return mdep.status?.phase === 'Degraded' ? mdep : undefined;
  });
  const degraded = failed.status.conditions.find((c: { type: string }) => c.type === 'Degraded');
  assert.equal(degraded.reason, 'ApplyFailed');
  assert.match(degraded.message, /pods annotated example.com\/blocked are not allowed in this namespace/);
  assert.doesNotMatch(degraded.message, /audit-id|date|headers|HTTP-Code/i, 'the API server\'s reason only, nothing that differs per attempt');

  const errorsBefore = await reconciles('error');
  await sleep(6_000);
  const errors = await reconciles('error') - errorsBefore;
  // 50 ms doubling: at most 7 retries fit in 6 s (the old loop ran ~17 a second).
  assert.ok(errors <= 8, `${errors} failed reconciles in 6 s`);
  assert.equal((await getMdep('unappliable')).metadata.resourceVersion, failed.metadata.resourceVersion, 'no status rewrite while nothing changes');

  const events = JSON.parse(await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=unappliable,reason=ReconcileFailed', '-o', 'json'])).items;
  assert.equal(events.length, 1, 'one Event, counted, not one per attempt');
  assert.ok(events[0].count >= 3, `count ${events[0].count}`);
  assert.doesNotMatch(events[0].message, /audit-id|headers|HTTP-Code/i);

  // Fixing the spec is a new generation: it is tried at once, whatever the backoff had grown to.
  await cluster.kubectl(['patch', '-n', 'ml', 'mdep', 'unappliable', '--type', 'merge', '-p', JSON.stringify({ spec: { pod: null } })]);
  await within('the fixed spec applied', async () => ((await getMdep('unappliable')).status?.phase === 'Progressing' ? true : undefined), 10_000);
  await cluster.kubectl(['delete', '-n', 'ml', 'mdep', 'unappliable']);
});

test('after many watch events on one object, an idle operator reconciles it once per resync', async () => {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(modelDeployment('busy', {})));
  await within('busy reconciled', async () => ((await getMdep('busy')).status?.phase ? true : undefined));
  // Each annotation is a watch event and a reconcile, which schedules the periodic resync again.
  for (let i = 0; i < 200; i++) {
    await custom.patchNamespacedCustomObject(
      { group: 'serving.modelship.dev', version: 'v1alpha1', plural: 'modeldeployments', namespace: 'ml', name: 'busy', body: { metadata: { annotations: { touched: String(i) } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  await sleep(3 * RESYNC_MS);
  const before = await reconciles('success');
  await sleep(8 * RESYNC_MS);
  const idle = await reconciles('success') - before;
  // One resync a second for the one object (a little slack for a reconcile's own duration).
  assert.ok(idle <= 10, `${idle} reconciles in 8 resync periods`);
  assert.ok(await metric('modelship_operator_queue_delayed') <= 1, 'at most one delayed re-queue pending for the one object');
});

test('the Event recorder remembers a bounded number of Events: a repeat within the bound raises a count, one evicted is created anew', async () => {
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  const recorder = new EventRecorder(config.makeApiClient(CoreV1Api), 'recorder-test', 2);
  const mdep = modelDeployment('recorded', {}) as unknown as ModelDeployment;
  mdep.metadata.uid = 'recorded-uid';
  const told = (message: string) => recorder.record(mdep, { type: 'Normal', reason: 'Told', message });
  const events = async () => (JSON.parse(await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=recorded,reason=Told', '-o', 'json'])).items as Array<{ message: string; count: number }>)
    .map((e) => `${e.message}:${e.count}`).sort();
  await told('a');
  await told('b');
  await told('a');
  assert.deepEqual(await events(), ['a:2', 'b:1'], 'within the bound, the same Event counts up');
  await told('c'); // the least recently told ('b') is forgotten
  await told('b');
  assert.deepEqual(await events(), ['a:2', 'b:1', 'b:1', 'c:1'], 'past the bound, a forgotten Event is written anew, never held in memory');
});
