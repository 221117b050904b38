// Where the real local cluster keeps its files and which addresses it uses: the one definition that
// `make cluster-up`, `make cluster-down`, the demo and the end-to-end tests share.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { cacheRoot } from './upstream-binaries.ts';

/** State kept between `cluster-up` and `cluster-down` (certificates, configs, logs, pid files). */
export function clusterDir(): string {
  return join(cacheRoot(), 'cluster');
}

/** The documented place of the admin kubeconfig while the cluster is up. */
export function kubeconfigPath(): string {
  return join(clusterDir(), 'kubeconfig');
}

export const paths = {
  pki: () => join(clusterDir(), 'pki'),
  config: () => join(clusterDir(), 'config'),
  logs: () => join(clusterDir(), 'logs'),
  pids: () => join(clusterDir(), 'pids'),
  etcdData: () => join(clusterDir(), 'etcd'),
  /** containerd's content store outlives the cluster, so images stay imported across cluster-down/up. */
  containerdRoot: () => '/var/lib/modelship/containerd',
  containerdState: () => '/run/modelship/containerd',
  containerdSocket: () => '/run/modelship/containerd/containerd.sock',
  kubeletRoot: () => '/var/lib/modelship/kubelet',
  cniConfDir: () => '/run/modelship/cni/net.d',
  cniIpam: () => '/run/modelship/cni/ipam',
};

/**
 * Addresses. The API server listens on the bridge's gateway address, which the host and every pod reach,
 * so in-cluster clients use the `kubernetes` Service (whose endpoint is that address) with their
 * ServiceAccount tokens; nothing listens on the host's outside interfaces.
 */
export const network = {
  bridge: 'modelship0',
  podCidr: '10.244.0.0/24',
  gateway: '10.244.0.1',
  serviceCidr: '10.96.0.0/16',
  /** The first address of the service range: the `kubernetes` Service. */
  apiServiceIp: '10.96.0.1',
  dnsServiceIp: '10.96.0.10',
  apiPort: 6443,
  clusterDomain: 'cluster.local',
};

export function apiServerUrl(): string {
  return `https://${network.gateway}:${network.apiPort}`;
}

/** The node is named after the host, as a kubeadm node is; the API server reaches its kubelet by that name. */
export function nodeName(): string {
  return hostname().toLowerCase();
}

/** The processes cluster-up starts, in start order (cluster-down stops them in reverse). */
export const DAEMONS = ['containerd', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const;
export type Daemon = typeof DAEMONS[number];

/** iptables chains kube-proxy and the CNI plugins create, removed by cluster-down. */
export const IPTABLES_CHAIN_PREFIXES = ['KUBE-', 'CNI-'];
