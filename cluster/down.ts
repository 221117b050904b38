// `make cluster-down`: stops everything cluster-up started and removes what it changed on the host (the
// pods, their mounts and network namespaces, the bridge, kube-proxy's and the CNI plugins' iptables
// chains). Idempotent. Kept for the next cluster-up: the cache (binaries, images, containerd's content
// store) and the certificates; `cluster-down` with --purge also removes the cluster's state (etcd, logs).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runningPid, stopDaemon } from './daemons.ts';
import { cleanHost } from './host.ts';
import { DAEMONS, paths } from './layout.ts';

type Log = (line: string) => void;

/** Stops every container through containerd (the kubelet is gone by then), so no shim outlives the node. */
function stopContainers(log: Log): void {
  if (!runningPid('containerd')) return;
  const ctr = (args: string[]) => spawnSync('ctr', ['--address', paths.containerdSocket(), '-n', 'k8s.io', ...args], { encoding: 'utf8' });
  const tasks = (ctr(['tasks', 'ls', '-q']).stdout ?? '').split('\n').filter(Boolean);
  for (const task of tasks) ctr(['tasks', 'kill', '-s', 'SIGKILL', task]);
  for (const task of tasks) ctr(['tasks', 'delete', '-f', task]);
  const containers = (ctr(['containers', 'ls', '-q']).stdout ?? '').split('\n').filter(Boolean);
  for (const container of containers) ctr(['containers', 'delete', container]);
  if (tasks.length + containers.length > 0) log(`stopped ${tasks.length} containers`);
}

/** Network namespaces the CNI plugins made for pods (containerd names them cni-<uuid>). */
function removePodNetns(): void {
  if (!existsSync('/var/run/netns')) return;
  for (const name of readdirSync('/var/run/netns').filter((n) => n.startsWith('cni-'))) spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
}

export async function clusterDown(log: Log = (l) => console.log(l), options: { purge?: boolean } = {}): Promise<void> {
  for (const daemon of [...DAEMONS].reverse().filter((d) => d !== 'containerd')) {
    if (runningPid(daemon)) log(`stopping ${daemon}`);
    await stopDaemon(daemon);
  }
  stopContainers(log);
  if (runningPid('containerd')) log('stopping containerd');
  await stopDaemon('containerd');
  // Shims left by a crash (they keep running without containerd) and their containers.
  spawnSync('pkill', ['-KILL', '-f', `containerd-shim-runc-v2 .*-address ${paths.containerdSocket()}`], { stdio: 'ignore' });
  removePodNetns();
  cleanHost(log);
  rmSync(paths.cniIpam(), { recursive: true, force: true });
  rmSync(paths.kubeletRoot(), { recursive: true, force: true });
  if (options.purge) {
    rmSync(paths.etcdData(), { recursive: true, force: true });
    rmSync(paths.logs(), { recursive: true, force: true });
  }
  log('cluster down');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await clusterDown(console.log, { purge: process.argv.includes('--purge') });
}
