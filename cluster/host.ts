// What the real local cluster needs from, and changes on, this host: Debian packages, kernel settings, the
// pods' bridge, and the iptables chains and mounts it leaves behind (removed by cluster-down).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { IPTABLES_CHAIN_PREFIXES, network, paths } from './layout.ts';

type Log = (line: string) => void;

/** Debian packages the node and the image builds need, with a program each that shows it is installed. */
export const HOST_PACKAGES: Record<string, string> = {
  containerd: '/usr/bin/containerd',
  runc: '/usr/sbin/runc',
  'containernetworking-plugins': '/usr/lib/cni/bridge',
  buildah: '/usr/bin/buildah',
  umoci: '/usr/bin/umoci',
  skopeo: '/usr/bin/skopeo',
  debootstrap: '/usr/sbin/debootstrap',
  iptables: '/usr/sbin/iptables',
  conntrack: '/usr/sbin/conntrack',
  socat: '/usr/bin/socat',
  gcc: '/usr/bin/gcc',
  'libc6-dev': '/usr/lib/x86_64-linux-gnu/libc.a',
  openssl: '/usr/bin/openssl',
};

/** Why this machine cannot run the real cluster, or undefined when it can (given the packages). */
export function unableReason(): string | undefined {
  if (process.platform !== 'linux') return `a real node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a real node needs root (containerd, the kubelet, iptables and the pods\' bridge)';
  if (!existsSync('/sys/fs/cgroup/cpu') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'no cgroup hierarchy at /sys/fs/cgroup';
  if (!existsSync('/usr/bin/apt-get') && missingPackages().length > 0) return `missing ${missingPackages().join(', ')} and no apt-get to install them`;
  return undefined;
}

export function missingPackages(): string[] {
  return Object.entries(HOST_PACKAGES).filter(([, probe]) => !existsSync(probe)).map(([name]) => name);
}

/** Installs what is missing with apt-get (root only); throws one line saying what failed. */
export function ensurePackages(log: Log): void {
  const missing = missingPackages();
  if (missing.length === 0) return;
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-q'], ['install', '-y', '-q', '--no-install-recommends', ...missing]]) {
    const result = spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.status !== 0) throw new Error(`apt-get ${args[0]} failed: ${(result.stderr || result.stdout).trim().split('\n').pop()}`);
  }
}

function sh(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function trySh(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** Forwarding and bridge netfilter, which Services through kube-proxy need; the bridge with its gateway. */
export function prepareNetwork(): void {
  trySh('modprobe', ['br_netfilter']);
  trySh('modprobe', ['overlay']);
  writeSysctl('net/ipv4/ip_forward', '1');
  writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  // The API server binds the gateway address before the first pod exists, so the bridge is made here; the
  // CNI bridge plugin finds it and attaches pods to it.
  if (!trySh('ip', ['link', 'show', network.bridge])) sh('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
  const prefix = network.podCidr.split('/')[1];
  if (!sh('ip', ['-4', 'addr', 'show', 'dev', network.bridge]).includes(`${network.gateway}/${prefix}`)) {
    sh('ip', ['addr', 'add', `${network.gateway}/${prefix}`, 'dev', network.bridge]);
  }
  sh('ip', ['link', 'set', network.bridge, 'up']);
}

function writeSysctl(key: string, value: string): void {
  const file = `/proc/sys/${key}`;
  if (existsSync(file) && readFileSync(file, 'utf8').trim() !== value) sh('sh', ['-c', `echo ${value} > ${file}`]);
}

/** Removes the chains kube-proxy and the CNI plugins made, the bridge, and the pods' leftover mounts. */
export function cleanHost(log: Log): void {
  for (const iptables of ['iptables', 'ip6tables']) removeOurChains(iptables);
  if (trySh('ip', ['link', 'show', network.bridge])) trySh('ip', ['link', 'delete', network.bridge]);
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter(Boolean)
    .filter((m) => [paths.kubeletRoot(), paths.containerdState(), paths.containerdRoot()].some((root) => m.startsWith(root)))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) trySh('umount', ['-l', mount]);
  if (mounts.length > 0) log(`unmounted ${mounts.length} pod mounts`);
}

const ours = (text: string) => IPTABLES_CHAIN_PREFIXES.some((p) => text.includes(p));

/**
 * Rules in the built-in chains that jump to or name our chains are deleted by number (last first, so the
 * numbers stay right), which spares parsing their quoted comments; then our chains are flushed and deleted.
 */
function removeOurChains(iptables: string): void {
  for (const table of ['filter', 'nat', 'mangle']) {
    const listed = spawnSync(`${iptables}-save`, ['-t', table], { encoding: 'utf8' });
    if (listed.status !== 0) continue;
    const lines = listed.stdout.split('\n');
    const builtIn = lines.filter((l) => l.startsWith(':') && !ours(l)).map((l) => l.slice(1).split(' ')[0]);
    for (const chain of builtIn) {
      const rules = spawnSync(iptables, ['-t', table, '-S', chain], { encoding: 'utf8' }).stdout?.split('\n').filter((l) => l.startsWith('-A ')) ?? [];
      const numbers = rules.map((rule, i) => (ours(rule) ? i + 1 : 0)).filter((n) => n > 0).reverse();
      for (const n of numbers) trySh(iptables, ['-t', table, '-D', chain, String(n)]);
    }
    const chains = lines.filter((l) => l.startsWith(':') && ours(l)).map((l) => l.slice(1).split(' ')[0]);
    for (const chain of chains) trySh(iptables, ['-t', table, '-F', chain]);
    for (const chain of chains) trySh(iptables, ['-t', table, '-X', chain]);
  }
}
