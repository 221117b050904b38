// The operator as processes against the real API server, as a cluster runs it: two replicas, one leader
// (Lease); the leader picks up a ModelDeployment from its informer, creates the objects and status, and
// follows a spec change; on SIGTERM it releases the Lease and the standby takes over.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { eventually as poll } from '../support/eventually.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/modeldeployments/cpu-classifier.yaml', import.meta.url));
let operatorConfig: string;

let cluster: LocalCluster;
interface Replica {
  child: ChildProcess;
  logs: string[];
}
let replicas: Replica[] = [];
const logs: string[] = [];

function startReplica(): Replica {
  const replicaLogs: string[] = [];
  const child = startOperator(operatorConfig, ['--workers', '2', '--lease-duration-ms', '3000'], (chunk) => {
    replicaLogs.push(chunk);
    logs.push(chunk);
  });
  const replica = { child, logs: replicaLogs };
  // Like the operator's Deployment: a replica that exits with an error (it lost its Lease) is started anew.
  child.on('exit', (code) => {
    if (code === 1) replicas.push(startReplica());
  });
  return replica;
}
const leads = (r: Replica) => r.logs.join('').includes('became leader');

const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  poll(what, probe, { timeoutMs, context: () => logs.slice(-20).join('') });

before(async () => {
  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
  // The operator runs as its ServiceAccount with exactly the RBAC the chart installs.
  operatorConfig = await operatorKubeconfig(cluster);
  replicas = [startReplica(), startReplica()];
  await eventually('a leader', async () => (replicas.some(leads) ? true : undefined));
}, { timeout: 60 * 60_000 });
after(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await cluster?.stop();
});

test('of two replicas exactly one leads', async () => {
  await new Promise((r) => setTimeout(r, 1500)); // a few renewals: the standby must stay standby
  assert.equal(replicas.filter(leads).length, 1);
  const lease = JSON.parse(await cluster.kubectl(['get', '-n', 'modelship-system', 'lease', 'modelship-operator', '-o', 'json']));
  assert.match(lease.spec.holderIdentity, /-\d+$/);
});

test("the operator's identity can do what it needs and nothing more", async () => {
  const can = (...args: string[]) => cluster.kubectl(['auth', 'can-i', ...args, '--as', 'system:serviceaccount:modelship-system:modelship-operator']).then((o) => o.trim(), (e: Error) => (/\bno\b/.test(e.message) ? 'no' : e.message));
  assert.equal(await can('patch', 'modeldeployments.serving.modelship.dev', '--subresource=status', '-n', 'ml'), 'yes');
  assert.equal(await can('patch', 'deployments.apps', '-n', 'ml'), 'yes');
  assert.equal(await can('patch', 'modeldeployments.serving.modelship.dev', '-n', 'ml'), 'no', 'never the spec: GitOps owns it');
  assert.equal(await can('list', 'secrets', '-n', 'ml'), 'no');
  assert.equal(await can('update', 'leases.coordination.k8s.io/other', '-n', 'modelship-system'), 'no');
});

test('a new ModelDeployment gets its objects and a status', async () => {
  await cluster.kubectl(['apply', '-n', 'ml', '-f', EXAMPLE]);
  const deployment = await eventually('the Deployment', async () => JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier--2024-06-01', '-o', 'json'])));
  assert.equal(deployment.spec.template.spec.containers[0].image, 'ghcr.io/modelship/modelship-server:0.1.0');
  await eventually('the HPA', async () => cluster.kubectl(['get', '-n', 'ml', 'hpa', 'fraud-classifier--2024-06-01', '-o', 'name']));
  const status = await eventually('a status', async () => {
    const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
    return mdep.status?.observedGeneration === mdep.metadata.generation ? mdep.status : undefined;
  });
  assert.equal(status.phase, 'Progressing');
});

test('a spec change reaches the Deployment', async () => {
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'fraud-classifier', '--type', 'merge', '-p', '{"spec":{"runtime":{"maxBatchSize":16}}}']);
  await eventually('the new batch size in the pod template', async () => {
    const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier--2024-06-01', '-o', 'json']));
    const env = deployment.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'MODELSHIP_MAX_BATCH_SIZE');
    return env.value === '16' ? true : undefined;
  });
  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
  await eventually('status to follow the generation', async () => {
    const now = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
    return now.status.observedGeneration === mdep.metadata.generation ? true : undefined;
  });
});

test('a reconcile that fails is retried and reported on the object as a Warning event', async () => {
  // KEDA is not installed in this cluster: its ScaledObject cannot be applied.
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
    metadata: { name: 'needs-keda', namespace: 'ml' },
    spec: { model: { uri: 'https://models.example.com/k.onnx', version: 'v1' }, scaling: { engine: 'keda', minReplicas: 0, maxReplicas: 3 } },
  }));
  const message = await eventually('a ReconcileFailed event', async () => {
    const out = await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=needs-keda,reason=ReconcileFailed', '-o', 'jsonpath={.items[0].message}']);
    return out.trim() === '' ? undefined : out;
  });
  assert.match(message, /ScaledObject|keda/i);
  // No delay in the message: it grows with every retry, and the same failure again is the same Event, counted.
  assert.match(message, /retrying with backoff/);
  const status = await eventually('Degraded in status', async () => {
    const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'needs-keda', '-o', 'json']));
    return mdep.status?.phase === 'Degraded' ? mdep.status : undefined;
  });
  const degraded = status.conditions.find((c: { type: string }) => c.type === 'Degraded');
  assert.deepEqual([degraded.status, degraded.reason], ['True', 'ApplyFailed']);
  await cluster.kubectl(['delete', '-n', 'ml', 'mdep', 'needs-keda']);
});

test('the running operator leaves a namesake it does not own untouched and reports the Conflict', async () => {
  // Unlabelled, so the operator's informers never list it: the check must not trust their silence.
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'taken--v1', namespace: 'ml' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'theirs' } }, template: { metadata: { labels: { app: 'theirs' } }, spec: { containers: [{ name: 'c', image: 'registry.example.com/theirs:1' }] } } },
  }));
  const before = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'taken--v1', '-o', 'json']));
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
    metadata: { name: 'taken', namespace: 'ml' },
    spec: { model: { uri: 'https://models.example.com/t.onnx', version: 'v1' } },
  }));
  const ready = await eventually('a Conflict in status', async () => {
    const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'taken', '-o', 'json']));
    return mdep.status?.conditions?.find((c: { type: string; reason: string }) => c.type === 'Ready' && c.reason === 'Conflict');
  });
  assert.equal(ready.message, 'not applied: Deployment/taken--v1 already exists, with no owner');
  const theirs = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'taken--v1', '-o', 'json']));
  assert.equal(theirs.metadata.resourceVersion, before.metadata.resourceVersion, 'untouched');
  await eventually('the router beside it', async () => cluster.kubectl(['get', '-n', 'ml', 'deployment', 'taken', '-o', 'name']));
});

test('SIGTERM stops the leader cleanly and the standby takes over and reconciles', async () => {
  const leader = replicas.find(leads)!;
  const standby = replicas.find((r) => r !== leader)!;
  leader.child.kill('SIGTERM');
  const [code] = await once(leader.child, 'exit');
  assert.equal(code, 0, leader.logs.join(''));
  assert.match(leader.logs.join(''), /released leadership/);
  await eventually('the standby to lead', async () => (leads(standby) ? true : undefined), 10_000);
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'fraud-classifier', '--type', 'merge', '-p', '{"spec":{"runtime":{"maxBatchSize":8}}}']);
  await eventually('the new leader to reconcile', async () => {
    const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier--2024-06-01', '-o', 'json']));
    const env = deployment.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'MODELSHIP_MAX_BATCH_SIZE');
    return env.value === '8' ? true : undefined;
  });
});

test('the operator recovers when the API server restarts under it', async () => {
  // A leader that cannot renew its Lease in time steps down and exits (never two actors at once); its
  // Deployment restarts it, and the new process campaigns again.
  await cluster.restartApiserver();
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'fraud-classifier', '--type', 'merge', '-p', '{"spec":{"runtime":{"maxBatchSize":4}}}']);
  await eventually('the change after the restart to be reconciled', async () => {
    const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier--2024-06-01', '-o', 'json']));
    const env = deployment.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'MODELSHIP_MAX_BATCH_SIZE');
    return env.value === '4' ? true : undefined;
  }, 60_000);
});

test('a killed leader is replaced once its Lease expires, and the new one converges on what changed meanwhile', async () => {
  const leader = await eventually('a live leader', async () => replicas.find((r) => leads(r) && r.child.exitCode === null));
  leader.child.kill('SIGKILL');
  await once(leader.child, 'exit');
  // Changed while no operator runs: the next leader must find it by listing, not by a watch event.
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment',
    metadata: { name: 'late', namespace: 'ml' },
    spec: { model: { uri: 'https://models.example.com/late.onnx', version: 'v1' } },
  }));
  const successor = startReplica();
  replicas.push(successor);
  await eventually('the successor to take the expired Lease', async () => (leads(successor) ? true : undefined));
  await eventually('the successor to reconcile the change', async () => cluster.kubectl(['get', '-n', 'ml', 'deployment', 'late--v1', '-o', 'name']));
});
