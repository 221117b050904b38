// nginx as the benchmark's reference reverse proxy, from Debian's own package rather than a hand install:
// `apt-get download nginx` into the cache (~/.cache/modelship, or $MODELSHIP_BUILD_CACHE), unpacked with
// `dpkg-deb -x`, run from there as the current user with a generated configuration: one worker process, a
// keep-alive upstream pool, no access log, bodies kept in memory. Library packages the system lacks are
// fetched the same way and put on LD_LIBRARY_PATH.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet } from './server-process.ts';
import { cacheRoot } from '../cluster/upstream-binaries.ts';

export interface NginxBinary {
  path: string;
  version: string;
  env: NodeJS.ProcessEnv;
}

const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'lib/aarch64-linux-gnu'];

const run = (command: string, args: string[], cwd?: string) => execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function download(packages: string[], into: string): void {
  mkdirSync(into, { recursive: true });
  run('apt-get', ['download', ...packages], into);
}

function unpackAll(debs: string, root: string): void {
  for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) run('dpkg-deb', ['-x', join(debs, deb), root]);
}

function libraryEnv(root: string): NodeJS.ProcessEnv {
  const dirs = LIB_DIRS.map((d) => join(root, d)).filter((d) => existsSync(d));
  return dirs.length ? { ...process.env, LD_LIBRARY_PATH: [...dirs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : process.env;
}

/** Libraries the binary needs that the dynamic loader cannot find. */
function missingLibraries(binary: string, env: NodeJS.ProcessEnv): string[] {
  const out = execFileSync('ldd', [binary], { env, encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s+/)[0]);
}

/** nginx from Debian's package, cached; or why it cannot be had (no apt, no network, no package lists). */
export function obtainNginx(log: (line: string) => void): NginxBinary | { unavailable: string } {
  const dir = join(cacheRoot(), 'nginx');
  const root = join(dir, 'root');
  const binary = join(root, 'usr', 'sbin', 'nginx');
  try {
    if (!existsSync(binary)) {
      log(`fetching nginx from the Debian package archive into ${dir}`);
      rmSync(dir, { recursive: true, force: true });
      download(['nginx'], join(dir, 'debs'));
      unpackAll(join(dir, 'debs'), root);
    }
    let env = libraryEnv(root);
    const missing = missingLibraries(binary, env);
    if (missing.length > 0) {
      // The package's own dependencies that are libraries (libssl3, libpcre2-8-0, zlib1g, ...).
      const deb = readdirSync(join(dir, 'debs')).find((f) => f.startsWith('nginx_'))!;
      const depends = run('dpkg-deb', ['-f', join(dir, 'debs', deb), 'Depends']).split(',').map((d) => d.trim().split(/[\s|(]/)[0]).filter((p) => /^(lib|zlib)/.test(p));
      log(`nginx lacks ${missing.join(', ')}; fetching ${depends.join(', ')}`);
      download(depends, join(dir, 'libdebs'));
      unpackAll(join(dir, 'libdebs'), root);
      env = libraryEnv(root);
      const still = missingLibraries(binary, env);
      if (still.length > 0) return { unavailable: `nginx needs libraries not found even after fetching its dependencies: ${still.join(', ')}` };
    }
    // `nginx -v` writes its version to stderr.
    const probe = spawnSync(binary, ['-v'], { env, encoding: 'utf8' });
    if (probe.status !== 0) return { unavailable: `nginx -v failed: ${(probe.stderr || String(probe.error)).trim()}` };
    return { path: binary, version: probe.stderr.trim().replace(/^nginx version: /, ''), env };
  } catch (error) {
    const e = error as Error & { stderr?: string };
    return { unavailable: `${e.message.split('\n')[0]}${e.stderr ? `: ${e.stderr.trim().split('\n').at(-1)}` : ''}` };
  }
}

function config(prefix: string, port: number, upstreamPort: number): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream model {
    server 127.0.0.1:${upstreamPort};
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} reuseport;
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export class NginxProcess {
  readonly port: number;
  private readonly child: ChildProcess;
  private readonly prefix: string;
  private readonly exited: Promise<unknown>;

  private constructor(binary: NginxBinary, port: number, upstreamPort: number) {
    this.port = port;
    this.prefix = mkdtempSync(join(tmpdir(), 'modelship-bench-nginx-'));
    const conf = join(this.prefix, 'nginx.conf');
    writeFileSync(conf, config(this.prefix, port, upstreamPort));
    this.child = spawn(binary.path, ['-p', this.prefix, '-c', conf, '-e', join(this.prefix, 'error.log')], { env: binary.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = once(this.child, 'exit');
  }

  /** Starts nginx proxying to 127.0.0.1:upstreamPort; resolves once a readiness check passes through it. */
  static async start(binary: NginxBinary, port: number, upstreamPort: number): Promise<NginxProcess> {
    const nginx = new NginxProcess(binary, port, upstreamPort);
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      if (nginx.child.exitCode !== null) throw new Error(`nginx exited with ${nginx.child.exitCode}: ${nginx.errorLog()}`);
      const answer = await httpGet(port, '/v2/health/ready', 1000).catch(() => undefined);
      if (answer?.status === 200) return nginx;
      await sleep(50);
    }
    await nginx.stop();
    throw new Error(`nginx did not proxy within 10 s: ${nginx.errorLog()}`);
  }

  /** The master and its worker: the processes whose CPU time is nginx's. */
  get pids(): number[] {
    const master = this.child.pid!;
    const children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [master, ...children];
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.prefix, 'error.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '(no error log)';
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGQUIT');
    await Promise.race([this.exited, sleep(10_000, undefined, { ref: false })]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
