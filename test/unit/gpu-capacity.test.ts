// The GPU capacity check over plain node data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuCapacityProblem, gpuHeadroomProblem, type NodeInfo } from '../../operator/src/render/gpu-capacity.ts';
import { gpuPlacement } from '../../operator/src/render/gpu.ts';
import { DEFAULT_SETTINGS } from '../../operator/src/render/settings.ts';

const nodes: NodeInfo[] = [
  { name: 'cpu', labels: {}, allocatable: { cpu: '16' } },
  { name: 'h100', labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' }, allocatable: { 'nvidia.com/gpu': '8' } },
  { name: 'mig', labels: { 'nvidia.com/mig.strategy': 'mixed' }, allocatable: { 'nvidia.com/mig-1g.10gb': '7' } },
];
const check = (gpu: Record<string, unknown>) => gpuCapacityProblem(gpuPlacement(gpu, DEFAULT_SETTINGS), nodes);

test('fits when a node has the labels and enough of the resource', () => {
  assert.equal(check({ mode: 'none' }), undefined);
  assert.equal(check({ mode: 'full', count: 8, product: 'NVIDIA-H100-80GB-HBM3' }), undefined);
  assert.equal(check({ mode: 'mig', profile: '1g.10gb', count: 7 }), undefined);
});

test('says why nothing fits', () => {
  assert.equal(check({ mode: 'full', count: 9 }), 'no node advertises nvidia.com/gpu: 9 (3 of 3 nodes checked)');
  assert.equal(check({ mode: 'full', product: 'NVIDIA-A100-SXM4-80GB' }),
    'no node has the labels nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB (3 nodes checked); pods needing nvidia.com/gpu: 1 cannot be scheduled');
  assert.equal(check({ mode: 'mig', profile: '3g.40gb' }), 'no node labelled nvidia.com/mig.strategy=mixed advertises nvidia.com/mig-3g.40gb: 1 (1 of 3 nodes checked)');
  assert.match(check({ mode: 'timeSliced' })!, /no node has the labels nvidia.com\/gpu.sharing-strategy=time-slicing/);
});

test('headroom: extra pods fit in what bound pods leave free, node by node', () => {
  const placement = gpuPlacement({ mode: 'full', count: 2 }, DEFAULT_SETTINGS);
  const cluster: NodeInfo[] = [
    { name: 'a', labels: {}, allocatable: { 'nvidia.com/gpu': '8' } },
    { name: 'b', labels: {}, allocatable: { 'nvidia.com/gpu': '3' } },
  ];
  const usage = new Map([['a', { 'nvidia.com/gpu': 5 }], ['b', { 'nvidia.com/gpu': 0 }]]);
  // a has 3 free (one 2-GPU pod), b has 3 free (one pod): 2 pods fit, 3 do not.
  assert.equal(gpuHeadroomProblem(placement, 2, cluster, usage), undefined);
  assert.equal(gpuHeadroomProblem(placement, 3, cluster, usage), '3 more pods with 2 nvidia.com/gpu each needed, the nodes have room for 2');
  assert.equal(gpuHeadroomProblem(placement, 0, cluster, usage), undefined, 'no extra pods: nothing to check');
  assert.equal(gpuHeadroomProblem(gpuPlacement({ mode: 'none' }, DEFAULT_SETTINGS), 50, cluster, usage), undefined, 'CPU pods are not held');
});
