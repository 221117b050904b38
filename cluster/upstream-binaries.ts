// Builds the upstream Kubernetes programs the control-plane tests and the local demo run, from the Go
// module proxy, once per version, into a cache outside the repository (never committed):
//   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes)
//   etcd                                                               (go.etcd.io/etcd/server/v3)
//   kwok                                                               (sigs.k8s.io/kwok)
//   helm                                                               (helm.sh/helm/v3, its own module)
//   prometheus                                                         (github.com/prometheus/prometheus)
// and fetches (not builds) the Gateway API's standard-channel CRDs          (sigs.k8s.io/gateway-api)
// k8s.io/kubernetes replaces its staging modules (k8s.io/api, client-go, ...) with local paths, so it
// cannot be `go install`ed; a small tools module requires it and replaces each staging module with its
// published v0.X.Y instead (as kubernetes-sigs/scheduler-plugins does).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const KUBERNETES_VERSION = 'v1.37.2';
/** The etcd that Kubernetes itself requires in its go.mod for this release. */
export const ETCD_VERSION = 'v3.7.0';
export const KWOK_VERSION = 'v0.8.0';
export const HELM_VERSION = 'v3.22.0';
/**
 * Prometheus 3.16.0: its Go module tags release 3.X.Y as v0.3XX.Y. The newest release the Go toolchain here
 * builds (its go.mod declares go 1.26.7).
 */
export const PROMETHEUS_VERSION = 'v0.316.0';
/**
 * The newest Gateway API release whose module the Go toolchain here extracts (v1.7.0 declares go 1.27, so
 * `go mod download` refuses it with go 1.26). Its standard channel has HTTPRoute's RequestMirror `percent`
 * (standard since v1.3).
 */
export const GATEWAY_API_VERSION = 'v1.6.3';

export interface KubeBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  kwok: string;
  helm: string;
  /** kwok's own "fast" stage configs (node initialize and heartbeat; pod ready, complete, delete). */
  kwokStages: string[];
  /** The Gateway API's standard-channel CRDs (GatewayClass, Gateway, HTTPRoute) as the release ships them. */
  gatewayApiCrds: string[];
}

const KWOK_STAGES = ['node/fast/node-initialize.yaml', 'node/heartbeat/node-heartbeat.yaml', 'pod/fast/pod-ready.yaml', 'pod/fast/pod-complete.yaml', 'pod/fast/pod-delete.yaml'];

/** The stage files ship in the kwok module we build from; read them from the module cache, not a copy. */
function kwokStages(dir: string): string[] {
  const module = JSON.parse(go(['list', '-m', '-json', 'sigs.k8s.io/kwok'], dir));
  return KWOK_STAGES.map((stage) => join(module.Dir, 'kustomize', 'stage', stage));
}

const GATEWAY_API_CRDS = ['gatewayclasses', 'gateways', 'httproutes'];

/**
 * The CRD files ship in the gateway-api module (config/crd/standard/); `go mod download` puts the module in
 * the module cache (a no-op, without the network, once it is there) and says where. Run outside any module,
 * so no go.mod or go.sum is touched.
 */
function gatewayApiCrds(): string[] {
  const root = cacheRoot();
  mkdirSync(root, { recursive: true });
  const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`], {
    cwd: root, env: { ...process.env, GOFLAGS: '', GO111MODULE: 'on', GOWORK: 'off' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  }));
  if (info.Error || !info.Dir) throw new Error(`go mod download sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}: ${info.Error ?? 'no module directory'}`);
  return GATEWAY_API_CRDS.map((kind) => join(info.Dir, 'config', 'crd', 'standard', `gateway.networking.k8s.io_${kind}.yaml`));
}

const KUBE_PROGRAMS = {
  kubeApiserver: 'kube-apiserver',
  kubeControllerManager: 'kube-controller-manager',
  kubeScheduler: 'kube-scheduler',
  kubectl: 'kubectl',
} as const;

/** The node's programs (the real local cluster only), built from the same tools module and build cache. */
const NODE_PROGRAMS = { kubelet: 'kubelet', kubeProxy: 'kube-proxy' } as const;

/**
 * Where built programs, images and the local cluster's state live: ~/.cache/modelship, or $MODELSHIP_BUILD_CACHE.
 * Not MODELSHIP_CACHE: every MODELSHIP_<SETTING> belongs to the server's settings (that one picks its response
 * cache), and the servers the demo and the tests start inherit this environment.
 */
export const BUILD_CACHE_VARIABLE = 'MODELSHIP_BUILD_CACHE';

export function cacheRoot(): string {
  return process.env[BUILD_CACHE_VARIABLE] ?? join(homedir(), '.cache', 'modelship');
}

function go(args: string[], cwd: string): string {
  return execFileSync('go', args, { cwd, env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The tools module: k8s.io/kubernetes with every staging module pinned to its published version. */
function writeToolsModule(dir: string): void {
  const info = JSON.parse(go(['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`], dir));
  const upstream = readFileSync(info.GoMod, 'utf8');
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[a-z0-9-]+) => \.\/staging\//gm)].map((m) => m[1]);
  if (staging.length === 0) throw new Error(`no staging replacements found in k8s.io/kubernetes@${KUBERNETES_VERSION}'s go.mod`);
  const goVersion = /^go (\S+)$/m.exec(upstream)?.[1] ?? '1.26.0';
  const stagingVersion = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
  writeFileSync(join(dir, 'go.mod'), [
    'module modelship.dev/kube-tools',
    '',
    `go ${goVersion}`,
    '',
    `require (\n\tk8s.io/kubernetes ${KUBERNETES_VERSION}\n\tgo.etcd.io/etcd/server/v3 ${ETCD_VERSION}\n\tsigs.k8s.io/kwok ${KWOK_VERSION}\n)`,
    '',
    `replace (\n${staging.map((m) => `\t${m} => ${m} ${stagingVersion}`).join('\n')}\n)`,
    '',
  ].join('\n'));
  // etcd's server module is a library; its command-line entry point is etcdmain.Main.
  mkdirSync(join(dir, 'cmd', 'etcd'), { recursive: true });
  writeFileSync(join(dir, 'cmd', 'etcd', 'main.go'), 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n');
  // Keeps every program's packages in the module graph for `go mod tidy`.
  writeFileSync(join(dir, 'tools.go'), [
    '//go:build tools',
    '',
    'package tools',
    '',
    'import (',
    ...[...Object.values(KUBE_PROGRAMS), ...Object.values(NODE_PROGRAMS)].map((p) => `\t_ "k8s.io/kubernetes/cmd/${p}"`),
    '\t_ "sigs.k8s.io/kwok/cmd/kwok"',
    ')',
    '',
  ].join('\n'));
}

/** Paths of the programs, building whatever is missing (minutes on a cold cache; prints progress). */
export function ensureKubeBinaries(log: (line: string) => void = (l) => console.log(l)): KubeBinaries {
  const dir = join(cacheRoot(), 'kube', KUBERNETES_VERSION);
  const bin = join(dir, 'bin');
  const programs: Omit<KubeBinaries, 'kwokStages' | 'gatewayApiCrds'> = {
    kubeApiserver: join(bin, 'kube-apiserver'),
    kubeControllerManager: join(bin, 'kube-controller-manager'),
    kubeScheduler: join(bin, 'kube-scheduler'),
    kubectl: join(bin, 'kubectl'),
    etcd: join(bin, 'etcd'),
    kwok: join(bin, 'kwok'),
    helm: join(bin, 'helm'),
  };
  const binaries = (): KubeBinaries => ({ ...programs, kwokStages: kwokStages(dir), gatewayApiCrds: gatewayApiCrds() });
  if (Object.values(programs).every((p) => existsSync(p))) return binaries();

  mkdirSync(bin, { recursive: true });
  if (!existsSync(join(dir, 'go.sum'))) {
    log(`preparing a Go module for Kubernetes ${KUBERNETES_VERSION} in ${dir}`);
    writeToolsModule(dir);
    go(['mod', 'tidy'], dir);
  }
  if (!existsSync(programs.helm)) {
    // helm pins its own Kubernetes libraries: installed from its module, apart from the tools module's pins.
    const started = performance.now();
    log(`building helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`);
    execFileSync('go', ['install', '-trimpath', '-ldflags=-s -w', `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`], {
      cwd: dir, env: { ...process.env, GOBIN: bin, CGO_ENABLED: '0', GOFLAGS: '' }, stdio: ['ignore', 'inherit', 'inherit'],
    });
    log(`built ${programs.helm} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const targets: Array<[Exclude<keyof typeof programs, 'helm'>, string]> = [
    ...Object.entries(KUBE_PROGRAMS).map(([key, program]) => [key, `k8s.io/kubernetes/cmd/${program}`] as [Exclude<keyof typeof programs, 'helm'>, string]),
    ['etcd', './cmd/etcd'],
    ['kwok', 'sigs.k8s.io/kwok/cmd/kwok'],
  ];
  for (const [key, pkg] of targets) buildKubeProgram(dir, pkg, programs[key], log);
  return binaries();
}

/**
 * What `make` in the Kubernetes tree stamps into its binaries, so /version, `kubectl version` and the node's
 * kubeletVersion are true. The same flags for every program also share one build cache between them.
 */
function versionStamp(): string {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [`-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`])
    .join(' ');
}

function buildKubeProgram(dir: string, pkg: string, output: string, log: (line: string) => void): void {
  if (existsSync(output)) return;
  const started = performance.now();
  log(`building ${pkg} (first run only; several minutes on 2 cores)`);
  go(['build', '-trimpath', `-ldflags=-s -w ${versionStamp()}`, '-o', output, pkg], dir);
  log(`built ${output} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
}

/**
 * kubelet and kube-proxy, for the real local cluster. A tools module made before they were listed lacks
 * kube-proxy's netlink, nftables and ipvs requirements in go.sum: `go get` adds them (once).
 */
export function ensureNodeBinaries(log: (line: string) => void = (l) => console.log(l)): NodeBinaries {
  ensureKubeBinaries(log);
  const dir = join(cacheRoot(), 'kube', KUBERNETES_VERSION);
  const programs: NodeBinaries = { kubelet: join(dir, 'bin', 'kubelet'), kubeProxy: join(dir, 'bin', 'kube-proxy') };
  if (Object.values(programs).every((p) => existsSync(p))) return programs;
  const packages = Object.values(NODE_PROGRAMS).map((p) => `k8s.io/kubernetes/cmd/${p}`);
  go(['get', ...packages.map((p) => `${p}@${KUBERNETES_VERSION}`)], dir);
  for (const [key, program] of Object.entries(NODE_PROGRAMS) as Array<[keyof NodeBinaries, string]>) {
    buildKubeProgram(dir, `k8s.io/kubernetes/cmd/${program}`, programs[key], log);
  }
  return programs;
}

/** The release a Prometheus module version stands for: v0.316.0 is 3.16.0. */
export function prometheusRelease(moduleVersion = PROMETHEUS_VERSION): string {
  const match = /^v0\.(\d+)(\d\d)\.(\d+)$/.exec(moduleVersion);
  if (!match) throw new Error(`${moduleVersion} is not a Prometheus 3.x module version`);
  return `${match[1]}.${Number(match[2])}.${match[3]}`;
}

/**
 * The prometheus server, built (once) from its module with `go install`; its go.mod has no replace
 * directives, so it installs by version like helm. Tag remove_all_sd leaves out every service discovery
 * but static, file and http (the tests scrape static targets), which keeps the cloud SDKs out of the build;
 * enable_kubernetes_sd puts Kubernetes discovery back, for the Prometheus that finds the real local
 * cluster's pods by itself.
 * Without tag builtinassets the web UI is not compiled in (it would be read from web/ui/static under the
 * working directory, which the module zip does not ship); the HTTP API and /-/ready do not need it.
 */
export function ensurePrometheus(log: (line: string) => void = (l) => console.log(l)): string {
  return ensurePrometheusProgram('prometheus', log);
}

/** promtool, from the same release: checks and unit-tests the chart's alerting rules. */
export function ensurePromtool(log: (line: string) => void = (l) => console.log(l)): string {
  return ensurePrometheusProgram('promtool', log);
}

function ensurePrometheusProgram(program: 'prometheus' | 'promtool', log: (line: string) => void): string {
  const dir = join(cacheRoot(), 'prometheus', `${PROMETHEUS_VERSION}-kubernetes-sd`);
  const binary = join(dir, 'bin', program);
  if (existsSync(binary)) return binary;
  // Installed into a folder of its own, then moved: a binary at the final path is always a whole one.
  const staging = join(dir, `bin.${process.pid}`);
  mkdirSync(staging, { recursive: true });
  const started = performance.now();
  log(`building github.com/prometheus/prometheus/cmd/${program}@${PROMETHEUS_VERSION} (Prometheus ${prometheusRelease()}; first run only, about 2 minutes on 2 cores)`);
  const stamp = `-X github.com/prometheus/common/version.Version=${prometheusRelease()} -X github.com/prometheus/common/version.Revision=${PROMETHEUS_VERSION}`;
  try {
    execFileSync('go', ['install', '-trimpath', '-tags=remove_all_sd,enable_kubernetes_sd', `-ldflags=-s -w ${stamp}`, `github.com/prometheus/prometheus/cmd/${program}@${PROMETHEUS_VERSION}`], {
      cwd: dir, env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0', GOFLAGS: '', GOWORK: 'off' }, stdio: ['ignore', 'inherit', 'inherit'],
    });
    mkdirSync(join(dir, 'bin'), { recursive: true });
    renameSync(join(staging, program), binary);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(`built ${binary} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return binary;
}
