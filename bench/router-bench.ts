// `make bench-router`: what the router costs. One real model server (the MLP), measured in the same run
// (a) directly, (b) through `modelship-server route` with one version at weight 100, and (c) through nginx
// (Debian's package) as a plain keep-alive reverse proxy, each proxy one process or worker. At 1 client:
// the p50 latency each proxy adds; at 64 clients: throughput as a share of direct. JSON and binary bodies.
// Prints markdown and the targets with PASS/MISS, and writes bench/results/router-<time>.json.
//
//   node bench/router-bench.ts [--quick]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MLP, writeModel } from '../test/models/zoo.ts';
import { freePort } from '../test/support/free-port.ts';
import { leastDisturbed, machineBusySeconds, ownCpuSeconds, processCpuSeconds } from './cpu-usage.ts';
import { runClosedLoop } from './load-generator.ts';
import { NginxProcess, obtainNginx } from './nginx.ts';
import { BODY_KINDS, requestFactory, responseProblem, type BodyKind } from './oip-requests.ts';
import { ServerProcess } from './server-process.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');
const MODELSHIP_BIN = join(BENCH_DIR, '..', 'server-image', 'bin', 'modelship-server.js');
const LATENCY_CLIENTS = 1;
const THROUGHPUT_CLIENTS = 64;
const TARGET_ADDED_P50_MS = 1;
const TARGET_THROUGHPUT_COST = 0.15;

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' } } });
const timing = flags.quick ? { warmupMs: 500, durationMs: 1500 } : { warmupMs: 1000, durationMs: 3000 };
/** Each cell is measured this many times, the paths interleaved, and the median kept: drift hits all alike. */
const rounds = Math.max(1, Number(flags.rounds));

type Path = 'direct' | 'router' | 'nginx';

interface Cell {
  path: Path;
  body: BodyKind;
  clients: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  errorSamples: string[];
  /** Cores busy, by whom, over the measured run. */
  serverCores: number;
  proxyCores: number;
  benchCores: number;
  otherCores: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);
const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);

async function measure(path: Path, port: number, serverPid: number, proxyPids: number[], body: BodyKind, clients: number): Promise<Cell> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = {
    port, path: '/v2/models/mlp/infer', agent, concurrency: clients,
    makeRequest: requestFactory('input', MLP.features, body),
    problem: responseProblem.bind(undefined, body),
  };
  try {
    const warmup = await runClosedLoop(target, timing.warmupMs);
    const start = { wall: performance.now(), server: processCpuSeconds(serverPid), proxy: cpuOf(proxyPids), bench: ownCpuSeconds(), machine: machineBusySeconds() };
    const load = await runClosedLoop(target, timing.durationMs);
    const seconds = (performance.now() - start.wall) / 1000;
    const server = processCpuSeconds(serverPid) - start.server;
    const proxy = cpuOf(proxyPids) - start.proxy;
    const bench = ownCpuSeconds() - start.bench;
    const machine = machineBusySeconds() - start.machine;
    return {
      path, body, clients,
      requestsPerSec: load.requestsPerSec, p50Ms: load.p50Ms, p99Ms: load.p99Ms,
      errors: load.errors + warmup.errors,
      errorSamples: [...new Set([...warmup.errorSamples, ...load.errorSamples])],
      serverCores: server / seconds, proxyCores: proxy / seconds, benchCores: bench / seconds,
      otherCores: Math.max(0, machine - server - proxy - bench) / seconds,
    };
  } finally {
    agent.destroy();
  }
}

function median(cells: Cell[]): Cell {
  const sorted = [...cells].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
  const mid = sorted[Math.floor(sorted.length / 2)];
  const p50s = cells.map((c) => c.p50Ms).sort((a, b) => a - b);
  return { ...mid, p50Ms: p50s[Math.floor(p50s.length / 2)], errors: cells.reduce((n, c) => n + c.errors, 0), errorSamples: [...new Set(cells.flatMap((c) => c.errorSamples))] };
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
const f = (digits: number) => (v: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

async function main(): Promise<void> {
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-router-bench-'));
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const cells: Cell[] = [];
  let nginxNote: string;
  try {
    const modelPath = writeModel(dir, 'mlp.onnx', MLP.build());
    const server = await ServerProcess.start('modelship-server', MODELSHIP_BIN,
      (port) => ['serve', '--model', modelPath, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'], 60_000);
    started.push(server);
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify({ versions: [{ name: '1', url: `http://127.0.0.1:${server.port}`, weight: 100 }] }));
    const router = await ServerProcess.start('modelship router', MODELSHIP_BIN,
      (port) => ['route', '--routes-file', routes, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'], 30_000);
    started.push(router);
    const paths: Array<{ path: Path; port: number; proxyPids: number[] }> = [
      { path: 'direct', port: server.port, proxyPids: [] },
      { path: 'router', port: router.port, proxyPids: [router.pid] },
    ];
    const nginxBinary = obtainNginx(progress);
    if ('unavailable' in nginxBinary) {
      nginxNote = `nginx unavailable (${nginxBinary.unavailable}); measured direct and router only.`;
      progress(nginxNote);
    } else {
      const nginx = await NginxProcess.start(nginxBinary, await freePort(), server.port);
      started.push(nginx);
      paths.push({ path: 'nginx', port: nginx.port, proxyPids: nginx.pids });
      nginxNote = `nginx ${nginxBinary.version} from Debian's package (apt-get download, dpkg-deb -x into the cache), worker_processes 1, upstream keepalive 256, access log off.`;
    }

    for (const body of BODY_KINDS) {
      for (const clients of [LATENCY_CLIENTS, THROUGHPUT_CLIENTS]) {
        const measured = new Map<Path, Cell[]>();
        for (let round = 0; round < rounds; round++) {
          for (const p of paths) {
            const cell = (await leastDisturbed('', () => measure(p.path, p.port, server.pid, p.proxyPids, body, clients), progress)).kept;
            progress(`  ${p.path} ${body} @${clients}: ${cell.requestsPerSec.toFixed(0)} req/s, p50 ${cell.p50Ms.toFixed(3)} ms, other CPU ${cell.otherCores.toFixed(2)}, errors ${cell.errors}`);
            measured.set(p.path, [...(measured.get(p.path) ?? []), cell]);
          }
        }
        for (const p of paths) cells.push(median(measured.get(p.path)!));
      }
    }
  } finally {
    for (const process of started.reverse()) await process.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const find = (path: Path, body: BodyKind, clients: number) => cells.find((c) => c.path === path && c.body === body && c.clients === clients);
  const rows: string[][] = [];
  const checks: Array<{ description: string; value: string; target: string; pass: boolean }> = [];
  for (const body of BODY_KINDS) {
    const direct1 = find('direct', body, LATENCY_CLIENTS)!;
    const direct64 = find('direct', body, THROUGHPUT_CLIENTS)!;
    for (const path of ['direct', 'router', 'nginx'] as Path[]) {
      const one = find(path, body, LATENCY_CLIENTS);
      const many = find(path, body, THROUGHPUT_CLIENTS);
      if (!one || !many) continue;
      const added = one.p50Ms - direct1.p50Ms;
      const share = many.requestsPerSec / direct64.requestsPerSec;
      rows.push([body, path, f(3)(one.p50Ms), path === 'direct' ? '-' : f(3)(added), f(0)(many.requestsPerSec), f(2)(many.p50Ms), f(2)(many.p99Ms),
        path === 'direct' ? '-' : `${f(1)((1 - share) * 100)}%`, f(2)(many.serverCores), f(2)(many.proxyCores), f(2)(many.benchCores), f(2)(many.otherCores),
        many.proxyCores > 0 ? f(1)((many.proxyCores / many.requestsPerSec) * 1e6) : '-', String(one.errors + many.errors)]);
      if (path === 'router') {
        checks.push({ description: `${body}: router adds to p50 at ${LATENCY_CLIENTS} client`, value: `${added.toFixed(3)} ms`, target: `< ${TARGET_ADDED_P50_MS} ms`, pass: added < TARGET_ADDED_P50_MS });
        checks.push({ description: `${body}: router's throughput cost at ${THROUGHPUT_CLIENTS} clients`, value: `${((1 - share) * 100).toFixed(1)}%`, target: `< ${TARGET_THROUGHPUT_COST * 100}%`, pass: 1 - share < TARGET_THROUGHPUT_COST });
      }
    }
  }
  const cores = availableParallelism();
  console.log(`# Router benchmark, ${startedAt.toISOString()}`);
  console.log(`\n${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}; the MLP on one modelship-server (defaults, 1 instance); `
    + `the router one Node process; ${nginxNote} Load generator, server and proxy share the machine. `
    + `${timing.warmupMs} ms warm-up and ${timing.durationMs} ms measured per cell, ${rounds} interleaved round(s), median kept. `
    + `CPU columns at ${THROUGHPUT_CLIENTS} clients: cores busy in the model server, the proxy, the load generator and anything else; proxy us/req: the proxy's CPU time per request.`);
  console.log(`\n${table(['body', 'path', `p50 ms @${LATENCY_CLIENTS}`, 'added p50 ms', `req/s @${THROUGHPUT_CLIENTS}`, `p50 ms @${THROUGHPUT_CLIENTS}`, `p99 ms @${THROUGHPUT_CLIENTS}`, 'throughput cost', 'server CPU', 'proxy CPU', 'bench CPU', 'other CPU', 'proxy us/req', 'errors'], rows)}`);
  console.log(`\n## Targets\n\n${checks.map((c) => `- ${c.description} = ${c.value} (target ${c.target}) ${c.pass ? 'PASS' : 'MISS'}`).join('\n')}`);
  const failed = cells.filter((c) => c.errors > 0);
  console.log(`\n## Errors\n\n${failed.length === 0 ? 'No errors: every request was answered 200 in the requested format.' : failed.map((c) => `- ${c.path} ${c.body} @${c.clients}: ${c.errors}; ${c.errorSamples.join(' | ')}`).join('\n')}`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `router-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = { cores, cpu: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` };
  writeFileSync(file, `${JSON.stringify({ startedAt, machine, settings: { ...timing, rounds }, nginx: nginxNote, cells, checks }, null, 2)}\n`);
  console.log(`\nResults written to ${relative(process.cwd(), file)}`);
}

await main();
