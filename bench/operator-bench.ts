// `make bench-operator`: the operator reconciling N ModelDeployments (default 500) on the local simulated
// cluster. Reports the time until all are Ready, Kubernetes API requests per reconcile (counted inside the
// operator), the operator's peak RSS, and its CPU while nothing changes (should be near zero).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../test/control-plane/local-cluster.ts';
import { processCpuSeconds } from './cpu-usage.ts';

const count = Number(process.argv.find((a) => a.startsWith('--count='))?.slice(8) ?? 500);
const path = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const IDLE_SECONDS = 10;

function metric(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

console.log(`starting the simulated cluster; ${count} ModelDeployments`);
const cluster = await startLocalCluster({ simulated: true, crds: [path('../crds/modeldeployment.yaml')] });
try {
  // Two kwok CPU nodes with room for every pod (each ModelDeployment has a model pod and two router pods).
  for (const name of ['bench-node-1', 'bench-node-2']) {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' } } }));
    const allocatable = { cpu: '1000', memory: '4Ti', pods: String(count * 4) };
    await cluster.kubectl(['patch', 'node', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { capacity: allocatable, allocatable } })]);
  }
  await cluster.kubectl(['create', 'namespace', 'bench']);
  const operator = spawn(process.execPath, [path('../operator/bin/modelship.js'), 'operator', '--kubeconfig', cluster.kubeconfig, '--no-leader-elect',
    '--health-port', '18181', '--log-level', 'warn', '--workers', '4'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const scrape = async () => (await fetch('http://127.0.0.1:18181/metrics')).text();
  for (let i = 0; i < 100 && !(await fetch('http://127.0.0.1:18181/readyz').then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));

  const manifests = Array.from({ length: count }, (_, i) => JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: `m-${i}`, namespace: 'bench' },
    spec: { model: { uri: `https://models.example.com/m-${i}.onnx`, version: 'v1' } },
  })).join('\n');
  const started = performance.now();
  await cluster.kubectl(['apply', '-f', '-'], manifests);
  const applied = performance.now();
  let ready = 0;
  while (ready < count) {
    const list = JSON.parse(await cluster.kubectl(['get', 'mdep', '-n', 'bench', '-o', 'json']));
    ready = list.items.filter((m: any) => m.status?.phase === 'Ready').length;
    if (ready < count) await new Promise((r) => setTimeout(r, 500));
  }
  const allReady = (performance.now() - started) / 1000;
  const busy = await scrape();
  const reconciles = metric(busy, 'modelship_operator_reconciles_total');
  const requests = metric(busy, 'modelship_operator_api_requests_total');
  const writes = metric(busy, 'modelship_operator_writes_total');

  const cpuBefore = processCpuSeconds(operator.pid!);
  const requestsBefore = requests;
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idleCpu = (processCpuSeconds(operator.pid!) - cpuBefore) / IDLE_SECONDS;
  const idle = await scrape();
  const idleRequests = metric(idle, 'modelship_operator_api_requests_total') - requestsBefore;
  const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${operator.pid}/status`, 'utf8'))![1]) / 1024;

  console.log(`\n| ModelDeployments | kubectl apply s | all Ready s | reconciles | API requests | requests/reconcile | writes | peak RSS MiB | idle CPU (cores) | idle API requests in ${IDLE_SECONDS} s |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(`| ${count} | ${((applied - started) / 1000).toFixed(1)} | ${allReady.toFixed(1)} | ${reconciles} | ${requests} | ${(requests / reconciles).toFixed(2)} | ${writes} | ${peakRss.toFixed(0)} | ${idleCpu.toFixed(4)} | ${idleRequests} |`);
  operator.kill('SIGTERM');
  await once(operator, 'exit');
} finally {
  await cluster.stop();
}
