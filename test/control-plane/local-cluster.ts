// A real Kubernetes control plane on loopback, started per test run from the upstream programs (what
// envtest does, by hand): etcd, then kube-apiserver with RBAC, a token for the tests and a service-account
// signing key. Clients get a kubeconfig that verifies the server's certificate.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../support/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { ensureKubeBinaries, type KubeBinaries } from '../../cluster/upstream-binaries.ts';

export interface LocalCluster {
  /** https://127.0.0.1:PORT */
  server: string;
  kubeconfig: string;
  token: string;
  /** A kubeconfig for the same cluster that authenticates with another bearer token. */
  kubeconfigFor(name: string, token: string): string;
  binaries: KubeBinaries;
  /** Stops kube-apiserver and starts it again on the same port and store, as an upgrade or crash would. */
  restartApiserver(): Promise<void>;
  /** Runs kubectl against the cluster; resolves with its output, rejects with its stderr. */
  kubectl(args: string[], input?: string): Promise<string>;
  stop(): Promise<void>;
}

interface Program {
  name: string;
  child: ChildProcess;
  /** The last lines it wrote, for the error when it fails. */
  tail: string[];
}

function startProgram(name: string, path: string, args: string[]): Program {
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { name, child, tail };
}

async function stopProgram(program: Program): Promise<void> {
  if (program.child.exitCode !== null || program.child.signalCode !== null) return;
  const exited = once(program.child, 'exit');
  program.child.kill('SIGTERM');
  const timer = setTimeout(() => program.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** GET with the test token; resolves with the HTTP status (0 when nothing answers yet). */
function probe(url: string, token: string, ca: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, agent: new Agent({ ca }), timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitUntil(what: string, programs: Program[], check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of programs) {
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited with ${p.child.exitCode} while waiting for ${what}:\n${p.tail.join('\n')}`);
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}:\n${programs.map((p) => `[${p.name}] ${p.tail.slice(-10).join('\n')}`).join('\n')}`);
}

export interface ClusterOptions {
  /**
   * Also run kube-controller-manager (Deployments, ReplicaSets, garbage collection, HPA), kube-scheduler and
   * kwok, which plays the kubelet for fake nodes: pods are scheduled and become Ready without containers.
   */
  simulated?: boolean;
  /**
   * CRD files to install (and wait for) before the controller-manager starts: its garbage collector finds
   * new resource types only at its 30-second discovery resync.
   */
  crds?: string[];
  /**
   * Also install the Gateway API's standard-channel CRDs (GatewayClass, Gateway, HTTPRoute) of the release
   * the project pins, so rendered HTTPRoutes meet the real schema and CEL rules.
   */
  gatewayApi?: boolean;
}

function kubectlAt(kubeconfig: string, kubectl: string, args: string[], input?: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(kubectl, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err || out}`))));
    child.stdin.end(input ?? '');
  });
}

export async function startLocalCluster(options: ClusterOptions = {}): Promise<LocalCluster> {
  const binaries = ensureKubeBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-cluster-'));
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString('hex');

  const etcd = startProgram('etcd', binaries.etcd, [
    '--name', 'test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${etcdPeerPort}`,
    // A throwaway store: durability buys nothing here and fsync dominates its latency.
    '--unsafe-no-fsync', '--log-level', 'warn',
  ]);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  // Tests act as a cluster admin; RBAC is on, so anything else (the operator) gets only what it is granted.
  writeFileSync(join(dir, 'tokens.csv'), `${token},modelship-test-admin,modelship-test-admin,"system:masters"\n`);
  const certDir = join(dir, 'pki');

  const apiserverArgs = [
    '--etcd-servers', `http://127.0.0.1:${etcdPort}`,
    '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
    '--cert-dir', certDir,
    '--token-auth-file', join(dir, 'tokens.csv'),
    '--authorization-mode', 'Node,RBAC',
    '--service-account-key-file', join(dir, 'sa.pub'),
    '--service-account-signing-key-file', join(dir, 'sa.key'),
    '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
    '--service-cluster-ip-range', '10.96.0.0/16',
    '--allow-privileged=false',
    // The `kubernetes` Service's endpoints would point at a loopback address, which the reconciler refuses;
    // nothing in-cluster needs to reach this API server through that Service.
    '--endpoint-reconciler-type', 'none',
  ];
  let apiserver = startProgram('kube-apiserver', binaries.kubeApiserver, apiserverArgs);
  const programs = [etcd, apiserver];
  const server = `https://127.0.0.1:${apiPort}`;
  try {
    // The self-signed serving certificate (with its CA) appears in --cert-dir once the server starts.
    let ca: Buffer | undefined;
    const apiserverReady = () => waitUntil('kube-apiserver to be ready', [etcd, apiserver], async () => {
      try {
        ca ??= readFileSync(join(certDir, 'apiserver.crt'));
      } catch {
        return false;
      }
      return (await probe(`${server}/readyz`, token, ca)) === 200;
    }, 120_000);
    await apiserverReady();

    const kubeconfigFor = (name: string, bearer: string) => {
      const path = join(dir, `kubeconfig-${name}`);
      writeFileSync(path, [
        'apiVersion: v1', 'kind: Config',
        'clusters:', `- name: local`, `  cluster:`, `    server: ${server}`, `    certificate-authority: ${join(certDir, 'apiserver.crt')}`,
        'users:', `- name: ${name}`, `  user:`, `    token: ${bearer}`,
        'contexts:', `- name: local`, `  context:`, `    cluster: local`, `    user: ${name}`,
        'current-context: local', '',
      ].join('\n'));
      return path;
    };
    const kubeconfig = kubeconfigFor('admin', token);

    for (const crd of [...(options.gatewayApi ? binaries.gatewayApiCrds : []), ...(options.crds ?? [])]) {
      await kubectlAt(kubeconfig, binaries.kubectl, ['apply', '--server-side', '-f', crd]);
      await kubectlAt(kubeconfig, binaries.kubectl, ['wait', '--for', 'condition=Established', '--timeout=60s', '-f', crd]);
    }
    if (options.simulated) {
      programs.push(startProgram('kube-controller-manager', binaries.kubeControllerManager, [
        '--kubeconfig', kubeconfig, '--authentication-kubeconfig', kubeconfig, '--authorization-kubeconfig', kubeconfig,
        '--service-account-private-key-file', join(dir, 'sa.key'), '--root-ca-file', join(certDir, 'apiserver.crt'),
        '--use-service-account-credentials=false', '--leader-elect=false',
        '--bind-address', '127.0.0.1', '--secure-port', '0',
        // The HPA re-evaluates often so tests see scaling in seconds.
        '--horizontal-pod-autoscaler-sync-period', '2s',
      ]));
      programs.push(startProgram('kube-scheduler', binaries.kubeScheduler, [
        '--kubeconfig', kubeconfig, '--authentication-kubeconfig', kubeconfig, '--authorization-kubeconfig', kubeconfig,
        '--leader-elect=false', '--bind-address', '127.0.0.1', '--secure-port', '0',
      ]));
      programs.push(startProgram('kwok', binaries.kwok, [
        '--kubeconfig', kubeconfig, '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector', 'kwok.x-k8s.io/node=fake',
        '--node-ip', '10.0.0.1', '--cidr', '10.244.0.0/16', '--server-address', '',
        ...binaries.kwokStages.flatMap((stage) => ['--config', stage]),
      ]));
    }

    const kubectl = (args: string[], input?: string) => kubectlAt(kubeconfig, binaries.kubectl, args, input);

    return {
      server,
      kubeconfig,
      token,
      kubeconfigFor,
      binaries,
      async restartApiserver() {
        await stopProgram(apiserver);
        apiserver = startProgram('kube-apiserver', binaries.kubeApiserver, apiserverArgs);
        programs[1] = apiserver;
        await apiserverReady();
      },
      kubectl,
      async stop() {
        for (const p of programs.slice(2).reverse()) await stopProgram(p);
        await stopProgram(apiserver);
        await stopProgram(etcd);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(programs.map(stopProgram));
    throw error;
  }
}
