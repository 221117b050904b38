// End to end on a real single-node Kubernetes (cluster/up.ts: containerd + runc, the kubelet, kube-proxy,
// CoreDNS, Prometheus, prometheus-adapter), with modelship installed by `helm install` from images built
// here: real pods serving real models, inference through kube-proxy, the HPA scaling on queue depth, a
// rollout and a rolling restart under load. Skipped, with the reason, where this machine cannot run a node
// (not root, not Linux, no cgroups). The cluster is left running for the next run (make cluster-down).
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { unableReason } from '../../cluster/host.ts';
import { clusterUp, type RunningCluster } from '../../cluster/up.ts';
import { deployModelStore, installOperator, kubectl as kubectlWith, OPERATOR_NAMESPACE, type ModelStore, type Tools } from '../../cluster/install.ts';
import { apply, followRollout, inferRow, localExamples, serviceUrl, waitUntilServing, watchHpa } from '../../cluster/scenario.ts';
import { FAKE_GPU_RESOURCES } from '../../cluster/fake-gpus.ts';
import { nodeName } from '../../cluster/layout.ts';
import { objectName } from '../../operator/src/render/names.ts';
import { startClientLoad, type Answer } from '../control-plane/local-traffic.ts';
import { MLP, MLP_RETRAINED, randomRows, WIDE, writeModel } from '../models/zoo.ts';
import { DRIFTED_FEATURES, drifted, EXAMPLE_BASELINE, REFERENCE_ROWS, writeExampleBaseline } from '../../examples/models/reference-data.ts';
import { eventually, waitFor } from '../support/eventually.ts';
import { fileURLToPath } from 'node:url';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const NS = 'e2e';
const unable = unableReason();
const skip = unable ? `this machine cannot run a real node: ${unable}` : false;

let cluster: RunningCluster;
let tools: Tools;
let store: ModelStore;
const kubectl = (args: string[], input?: string) => kubectlWith(tools, args, input);
const rows = randomRows(32, MLP.features, 5);
const failed = (answers: Answer[]) => answers.filter((a) => a.status !== 200);

const example = (name: string) => {
  const mdep = localExamples(store, NS).find((m) => m.metadata.name === name);
  assert.ok(mdep, `example ${name}`);
  if (name === 'fraud-classifier') {
    // A quarter of a core per pod fills the queue under modest load; a short scale-down window for the test.
    mdep.spec.resources.limits = { ...mdep.spec.resources.limits, cpu: '250m' };
    mdep.spec.scaling = { ...mdep.spec.scaling, behavior: { scaleDown: { stabilizationWindowSeconds: 10 } } };
  }
  if (name === 'ranker') mdep.spec.monitoring.drift = { ...mdep.spec.monitoring.drift, windowSeconds: 20, minRows: 500 };
  return mdep;
};

before(async () => {
  if (skip) return;
  cluster = await clusterUp(() => undefined);
  tools = { kubectl: cluster.kubectl, helm: cluster.helm };
  const models = fileURLToPath(new URL('../../examples/models/', import.meta.url));
  writeModel(models, 'mlp.onnx', MLP.build());
  writeModel(models, 'mlp-retrained.onnx', MLP_RETRAINED.build());
  writeModel(models, 'wide.onnx', WIDE.build());
  installOperator(tools, cluster.images);
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=180s']);
  apply(tools, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]);
  await writeExampleBaseline(models);
  store = deployModelStore(tools, NS, ['mlp.onnx', 'mlp-retrained.onnx', 'wide.onnx', EXAMPLE_BASELINE], cluster.images.nodeBase, () => undefined);
}, { timeout: 45 * 60_000 });

after(() => {
  if (!skip && tools) kubectl(['delete', 'namespace', NS, '--wait=false']);
});

test('the node is Ready, runs the kubelet the project built, and advertises the fake GPUs', { skip }, () => {
  const node = JSON.parse(kubectl(['get', 'node', nodeName(), '-o', 'json']));
  assert.equal(node.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');
  assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.37.2');
  for (const [resource, count] of Object.entries(FAKE_GPU_RESOURCES)) assert.equal(node.status.allocatable[resource], count, resource);
});

test('the operator runs as a pod and reaches the API server through the kubernetes Service with its ServiceAccount', { skip }, async () => {
  const lease = await eventually('the operator to hold its Lease', async () =>
    kubectl(['get', 'lease', '-n', OPERATOR_NAMESPACE, '-o', 'jsonpath={.items[*].spec.holderIdentity}']).trim() || undefined, { timeoutMs: 60_000 });
  const pod = JSON.parse(kubectl(['get', 'pods', '-n', OPERATOR_NAMESPACE, '-l', 'app.kubernetes.io/name=modelship-operator', '-o', 'json'])).items[0];
  assert.ok(lease.includes(pod.metadata.name), `the Lease is held by the operator pod ${pod.metadata.name} (holder ${lease})`);
  assert.equal(pod.spec.serviceAccountName, 'modelship-operator');
});

test('example ModelDeployments run on real pods (CPU, whole GPU, MIG slice) and answer through the routers\' ClusterIPs', { skip, timeout: 10 * 60_000 }, async () => {
  const examples = ['fraud-classifier', 'ranker', 'embedder'].map(example);
  apply(tools, examples);
  kubectl(['wait', '-n', NS, '--for=condition=Ready', 'mdep', ...examples.map((m) => m.metadata.name), '--timeout=300s']);
  const ranker = JSON.parse(kubectl(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=ranker,app.kubernetes.io/component=model-server', '-o', 'json'])).items;
  assert.ok(ranker.length >= 1);
  for (const pod of ranker) {
    assert.equal(pod.spec.containers[0].resources.limits['nvidia.com/gpu'], '1', 'a whole-GPU pod keeps its GPU request');
    assert.equal(pod.spec.containers[0].image, cluster.images.server, 'and runs the CPU image on this node');
    assert.ok(pod.status.containerStatuses[0].ready);
  }
  for (const name of ['fraud-classifier', 'ranker']) {
    const url = serviceUrl(tools, NS, name);
    await waitUntilServing(url, name, rows[0]);
    const answer = await inferRow(url, name, rows[3]);
    assert.equal(answer.status, 200);
    const reference = MLP.reference(rows[3]);
    reference.forEach((v, i) => assert.ok(Math.abs(v - answer.data![i]) < 1e-5, `${name} output ${i}: ${answer.data![i]} vs ${v}`));
  }
  const wideRow = randomRows(1, WIDE.features, 2)[0];
  const embedderUrl = serviceUrl(tools, NS, 'embedder');
  await waitUntilServing(embedderUrl, 'embedder', wideRow);
  const embedder = await inferRow(embedderUrl, 'embedder', wideRow);
  assert.equal(embedder.status, 200);
  assert.equal(embedder.data!.length, WIDE.reference(wideRow).length);
});

test('the operator in its pod reads drift from the ranker\'s pods: Drifting is False for reference-like rows and turns True once the clients drift', { skip, timeout: 10 * 60_000 }, async () => {
  const rowsSent = REFERENCE_ROWS.slice(0, 300);
  // The clients read the array on every request: replacing its rows changes what they send.
  const clients = startClientLoad(serviceUrl(tools, NS, 'ranker'), 'ranker', rowsSent, 3, 10);
  const drifting = async () => (JSON.parse(kubectl(['get', 'mdep', '-n', NS, 'ranker', '-o', 'json'])).status?.conditions ?? [])
    .find((c: { type: string }) => c.type === 'Drifting') as { status: string; reason: string; message: string } | undefined;
  try {
    await eventually('Drifting False NoDrift', async () => ((await drifting())?.reason === 'NoDrift' ? true : undefined), { timeoutMs: 120_000, intervalMs: 1000 });
    rowsSent.splice(0, rowsSent.length, ...drifted(REFERENCE_ROWS.slice(0, 300)));
    const alert = await eventually('Drifting True', async () => {
      const c = await drifting();
      return c?.status === 'True' ? c : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    const named = [...alert.message.matchAll(/input input\[(\d+)\] PSI/g)].map((m) => Number(m[1]));
    assert.ok(named.length > 0 && named.every((i) => DRIFTED_FEATURES.includes(i)), alert.message);
    assert.equal(JSON.parse(kubectl(['get', 'mdep', '-n', NS, 'ranker', '-o', 'json'])).status.conditions.find((c: { type: string }) => c.type === 'Ready').status, 'True');
  } finally {
    await clients.stop();
  }
  assert.deepEqual(failed(clients.answers), []);
});

test('a model on a PersistentVolumeClaim (pvc://) is mounted read-only and served, and spec.pod fields reach the real pods', { skip, timeout: 10 * 60_000 }, async () => {
  // A local PersistentVolume on this node holding the model, bound to a claim in the test namespace.
  const dir = '/var/lib/modelship/e2e-volumes/models';
  mkdirSync(join(dir, 'mlp'), { recursive: true });
  copyFileSync(fileURLToPath(new URL('../../examples/models/mlp.onnx', import.meta.url)), join(dir, 'mlp', 'model.onnx'));
  chmodSync(join(dir, 'mlp', 'model.onnx'), 0o644);
  const pv = {
    apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'modelship-e2e-models' },
    spec: {
      capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'modelship-e2e',
      local: { path: dir }, claimRef: { namespace: NS, name: 'models' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName()] }] }] } },
    },
  };
  const pvc = {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'models', namespace: NS },
    spec: { accessModes: ['ReadOnlyMany'], storageClassName: 'modelship-e2e', volumeName: pv.metadata.name, resources: { requests: { storage: '1Gi' } } },
  };
  kubectl(['delete', 'persistentvolume', pv.metadata.name, '--ignore-not-found', '--wait=true']);
  apply(tools, [pv, pvc]);
  const sha256 = store.sha256('mlp.onnx');
  const mdep = {
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'from-claim', namespace: NS },
    spec: {
      model: { uri: 'pvc://models/mlp/model.onnx', sha256, version: 'v1' },
      resources: { requests: { cpu: '50m', memory: '128Mi' } },
      pod: { labels: { team: 'e2e' }, annotations: { 'example.com/owner': 'ml-platform' } },
    },
  };
  try {
    apply(tools, [mdep]);
    kubectl(['wait', '-n', NS, '--for=condition=Ready', 'mdep/from-claim', '--timeout=300s']);
    const pods = JSON.parse(kubectl(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=from-claim,app.kubernetes.io/component=model-server', '-o', 'json'])).items;
    assert.ok(pods.length >= 1);
    for (const pod of pods) {
      assert.equal(pod.metadata.labels.team, 'e2e', 'spec.pod.labels on the real pod');
      assert.equal(pod.metadata.annotations['example.com/owner'], 'ml-platform', 'spec.pod.annotations on the real pod');
      const mount = pod.spec.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/model-source');
      assert.equal(mount?.readOnly, true, 'the claim is mounted read-only');
    }
    const url = serviceUrl(tools, NS, 'from-claim');
    await waitUntilServing(url, 'from-claim', rows[0]);
    const answer = await inferRow(url, 'from-claim', rows[2]);
    assert.equal(answer.status, 200);
    MLP.reference(rows[2]).forEach((v, i) => assert.ok(Math.abs(v - answer.data![i]) < 1e-5, `output ${i}`));
  } finally {
    kubectl(['delete', '-n', NS, 'mdep/from-claim', 'pvc/models', '--ignore-not-found', '--wait=false']);
    kubectl(['delete', 'persistentvolume', pv.metadata.name, '--ignore-not-found', '--wait=false']);
  }
});

test('under load the HPA scales a version up on modelship_queue_depth from prometheus-adapter, and back down after', { skip, timeout: 10 * 60_000 }, async () => {
  const fraud = example('fraud-classifier');
  const deployment = objectName(['fraud-classifier', fraud.spec.model.version]);
  kubectl(['rollout', 'status', '-n', NS, `deployment/${deployment}`, '--timeout=180s']);
  const hpa = watchHpa(tools, NS, deployment, 1000);
  const context = () => `HPA history: ${JSON.stringify(hpa.samples.slice(-20))}`;
  const url = serviceUrl(tools, NS, 'fraud-classifier');
  await waitUntilServing(url, 'fraud-classifier', rows[0]);
  const load = startClientLoad(url, 'fraud-classifier', rows, 64);
  try {
    try {
      await waitFor('the HPA to add pods', async () => (hpa.samples.at(-1)?.current ?? 0) >= 2, { timeoutMs: 240_000, intervalMs: 1000, context });
    } finally {
      await load.stop();
    }
    await waitFor('the HPA to remove them after the load', async () => hpa.samples.at(-1)?.current === 1, { timeoutMs: 240_000, intervalMs: 1000, context });
  } finally {
    hpa.stop();
  }
  const peak = Math.max(...hpa.samples.map((s) => s.current));
  assert.ok(peak >= 2 && peak <= fraud.spec.scaling.maxReplicas, `peak ${peak} replicas`);
  assert.ok(hpa.samples.some((s) => Number.parseFloat(s.metric ?? '0') > fraud.spec.scaling.targetQueueDepth), 'the HPA read a queue depth above the target');
  assert.deepEqual(failed(load.answers), [], 'no request failed while pods were added and removed');
});

test('a rollout on real pods: shadow, canary steps and promotion with no failed request; a candidate that disagrees is rolled back', { skip, timeout: 15 * 60_000 }, async () => {
  const churn = example('churn-classifier');
  churn.spec.rollout = {
    ...churn.spec.rollout,
    shadow: { ...churn.spec.rollout.shadow, duration: '8s', minComparisons: 30 }, stepInterval: '4s',
    // A latency limit loose enough for a 2-core node, and no ratio to the stable version's p99: a candidate's
    // cold pods measured 20 to 50 times the warm stable's in a 4 s window. The verdicts asserted here are
    // agreement and errors.
    analysis: { ...churn.spec.rollout.analysis, minRequests: 10, maxLatencyP99Ms: 5000, maxLatencyP99Ratio: undefined },
  };
  churn.spec.scaling = { minReplicas: 1, maxReplicas: 2 };
  apply(tools, [churn]);
  kubectl(['wait', '-n', NS, '--for=condition=Ready', 'mdep/churn-classifier', '--timeout=300s']);
  const url = serviceUrl(tools, NS, 'churn-classifier');
  await waitUntilServing(url, 'churn-classifier', rows[0]);
  const load = startClientLoad(url, 'churn-classifier', rows, 3);
  const phases: string[] = [];
  try {
    const patch = (model: string, version: string) => kubectl(['-n', NS, 'patch', 'mdep', 'churn-classifier', '--type', 'merge', '-p',
      JSON.stringify({ spec: { model: { uri: store.url(model), sha256: store.sha256(model), version } } })]);
    patch('mlp.onnx', 'b2');
    await followRollout(tools, NS, 'churn-classifier', (r) => r.phase === 'Succeeded' && r.stable?.version === 'b2', (line) => phases.push(line), 600_000);
    const seen = phases.join('\n');
    assert.match(seen, /Shadowing/, 'the candidate was shadowed first');
    for (const weight of churn.spec.rollout.steps) assert.match(seen, new RegExp(`weight +${weight}%`), `then took ${weight}% of traffic`);
    assert.match(seen, /Promoting/);
    // The same classifier retrained: its answers disagree with the stable version's, which the shadow catches.
    const before = load.answers.length;
    patch('mlp-retrained.onnx', 'b3');
    await followRollout(tools, NS, 'churn-classifier', (r) => r.phase === 'RolledBack', () => undefined, 600_000);
    assert.equal(load.answers.slice(before).filter((a) => a.version === 'b3').length, 0, 'no client got an answer from the rolled-back candidate');
  } finally {
    await load.stop();
  }
  assert.deepEqual(failed(load.answers), [], 'no request failed during the rollouts');
});

test('a rolling restart of a version under load loses no request (SIGTERM drain, preStop, kube-proxy endpoint updates)', { skip, timeout: 10 * 60_000 }, async () => {
  const deployment = objectName(['fraud-classifier', example('fraud-classifier').spec.model.version]);
  kubectl(['scale', '-n', NS, `deployment/${deployment}`, '--replicas=2']);
  kubectl(['rollout', 'status', '-n', NS, `deployment/${deployment}`, '--timeout=180s']);
  const load = startClientLoad(serviceUrl(tools, NS, 'fraud-classifier'), 'fraud-classifier', rows, 6);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    kubectl(['rollout', 'restart', '-n', NS, `deployment/${deployment}`]);
    kubectl(['rollout', 'status', '-n', NS, `deployment/${deployment}`, '--timeout=300s']);
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    await load.stop();
  }
  assert.ok(load.answers.length > 100, `${load.answers.length} requests sent`);
  assert.deepEqual(failed(load.answers), [], 'every request during the restart was answered');
});
