// The second half of `make demo`: the operator at work on a local simulated cluster (real kube-apiserver,
// controller-manager and scheduler; kwok nodes advertising whole GPUs, MIG slices and time-sliced shares).
// Applies the example ModelDeployments and shows what a user sees with kubectl.
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../test/control-plane/local-cluster.ts';
import { addGpuNodes } from '../test/control-plane/gpu-nodes.ts';
import { operatorKubeconfig, startOperator } from '../test/control-plane/operator-identity.ts';

const path = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CRD = path('../crds/modeldeployment.yaml');

console.log('starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)...');
const cluster = await startLocalCluster({ simulated: true, crds: [CRD] });
let operator: ReturnType<typeof startOperator> | undefined;
try {
  await addGpuNodes(cluster);
  await cluster.kubectl(['create', 'namespace', 'ml']);
  operator = startOperator(await operatorKubeconfig(cluster), ['--log-level', 'warn']);

  console.log('\n$ kubectl get nodes -L nvidia.com/gpu.product');
  console.log(await cluster.kubectl(['get', 'nodes', '-L', 'nvidia.com/gpu.product']));
  console.log('$ kubectl apply -n ml -f examples/modeldeployments/');
  console.log(await cluster.kubectl(['apply', '-n', 'ml', '-f', path('./modeldeployments/')]));
  await cluster.kubectl(['wait', '-n', 'ml', '--for=condition=Ready', 'mdep', '--all', '--timeout=120s']);
  console.log('$ kubectl get mdep -n ml');
  console.log(await cluster.kubectl(['get', 'mdep', '-n', 'ml']));
  console.log('$ kubectl get pods -n ml -o wide');
  console.log(await cluster.kubectl(['get', 'pods', '-n', 'ml', '-o', 'custom-columns=POD:.metadata.name,NODE:.spec.nodeName,READY:.status.containerStatuses[0].ready,GPU:.spec.containers[0].resources.limits']));
} finally {
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await once(operator, 'exit');
  }
  await cluster.stop();
}
