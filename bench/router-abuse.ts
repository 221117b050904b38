// The router's state after a hostile shadow version, for a baseline (by default `main`, unpacked with
// `git archive` into a temp folder) and this working tree, in the same run on the same machine. Not part of
// `make test` or `make bench`: a measurement for the record of the hardening it checks.
//
// Scenarios, each on a fresh router per tree, the primary a real model server (an identity model):
//   short-fp32  the shadow answers 200 with a binary FP32 output of 3 bytes
//   deep        the shadow answers 200 with JSON `data` nested 200,000 levels deep
//   endless     the shadow answers 200 with a body that never ends (the router's CPU over 5 s shows reading)
//   big-json    the shadow answers 200 with 35 MB of JSON numbers: decoding it must not hold the event loop
//   large       72 requests of 18 MB (valid JSON padded with spaces), 8 at a time, to a shadow that never
//               answers: the bytes the router holds afterwards
// After each: is the router alive, did the clients get the primary's answers, the slowest answer to
// GET /v2/health/live polled meanwhile, its RSS now and at peak, the bytes it says it holds, its open
// sockets, its CPU time since the first request, and its counters. Prints a markdown table.
//
//   node bench/router-abuse.ts [--baseline main]
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { writeModel } from '../test/models/zoo.ts';
import { HOSTILE_ANSWERS } from '../test/support/hostile-answers.ts';
import { GraphBuilder } from '../test/models/onnx-builder.ts';
import { processCpuSeconds } from './cpu-usage.ts';
import { ServerProcess, httpGet } from './server-process.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({ options: { baseline: { type: 'string', default: 'main' } } });
const LARGE_REQUESTS = 72;
const LARGE_BYTES = 18 * 1024 * 1024;
const LARGE_CLIENTS = 8;
/** A 2 GiB pod's budget as this tree derives it (half the limit); the baseline has no such setting. */
const POD_LIMIT_BYTES = 2 * 1024 ** 3;

type Scenario = 'short-fp32' | 'deep' | 'endless' | 'big-json' | 'large';
const SCENARIOS: Scenario[] = ['short-fp32', 'deep', 'endless', 'big-json', 'large'];
const BIG_JSON_ROWS = 4 * 1024 * 1024 / 4;

const progress = (line: string) => process.stderr.write(`${line}\n`);

// ---- The trees ----

function unpackBaseline(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-router-abuse-'));
  execFileSync('bash', ['-c', `git -C ${JSON.stringify(ROOT)} archive ${JSON.stringify(ref)} | tar -x -C ${JSON.stringify(dir)}`]);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

// ---- Upstreams: a real model server, and the hostile shadow in this process ----

/** y = x over FP32 [batch, 4]: its answer to a small request is small, whatever padding the request carries. */
function identityModel(): Uint8Array {
  return new GraphBuilder('identity').input('input', 'FP32', ['batch', 4]).node('Identity', ['input'], ['scores']).output('scores', 'FP32', ['batch', 4]).toBytes();
}

const ANSWERS: Record<Exclude<Scenario, 'large'>, (res: ServerResponse) => void> = {
  ...HOSTILE_ANSWERS,
  'big-json': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(bigJson());
  },
};

let bigJsonText: string | undefined;
/** An answer of 4 Mi FP32 numbers, about 35 MB of JSON (under the body limit, so it is decoded), built once. */
function bigJson(): string {
  bigJsonText ??= JSON.stringify({ model_name: 'scores', outputs: [{ name: 'scores', datatype: 'FP32', shape: [BIG_JSON_ROWS, 4], data: Array.from({ length: BIG_JSON_ROWS * 4 }, (_, i) => (i % 1000) / 8) }] });
  return bigJsonText;
}

/**
 * Polls GET /v2/health/live every 10 ms from a thread of its own (this thread is busy serving the hostile
 * shadow and sending large bodies); stop() resolves to the slowest answer, in ms.
 */
function liveProbe(port: number): { stop(): Promise<number> } {
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const { get } = require('node:http');
    let worst = 0;
    let running = true;
    parentPort.on('message', () => { running = false; });
    const once = () => new Promise((resolve) => {
      const started = performance.now();
      const done = () => { worst = Math.max(worst, performance.now() - started); resolve(); };
      get({ host: '127.0.0.1', port: workerData.port, path: '/v2/health/live', agent: false }, (res) => { res.resume(); res.on('end', done); }).on('error', done);
    });
    (async () => {
      while (running) {
        await once();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      parentPort.postMessage(worst);
    })();
  `, { eval: true, workerData: { port } });
  return {
    async stop() {
      worker.postMessage('stop');
      const [worst] = await once(worker, 'message');
      await worker.terminate();
      return worst as number;
    },
  };
}

async function hostileShadow(scenario: Scenario): Promise<{ url: string; close(): void }> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    // The large scenario's shadow reads every copy and never answers.
    if (scenario !== 'large') req.on('end', () => ANSWERS[scenario](res));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

// ---- Measuring a router ----

function rssBytes(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

function openSockets(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed meanwhile
    }
  }
  return sockets;
}

function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function post(port: number, body: Buffer | string, agent: Agent): Promise<{ status: number; version?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/models/scores/infer', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let version: string | undefined;
        try {
          version = JSON.parse(Buffer.concat(chunks).toString()).model_version;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, version });
      });
    });
    req.setTimeout(60_000, () => req.destroy());
    req.on('error', () => resolve({ status: 0 }));
    req.end(body);
  });
}

interface Row {
  tree: string;
  scenario: Scenario;
  alive: boolean;
  /** Client answers by status (the primary's 200s, or failures). */
  answers: string;
  /** The slowest answer to GET /v2/health/live, polled every 10 ms from the first request on. */
  worstLiveMs: number;
  rssMiB: number;
  peakRssMiB: number;
  sockets: number;
  /** Bytes the router says it holds (its budget gauges; absent before them). */
  heldMiB: number;
  routerCpuSeconds: number;
  invalid: number;
  mismatch: number;
  dropped: number;
  unhandled: number;
}

const SMALL = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] });

async function run(tree: string, label: string, scenario: Scenario, primaryUrl: string, extraArgs: string[]): Promise<Row> {
  const shadow = await hostileShadow(scenario);
  const routesDir = mkdtempSync(join(tmpdir(), 'modelship-router-abuse-routes-'));
  const routes = join(routesDir, 'routes.json');
  writeFileSync(routes, JSON.stringify({ versions: [{ name: 'bad', url: shadow.url, weight: 0 }, { name: 'v1', url: primaryUrl, weight: 100 }], shadow: { version: 'bad', percent: 100 } }));
  const router = await ServerProcess.start(`${label} router`, join(tree, 'server-image', 'bin', 'modelship-server.js'),
    (port) => ['route', '--routes-file', routes, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...extraArgs], 20_000);
  const agent = new Agent({ keepAlive: true, maxSockets: LARGE_CLIENTS });
  const statuses = new Map<string, number>();
  const count = (a: { status: number; version?: string }) => {
    const key = a.status === 200 ? `200 from ${a.version}` : String(a.status);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  };
  const cpuBefore = processCpuSeconds(router.pid);
  // The event loop's responsiveness meanwhile, as a liveness probe sees it.
  const probe = liveProbe(router.port);
  let worstLiveMs = NaN;
  try {
    if (scenario === 'large') {
      const body = Buffer.from(SMALL + ' '.repeat(LARGE_BYTES - SMALL.length));
      let next = 0;
      await Promise.all(Array.from({ length: LARGE_CLIENTS }, async () => {
        while (next < LARGE_REQUESTS) {
          next++;
          count(await post(router.port, body, agent));
        }
      }));
    } else {
      count(await post(router.port, SMALL, agent));
    }
    // Time for what follows the answer: the shadow copy, its comparison, a crash or endless reading.
    await sleep(5_000);
    if (router.alive) count(await post(router.port, SMALL, agent));
  } finally {
    agent.destroy();
    worstLiveMs = await probe.stop();
  }
  const cpu = router.alive ? processCpuSeconds(router.pid) - cpuBefore : NaN;
  const alive = router.alive;
  const rss = alive ? rssBytes(router.pid) : { now: NaN, peak: NaN };
  const metrics = alive ? (await httpGet(router.port, '/metrics').catch(() => ({ body: '' }))).body : '';
  const row: Row = {
    tree: label,
    scenario,
    alive,
    answers: [...statuses].map(([k, n]) => `${n}x ${k}`).join(', '),
    worstLiveMs,
    rssMiB: rss.now / 2 ** 20,
    peakRssMiB: rss.peak / 2 ** 20,
    sockets: alive ? openSockets(router.pid) : NaN,
    heldMiB: metrics.includes('modelship_router_shadow_bytes') ? (counter(metrics, 'modelship_router_inflight_bytes') + counter(metrics, 'modelship_router_shadow_bytes')) / 2 ** 20 : NaN,
    routerCpuSeconds: cpu,
    invalid: counter(metrics, 'modelship_router_shadow_comparisons_total', { result: 'invalid' }),
    mismatch: counter(metrics, 'modelship_router_shadow_comparisons_total', { result: 'mismatch' }),
    dropped: counter(metrics, 'modelship_router_shadow_dropped_total'),
    unhandled: counter(metrics, 'modelship_router_unhandled_rejections_total'),
  };
  await router.stop();
  shadow.close();
  rmSync(routesDir, { recursive: true, force: true });
  return row;
}

async function main(): Promise<void> {
  const baseline = unpackBaseline(flags.baseline!);
  const modelDir = mkdtempSync(join(tmpdir(), 'modelship-router-abuse-model-'));
  const model = writeModel(modelDir, 'identity.onnx', identityModel());
  const primary = await ServerProcess.start('primary', join(ROOT, 'server-image', 'bin', 'modelship-server.js'),
    (port) => ['serve', '--model', model, '--name', 'scores', '--version', 'v1', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], 60_000);
  const rows: Row[] = [];
  bigJson();
  try {
    for (const scenario of SCENARIOS) {
      for (const [tree, label, extra] of [[baseline, flags.baseline!, []], [ROOT, 'this tree', ['--max-inflight-bytes', String(POD_LIMIT_BYTES / 2)]]] as const) {
        progress(`${scenario} on ${label}...`);
        rows.push(await run(tree, label, scenario, `http://127.0.0.1:${primary.port}`, [...extra]));
      }
    }
  } finally {
    await primary.stop();
    rmSync(baseline, { recursive: true, force: true });
    rmSync(modelDir, { recursive: true, force: true });
  }
  const fmt = (n: number, digits = 0) => (Number.isNaN(n) ? '-' : n.toFixed(digits));
  console.log('| scenario | tree | alive | client answers | worst live ms | RSS MiB | peak RSS MiB | held MiB | sockets | router CPU s | invalid | mismatch | dropped | unhandled |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.tree} | ${r.alive ? 'yes' : 'no'} | ${r.answers} | ${fmt(r.worstLiveMs)} | ${fmt(r.rssMiB)} | ${fmt(r.peakRssMiB)} | ${fmt(r.heldMiB)} | ${fmt(r.sockets)} | ${fmt(r.routerCpuSeconds, 2)} | ${r.invalid} | ${r.mismatch} | ${r.dropped} | ${r.unhandled} |`);
  }
}

await main();
