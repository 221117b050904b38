// The chart's ValidatingAdmissionPolicy on a real API server, installed with the real helm: whoever may
// create a ModelDeployment cannot use the operator to run pods the platform team has not allowed. With the
// default values every example is admitted and the dangerous asks are refused; with limits set in values,
// each limit refuses with a message that names the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { modelDeployment } from '../support/invalid-model-deployments.ts';
import { eventually } from '../support/eventually.ts';

const CHART = fileURLToPath(new URL('../../charts/modelship', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/modeldeployments/', import.meta.url));
let cluster: LocalCluster;

const helm = async (...args: string[]) => {
  const { stdout } = await promisify(execFile)(cluster.binaries.helm, [...args, '--kubeconfig', cluster.kubeconfig]);
  return stdout;
};
/** Admission runs in full on a server-side dry run, and nothing is stored. */
const dryRun = (spec: Record<string, unknown>) => cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(modelDeployment('asks', spec)));
async function refused(spec: Record<string, unknown>): Promise<string> {
  const error = await dryRun(spec).then(() => undefined, (e: Error) => e);
  assert.ok(error, `admitted: ${JSON.stringify(spec)}`);
  assert.match(error.message, /ValidatingAdmissionPolicy 'modelship-modeldeployments'/, error.message);
  return error.message;
}
/** The API server loads a new or changed policy from its informer: wait until `spec` meets it. */
const policyRefuses = (spec: Record<string, unknown>) => eventually('the policy to take effect', () => dryRun(spec).then(() => undefined, () => true));

const GPU = { mode: 'full', count: 1 };

before(async () => {
  cluster = await startLocalCluster();
  await helm('install', 'modelship', CHART, '-n', 'modelship-system', '--create-namespace');
  await cluster.kubectl(['wait', '--for', 'condition=Established', '--timeout=60s', 'crd/modeldeployments.serving.modelship.dev']);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  await policyRefuses({ scaling: { minReplicas: 1, maxReplicas: 10_000 } });
}, { timeout: 60 * 60_000 });
after(() => cluster?.stop());

describe('default values', () => {
  test('every example is admitted', async () => {
    for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
      await cluster.kubectl(['apply', '-n', 'ml', '-f', join(EXAMPLES, file)]);
    }
  });

  test('10,000 replicas are refused, naming spec.scaling.maxReplicas and the limit', async () => {
    assert.match(await refused({ scaling: { minReplicas: 1, maxReplicas: 10_000 } }), /spec\.scaling\.maxReplicas: 10000 is above the most replicas allowed here \(100\)/);
    await dryRun({ scaling: { minReplicas: 1, maxReplicas: 100 } });
  });

  test('a toleration with operator Exists and no key (every taint) is refused, naming the toleration', async () => {
    const message = await refused({ gpu: { ...GPU, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }, { operator: 'Exists' }] } });
    assert.match(message, /spec\.gpu\.tolerations\[1\]: a toleration without a key tolerates every taint/);
    await dryRun({ gpu: { ...GPU, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] } });
  });

  test('tolerating the control-plane taint is refused, naming the toleration and the key', async () => {
    const message = await refused({ gpu: { ...GPU, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] } });
    assert.match(message, /spec\.gpu\.tolerations\[0\]: tolerating node-role\.kubernetes\.io\/control-plane is not allowed here/);
  });

  test('selecting control-plane nodes is refused, naming the node-selector key', async () => {
    const message = await refused({ gpu: { ...GPU, nodeSelector: { 'node-role.kubernetes.io/control-plane': '' } } });
    assert.match(message, /spec\.gpu\.nodeSelector\[node-role\.kubernetes\.io\/control-plane\]: selecting nodes by this label is not allowed here/);
    await dryRun({ gpu: { ...GPU, nodeSelector: { pool: 'a100' } } });
  });

  test('a system PriorityClass (which would preempt the cluster\'s own components) is refused, naming the field', async () => {
    assert.match(await refused({ pod: { priorityClassName: 'system-node-critical' } }), /spec\.pod\.priorityClassName: system-node-critical is not allowed here/);
    await dryRun({ pod: { priorityClassName: 'model-serving', serviceAccountName: 'anything' } });
  });

  test('node affinity for control-plane nodes is refused like the node selector, naming the key; keeping away from them is admitted', async () => {
    const toControlPlane = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['a100'] }] }, { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] }] };
    const message = await refused({ pod: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: toControlPlane } } } });
    assert.match(message, /spec\.pod\.affinity\.nodeAffinity: selecting nodes by node-role\.kubernetes\.io\/control-plane is not allowed here/);
    const preferred = [{ weight: 10, preference: { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] } }];
    await refused({ pod: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred } } } });
    const awayFromIt = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' }] }] };
    await dryRun({ pod: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: awayFromIt } } } });
  });
});

describe('limits set in values', () => {
  before(async () => {
    await helm('upgrade', 'modelship', CHART, '-n', 'modelship-system',
      '--set', 'admissionPolicy.maxReplicas=20',
      '--set', 'admissionPolicy.allowedImagePrefixes={registry.example.com/ml/,ghcr.io/modelship/}',
      '--set', 'admissionPolicy.tolerations.allowedKeys={dedicated}',
      '--set', 'admissionPolicy.nodeSelector.allowedKeys={pool}',
      '--set', 'admissionPolicy.priorityClasses.allowed={model-serving}',
      '--set', 'admissionPolicy.serviceAccounts.allowed={model-reader}');
    await policyRefuses({ runtime: { image: 'docker.io/attacker/miner:latest' } });
  });

  test('an image outside the allowed prefixes is refused, naming spec.runtime.image and the prefixes', async () => {
    const message = await refused({ runtime: { image: 'docker.io/attacker/miner:latest' } });
    assert.match(message, /spec\.runtime\.image: docker\.io\/attacker\/miner:latest is not from an allowed registry \(allowed prefixes: registry\.example\.com\/ml\/, ghcr\.io\/modelship\/\)/);
    await dryRun({ runtime: { image: 'registry.example.com/ml/server:1.2' } });
    await dryRun({}); // no image: the operator's own
  });

  test('the most replicas follow the value', async () => {
    assert.match(await refused({ scaling: { minReplicas: 1, maxReplicas: 21 } }), /spec\.scaling\.maxReplicas: 21 is above the most replicas allowed here \(20\)/);
  });

  test('a toleration key outside the allowed keys is refused, naming the toleration and the key', async () => {
    const message = await refused({ gpu: { ...GPU, tolerations: [{ key: 'dedicated', operator: 'Exists' }, { key: 'team-b/reserved', operator: 'Exists' }] } });
    assert.match(message, /spec\.gpu\.tolerations\[1\]: tolerating team-b\/reserved is not allowed here \(allowed keys: dedicated\)/);
    await dryRun({ gpu: { ...GPU, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }] } });
  });

  test('a node-selector key outside the allowed keys is refused, naming the key', async () => {
    const message = await refused({ gpu: { ...GPU, nodeSelector: { pool: 'a100', 'kubernetes.io/hostname': 'node-7' } } });
    assert.match(message, /spec\.gpu\.nodeSelector\[kubernetes\.io\/hostname\]: selecting nodes by this label is not allowed here \(allowed keys: pool\)/);
    await dryRun({ gpu: { ...GPU, nodeSelector: { pool: 'a100' } } });
  });

  test('node affinity by a key outside the allowed keys is refused, naming the key; by an allowed one it is admitted', async () => {
    const byHost = [{ weight: 10, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-7'] }] } }];
    const message = await refused({ pod: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: byHost } } } });
    assert.match(message, /spec\.pod\.affinity\.nodeAffinity: selecting nodes by metadata\.name is not allowed here \(allowed keys: pool\)/);
    const byPool = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['a100'] }] }] };
    await dryRun({ pod: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: byPool } } } });
  });

  test('a PriorityClass or ServiceAccount outside the allowed ones is refused, naming the field and the allowed names', async () => {
    assert.match(await refused({ pod: { priorityClassName: 'batch-high' } }), /spec\.pod\.priorityClassName: batch-high is not allowed here \(allowed: model-serving\)/);
    assert.match(await refused({ pod: { serviceAccountName: 'deployer' } }), /spec\.pod\.serviceAccountName: deployer is not allowed here \(allowed: model-reader\)/);
    await dryRun({ pod: { priorityClassName: 'model-serving', serviceAccountName: 'model-reader' } });
  });

  test('every example is still admitted', async () => {
    for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
      await cluster.kubectl(['apply', '--dry-run=server', '-n', 'ml', '-f', join(EXAMPLES, file)]);
    }
  });
});

test('limits that make no sense are refused by the chart\'s values schema', async () => {
  await assert.rejects(helm('template', 'x', CHART, '--set', 'admissionPolicy.maxReplicas=0'), /at '\/admissionPolicy\/maxReplicas': minimum: got 0, want 1/);
  await assert.rejects(helm('template', 'x', CHART, '--set', 'admissionPolicy.validationActions={Block}'), /admissionPolicy\/validationActions\/0/);
});
