// The node's configuration files, rendered as text from the cluster's layout (pure functions; cluster-up
// writes them). Each setting that is not a default says why: most are facts measured on our machines
// (cgroup v1 hybrid hosts without systemd as PID 1; see the README's "Real local cluster" section).
import { network, nodeName, paths } from './layout.ts';
import { PAUSE_IMAGE } from './images.ts';

/** containerd 1.6's config, its own root and socket, so the host's containerd (if any) is left alone. */
export function containerdConfig(): string {
  return `version = 2
root = "${paths.containerdRoot()}"
state = "${paths.containerdState()}"

[grpc]
  address = "${paths.containerdSocket()}"

[plugins."io.containerd.grpc.v1.cri"]
  # Pods must never pull: the pause image is built here and imported (cluster/images.ts).
  sandbox_image = "${PAUSE_IMAGE}"
  # Without it every sandbox fails on these hosts: "runc create failed: can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${paths.cniConfDir()}"
`;
}

/** One bridge for the node's pods, host-local addresses, and port mapping for hostPort. */
export function cniConfig(): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'modelship',
    plugins: [
      {
        type: 'bridge', bridge: network.bridge, isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: {
          type: 'host-local', dataDir: paths.cniIpam(),
          ranges: [[{ subnet: network.podCidr, gateway: network.gateway }]], routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

export function kubeletConfig(pki: { ca: string }): string {
  return JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // Required since 1.35 on cgroup v1 hosts; otherwise "kubelet is configured to not run on a host using cgroup v1".
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    address: '127.0.0.1',
    readOnlyPort: 0,
    containerRuntimeEndpoint: `unix://${paths.containerdSocket()}`,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.ca } },
    authorization: { mode: 'Webhook' },
    clusterDNS: [network.dnsServiceIp],
    clusterDomain: network.clusterDomain,
    resolvConf: '/etc/resolv.conf',
    // A dev machine's disk is often fuller than the defaults allow; evicting the demo's pods helps nobody.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    // Pods start and stop fast enough for the demo to show scaling in seconds.
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
    serializeImagePulls: false,
    maxPods: 60,
  }, null, 2);
}

export function kubeProxyConfig(kubeconfig: string): string {
  return JSON.stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    clusterCIDR: network.podCidr,
    hostnameOverride: nodeName(),
    bindAddress: '127.0.0.1',
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // Leave the host's conntrack limits alone (a container may not set them).
    conntrack: { maxPerCore: 0, min: 0 },
    // ClusterIPs from the host work without routing 127.0.0.0/8 to other hosts.
    iptables: { localhostNodePorts: false, syncPeriod: '10s', minSyncPeriod: '0s' },
  }, null, 2);
}

/** A kubeconfig that authenticates with a client certificate or a bearer token. */
export function kubeconfig(server: string, ca: string, user: { name: string; token?: string; cert?: string; key?: string }): string {
  const credentials = user.token ? [`    token: ${user.token}`] : [`    client-certificate: ${user.cert}`, `    client-key: ${user.key}`];
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: modelship-local', '  cluster:', `    server: ${server}`, `    certificate-authority: ${ca}`,
    'users:', `- name: ${user.name}`, '  user:', ...credentials,
    'contexts:', '- name: modelship-local', '  context:', '    cluster: modelship-local', `    user: ${user.name}`,
    'current-context: modelship-local', '',
  ].join('\n');
}
