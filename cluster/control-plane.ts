// The real local cluster's processes: containerd, etcd, the control plane, the kubelet and kube-proxy, as
// detached daemons (cluster/daemons.ts) with their configuration written under the cluster directory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect } from 'node:net';
import { request, Agent } from 'node:https';
import type { KubeBinaries, NodeBinaries } from './upstream-binaries.ts';
import { logTail, runningPid, startDaemon } from './daemons.ts';
import { apiServerUrl, kubeconfigPath, network, nodeName, paths, type Daemon } from './layout.ts';
import { containerdConfig, cniConfig, kubeconfig, kubeletConfig, kubeProxyConfig } from './node-config.ts';
import type { Pki } from './pki.ts';

type Log = (line: string) => void;

/**
 * Writes a config file only when its content changes: kube-proxy (and the kubelet, for some files) exits when
 * its config file is written while it runs, which would make a second cluster-up stop the node it finds.
 */
function writeConfig(path: string, content: string, mode = 0o644): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode });
}

/** One identity per component, each bound by Kubernetes' default RBAC (or the Node authorizer). */
const IDENTITIES = {
  admin: { user: 'modelship-local-admin', groups: ['system:masters'] },
  controllerManager: { user: 'system:kube-controller-manager', groups: [] },
  scheduler: { user: 'system:kube-scheduler', groups: [] },
  kubelet: { user: `system:node:${nodeName()}`, groups: ['system:nodes'] },
  kubeProxy: { user: 'system:kube-proxy', groups: [] },
} as const;
type Identity = keyof typeof IDENTITIES;

/** Static tokens, made once; one kubeconfig per identity. */
function ensureCredentials(pki: Pki): Record<Identity, string> {
  const config = paths.config();
  mkdirSync(config, { recursive: true });
  const tokensFile = join(config, 'tokens.csv');
  if (!existsSync(tokensFile)) {
    writeFileSync(tokensFile, Object.entries(IDENTITIES).map(([, { user, groups }]) =>
      `${randomBytes(24).toString('hex')},${user},${user},"${groups.join(',')}"`).join('\n') + '\n', { mode: 0o600 });
  }
  const tokens = new Map(readFileSync(tokensFile, 'utf8').trim().split('\n').map((line) => [line.split(',')[1], line.split(',')[0]]));
  const files = {} as Record<Identity, string>;
  for (const [identity, { user }] of Object.entries(IDENTITIES) as Array<[Identity, { user: string }]>) {
    const path = identity === 'admin' ? kubeconfigPath() : join(config, `${identity}.kubeconfig`);
    writeConfig(path, kubeconfig(apiServerUrl(), pki.ca, { name: user, token: tokens.get(user) }), 0o600);
    files[identity] = path;
  }
  return files;
}

function probe(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: new Agent({ ca: readFileSync(ca) }), timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function waitFor(what: string, daemons: Daemon[], check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const daemon of daemons) {
      if (!runningPid(daemon)) throw new Error(`${daemon} exited while waiting for ${what}; its log ends:\n${logTail(daemon)}`);
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}:\n${daemons.map((d) => `[${d}] ${logTail(d, 6)}`).join('\n')}`);
}

function acceptsConnections(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

export async function startContainerd(log: Log): Promise<void> {
  const config = join(paths.config(), 'containerd.toml');
  mkdirSync(paths.config(), { recursive: true });
  mkdirSync(paths.cniConfDir(), { recursive: true });
  writeConfig(config, containerdConfig());
  writeConfig(join(paths.cniConfDir(), '10-modelship.conflist'), cniConfig());
  if (!runningPid('containerd')) log('starting containerd');
  startDaemon('containerd', 'containerd', ['--config', config]);
  // Connect, not just look for the file: a socket left by a containerd that was killed stays on disk.
  await waitFor('containerd\'s socket', ['containerd'], () => acceptsConnections(paths.containerdSocket()), 30_000);
}

export async function startControlPlane(kube: KubeBinaries, pki: Pki, log: Log): Promise<void> {
  const credentials = ensureCredentials(pki);
  mkdirSync(paths.etcdData(), { recursive: true });
  log('starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler');
  startDaemon('etcd', kube.etcd, [
    '--name', 'modelship-local', '--data-dir', paths.etcdData(),
    '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
    '--initial-cluster', 'modelship-local=http://127.0.0.1:2380', '--log-level', 'warn',
    // A disposable dev store: fsync dominates its latency on these disks and durability buys nothing.
    '--unsafe-no-fsync',
  ]);
  startDaemon('kube-apiserver', kube.kubeApiserver, [
    '--etcd-servers', 'http://127.0.0.1:2379',
    '--bind-address', network.gateway, '--advertise-address', network.gateway, '--secure-port', String(network.apiPort),
    '--tls-cert-file', pki.apiserverCert, '--tls-private-key-file', pki.apiserverKey, '--client-ca-file', pki.ca,
    '--token-auth-file', join(paths.config(), 'tokens.csv'),
    '--authorization-mode', 'Node,RBAC',
    '--service-account-key-file', pki.saPub, '--service-account-signing-key-file', pki.saKey,
    '--service-account-issuer', `https://kubernetes.default.svc.${network.clusterDomain}`,
    '--service-cluster-ip-range', network.serviceCidr,
    '--kubelet-client-certificate', pki.kubeletClientCert, '--kubelet-client-key', pki.kubeletClientKey,
    // The node's name resolves to 127.0.0.1, where the kubelet listens (logs, exec).
    '--kubelet-preferred-address-types', 'Hostname,InternalIP',
    // The aggregation layer, for the custom metrics adapter.
    '--requestheader-client-ca-file', pki.frontProxyCa, '--proxy-client-cert-file', pki.frontProxyClientCert,
    '--proxy-client-key-file', pki.frontProxyClientKey, '--requestheader-allowed-names', 'front-proxy-client',
    '--requestheader-username-headers', 'X-Remote-User', '--requestheader-group-headers', 'X-Remote-Group',
    '--requestheader-extra-headers-prefix', 'X-Remote-Extra-',
    // The API server reaches an aggregated API through its Service's endpoints (pod IPs), not its ClusterIP.
    '--enable-aggregator-routing=true',
    '--allow-privileged=false',
  ]);
  await waitFor('kube-apiserver to be ready', ['etcd', 'kube-apiserver'], async () => (await probe(`${apiServerUrl()}/readyz`, pki.ca)) === 401 || (await probe(`${apiServerUrl()}/livez`, pki.ca)) === 200, 120_000);
  startDaemon('kube-controller-manager', kube.kubeControllerManager, [
    '--kubeconfig', credentials.controllerManager, '--authentication-kubeconfig', credentials.controllerManager,
    '--authorization-kubeconfig', credentials.controllerManager,
    '--service-account-private-key-file', pki.saKey, '--root-ca-file', pki.ca,
    '--use-service-account-credentials=true', '--leader-elect=false',
    '--bind-address', '127.0.0.1', '--secure-port', '10257',
    '--cluster-signing-cert-file', pki.ca, '--cluster-signing-key-file', pki.ca.replace(/\.crt$/, '.key'),
    // Garbage collection of finished pods sooner than the default 12,500.
    '--terminated-pod-gc-threshold', '100',
    // The HPA acts every 5 s instead of 15 s, so the demo shows scaling within a minute; the scale-down
    // stabilization window stays each HPA's own (the chart's defaults, the demo's short one).
    '--horizontal-pod-autoscaler-sync-period', '5s',
  ]);
  startDaemon('kube-scheduler', kube.kubeScheduler, [
    '--kubeconfig', credentials.scheduler, '--authentication-kubeconfig', credentials.scheduler,
    '--authorization-kubeconfig', credentials.scheduler, '--leader-elect=false',
    '--bind-address', '127.0.0.1', '--secure-port', '10259',
  ]);
}

export function startNode(node: NodeBinaries, pki: Pki, log: Log): void {
  const config = paths.config();
  writeConfig(join(config, 'kubelet.json'), kubeletConfig(pki));
  writeConfig(join(config, 'kube-proxy.json'), kubeProxyConfig(join(config, 'kubeProxy.kubeconfig')));
  mkdirSync(paths.kubeletRoot(), { recursive: true });
  log('starting the kubelet and kube-proxy');
  startDaemon('kubelet', node.kubelet, [
    '--config', join(config, 'kubelet.json'), '--kubeconfig', join(config, 'kubelet.kubeconfig'),
    '--root-dir', paths.kubeletRoot(), '--hostname-override', nodeName(), '--node-ip', network.gateway,
    '--v', '1',
  ]);
  startDaemon('kube-proxy', node.kubeProxy, ['--config', join(config, 'kube-proxy.json'), '--v', '1']);
}
