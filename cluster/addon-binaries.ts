// The real local cluster's add-ons, built from the Go module proxy once per version into the cache (never
// committed), like the control-plane programs in upstream-binaries.ts:
//   coredns             (github.com/coredns/coredns)           cluster DNS, so pods resolve Services by name
//   prometheus-adapter  (sigs.k8s.io/prometheus-adapter)       serves Prometheus series as custom metrics
// Both are built inside a copy of their module directory: prometheus-adapter cannot be `go install`ed by
// version (the proxy refuses its deprecation lookup), and CoreDNS compiles every plugin it lists, cloud DNS
// providers included, unless its plugin list is cut down to what a cluster DNS needs.
import { execFileSync } from 'node:child_process';
import { cpSync, chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './upstream-binaries.ts';

export const COREDNS_VERSION = 'v1.14.7';
export const PROMETHEUS_ADAPTER_VERSION = 'v0.12.0';

export interface AddonBinaries {
  coredns: string;
  prometheusAdapter: string;
}

/**
 * The plugins the cluster's Corefile uses (cluster/manifests/coredns.ts), with their import paths. CoreDNS
 * orders plugins by its own directive list (core/dnsserver/zdirectives.go), not by this one, so a shorter
 * list changes nothing but the size and build time of the binary.
 */
const COREDNS_PLUGINS: Array<[string, string]> = [
  ['errors', 'github.com/coredns/coredns/plugin/errors'],
  ['health', 'github.com/coredns/coredns/plugin/health'],
  ['ready', 'github.com/coredns/coredns/plugin/ready'],
  ['kubernetes', 'github.com/coredns/coredns/plugin/kubernetes'],
  ['forward', 'github.com/coredns/coredns/plugin/forward'],
  ['cache', 'github.com/coredns/coredns/plugin/cache'],
  ['loop', 'github.com/coredns/coredns/plugin/loop'],
  ['reload', 'github.com/coredns/coredns/plugin/reload'],
  ['loadbalance', 'github.com/coredns/coredns/plugin/loadbalance'],
  ['log', 'github.com/coredns/coredns/plugin/log'],
];

function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOWORK: 'off', ...extra };
}

/** Downloads a module (a no-op once it is in the module cache) and returns its read-only directory. */
function moduleDir(module: string, version: string): string {
  const root = cacheRoot();
  mkdirSync(root, { recursive: true });
  const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
    cwd: root, env: goEnv({ GOFLAGS: '' }), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  }));
  if (info.Error || !info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no module directory'}`);
  return info.Dir;
}

/**
 * Builds `pkg` inside a writable copy of the module, after `prepare` edits the copy; the binary is written
 * beside the final path and renamed, so a binary at that path is always a whole one.
 */
export function buildInModuleCopy(options: {
  module: string; version: string; pkg: string; output: string; ldflags: string;
  prepare?: (dir: string) => void; log: (line: string) => void;
}): void {
  const { module, version, pkg, output, ldflags, prepare, log } = options;
  if (existsSync(output)) return;
  const started = performance.now();
  log(`building ${module}@${version} (first run only; a few minutes on 2 cores)`);
  const work = join(cacheRoot(), 'build', `${module.replaceAll('/', '_')}@${version}`);
  rmSync(work, { recursive: true, force: true });
  cpSync(moduleDir(module, version), work, { recursive: true });
  execFileSync('chmod', ['-R', 'u+w', work]);
  try {
    prepare?.(work);
    mkdirSync(join(output, '..'), { recursive: true });
    execFileSync('go', ['build', '-trimpath', `-ldflags=-s -w ${ldflags}`, '-o', `${output}.partial`, pkg], {
      cwd: work, env: goEnv(), stdio: ['ignore', 'inherit', 'inherit'],
    });
    chmodSync(`${output}.partial`, 0o755);
    renameSync(`${output}.partial`, output);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`built ${output} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

export function ensureAddonBinaries(log: (line: string) => void = (l) => console.log(l)): AddonBinaries {
  const bin = join(cacheRoot(), 'addons', 'bin');
  const binaries: AddonBinaries = {
    coredns: join(bin, `coredns-${COREDNS_VERSION}`),
    prometheusAdapter: join(bin, `prometheus-adapter-${PROMETHEUS_ADAPTER_VERSION}`),
  };
  buildInModuleCopy({
    module: 'github.com/coredns/coredns', version: COREDNS_VERSION, pkg: '.', output: binaries.coredns,
    ldflags: `-X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}`, log,
    prepare: (dir) => writeFileSync(join(dir, 'core', 'plugin', 'zplugin.go'), [
      '// The plugins a cluster DNS needs; written by modelship\'s cluster/addon-binaries.ts.',
      'package plugin',
      '',
      'import (',
      '\t_ "github.com/coredns/caddy/onevent"',
      ...COREDNS_PLUGINS.map(([, path]) => `\t_ "${path}"`),
      ')',
      '',
    ].join('\n')),
  });
  buildInModuleCopy({
    module: 'sigs.k8s.io/prometheus-adapter', version: PROMETHEUS_ADAPTER_VERSION, pkg: './cmd/adapter',
    output: binaries.prometheusAdapter, ldflags: '', log,
  });
  return binaries;
}
