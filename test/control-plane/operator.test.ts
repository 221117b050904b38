// The operator as a process against the real API server, as a cluster runs it: it picks up a
// ModelDeployment from its informer, creates the objects and status, follows a spec change, and stops
// cleanly on SIGTERM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/modeldeployments/cpu-classifier.yaml', import.meta.url));
const BIN = fileURLToPath(new URL('../../operator/bin/modelship.js', import.meta.url));

let cluster: LocalCluster;
let operator: ChildProcess;
const logs: string[] = [];

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  cluster = await startLocalCluster();
  await cluster.kubectl(['apply', '--server-side', '-f', CRD]);
  await cluster.kubectl(['wait', '--for', 'condition=Established', '--timeout=60s', 'crd/modeldeployments.serving.modelship.dev']);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  operator = spawn(process.execPath, [BIN, 'operator', '--kubeconfig', cluster.kubeconfig, '--health-port', '0', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  operator.stdout!.on('data', (d) => logs.push(String(d)));
  operator.stderr!.on('data', (d) => logs.push(String(d)));
  await eventually('the operator to start', async () => (logs.join('').includes('operator started') ? true : undefined));
}, { timeout: 60 * 60_000 });
after(async () => {
  if (operator?.exitCode === null) operator.kill('SIGKILL');
  await cluster?.stop();
});

test('a new ModelDeployment gets its objects and a status', async () => {
  await cluster.kubectl(['apply', '-n', 'ml', '-f', EXAMPLE]);
  const deployment = await eventually('the Deployment', async () => JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier-2024-06-01', '-o', 'json'])));
  assert.equal(deployment.spec.template.spec.containers[0].image, 'ghcr.io/modelship/modelship-server:0.1.0');
  await eventually('the HPA', async () => cluster.kubectl(['get', '-n', 'ml', 'hpa', 'fraud-classifier-2024-06-01', '-o', 'name']));
  const status = await eventually('a status', async () => {
    const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
    return mdep.status?.observedGeneration === mdep.metadata.generation ? mdep.status : undefined;
  });
  assert.equal(status.phase, 'Progressing');
});

test('a spec change reaches the Deployment', async () => {
  await cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'fraud-classifier', '--type', 'merge', '-p', '{"spec":{"runtime":{"maxBatchSize":16}}}']);
  await eventually('the new batch size in the pod template', async () => {
    const deployment = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'deployment', 'fraud-classifier-2024-06-01', '-o', 'json']));
    const env = deployment.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'MODELSHIP_MAX_BATCH_SIZE');
    return env.value === '16' ? true : undefined;
  });
  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
  await eventually('status to follow the generation', async () => {
    const now = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud-classifier', '-o', 'json']));
    return now.status.observedGeneration === mdep.metadata.generation ? true : undefined;
  });
});

test('SIGTERM stops the operator cleanly', async () => {
  operator.kill('SIGTERM');
  const [code] = await once(operator, 'exit');
  assert.equal(code, 0, logs.join(''));
  assert.match(logs.join(''), /"message":"stopped"/);
});
