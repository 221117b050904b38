// `make bench-monitoring`: what drift monitoring and prediction logging cost the model server. The MLP at 64
// closed-loop clients, JSON and binary bodies, measured in the same run with monitoring off, with drift on
// (`--baseline`, a profile made by `modelship-server profile` from reference rows like the clients'), and
// with drift and prediction logging on (`--prediction-log` to an HTTP collector in this process, sampled at
// --sample-rate). Rounds interleave the three configurations and the median is kept; each configuration
// gets a fresh server per round; drift and logging run with their default budgets (rows and records a
// second). Prints req/s, the ratio to monitoring off (target: >= 0.95 for each) and the
// server's CPU per request, and the CPU the observers alone add per request (bench/observer-cost.ts), and
// writes bench/results/monitoring-<time>.json.
//
//   node bench/monitoring-bench.ts [--quick] [--rounds 3] [--sample-rate 0.1]
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { MLP, randomRows, writeModel } from '../test/models/zoo.ts';
import { writeJsonLines } from '../test/support/reference-data.ts';
import { leastDisturbed, machineBusySeconds, ownCpuSeconds, processCpuSeconds } from './cpu-usage.ts';
import { runClosedLoop } from './load-generator.ts';
import { BODY_KINDS, requestFactory, responseProblem, type BodyKind } from './oip-requests.ts';
import { ServerProcess } from './server-process.ts';
import { measureObserverCost, type ObserverCost } from './observer-cost.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');
const MODELSHIP_BIN = join(BENCH_DIR, '..', 'server-image', 'bin', 'modelship-server.js');
const CLIENTS = 64;
/** Throughput with drift (and with drift and logging) on, as a share of throughput with them off. */
const TARGET_RATIO = 0.95;

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' }, 'sample-rate': { type: 'string', default: '0.1' } },
});
const timing = flags.quick ? { warmupMs: 500, durationMs: 1500 } : { warmupMs: 1000, durationMs: 3000 };
const rounds = Math.max(1, Number(flags.rounds));
const sampleRate = Number(flags['sample-rate']);

type Config = 'off' | 'drift' | 'drift+log';
const CONFIGS: Config[] = ['off', 'drift', 'drift+log'];

interface Cell {
  config: Config;
  body: BodyKind;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Server CPU per answered request, in microseconds. */
  serverCpuUs: number;
  otherCores: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

async function measure(server: ServerProcess, config: Config, body: BodyKind): Promise<Cell> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const target = {
    port: server.port, path: '/v2/models/mlp/infer', agent, concurrency: CLIENTS,
    makeRequest: requestFactory('input', MLP.features, body), problem: responseProblem.bind(undefined, body),
  };
  try {
    const warmup = await runClosedLoop(target, timing.warmupMs);
    const start = { wall: performance.now(), server: processCpuSeconds(server.pid), bench: ownCpuSeconds(), machine: machineBusySeconds() };
    const load = await runClosedLoop(target, timing.durationMs);
    const seconds = (performance.now() - start.wall) / 1000;
    const serverCpu = processCpuSeconds(server.pid) - start.server;
    const other = machineBusySeconds() - start.machine - serverCpu - (ownCpuSeconds() - start.bench);
    return {
      config, body, requestsPerSec: load.requestsPerSec, p50Ms: load.p50Ms, p99Ms: load.p99Ms,
      errors: load.errors + warmup.errors, serverCpuUs: (serverCpu / (load.requests - load.errors)) * 1e6,
      otherCores: Math.max(0, other) / seconds,
    };
  } finally {
    agent.destroy();
  }
}

const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** A CloudEvents collector that takes every event and answers at once, counting them. */
async function startCollector(): Promise<{ url: string; events: () => number; close(): void }> {
  let events = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      events++;
      res.writeHead(202).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, events: () => events, close: () => server.close() };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-monitoring-bench-'));
  const collector = await startCollector();
  const cells: Cell[] = [];
  let observers: ObserverCost;
  try {
    const model = writeModel(dir, 'mlp.onnx', MLP.build());
    const baseline = join(dir, 'baseline.json');
    const profiled = spawnSync(process.execPath, [MODELSHIP_BIN, 'profile', '--model', model, '--data', writeJsonLines(join(dir, 'reference.jsonl'), 'input', randomRows(5000, MLP.features, 7)), '--out', baseline], { encoding: 'utf8' });
    if (profiled.status !== 0) throw new Error(`profile failed: ${profiled.stderr}`);
    const signature = { inputs: [{ name: 'input', datatype: 'FP32' as const, shape: [-1, MLP.features] }], outputs: [{ name: 'probabilities', datatype: 'FP32' as const, shape: [-1, MLP.classes] }], batchable: true };
    observers = await measureObserverCost(baseline, signature, MLP.features, MLP.classes, sampleRate);
    progress(`observers alone: drift +${observers.driftUs.toFixed(2)} us, logging +${observers.logUs.toFixed(2)} us, both +${observers.bothUs.toFixed(2)} us of CPU per request`);
    const args: Record<Config, string[]> = {
      off: [],
      drift: ['--baseline', baseline],
      'drift+log': ['--baseline', baseline, '--prediction-log', collector.url, '--prediction-log-sample-rate', String(sampleRate)],
    };
    for (let round = 1; round <= rounds; round++) {
      for (const config of CONFIGS) {
        const server = await ServerProcess.start(`modelship ${config}`, MODELSHIP_BIN,
          (port) => ['serve', '--model', model, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', ...args[config]], 60_000);
        try {
          for (const body of BODY_KINDS) {
            const cell = (await leastDisturbed('', () => measure(server, config, body), progress)).kept;
            progress(`round ${round} ${config} ${body}: ${cell.requestsPerSec.toFixed(0)} req/s, server ${cell.serverCpuUs.toFixed(1)} us/request, errors ${cell.errors}, other cores ${cell.otherCores.toFixed(2)}`);
            cells.push(cell);
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    collector.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const summary = BODY_KINDS.flatMap((body) => CONFIGS.map((config) => {
    const mine = cells.filter((c) => c.config === config && c.body === body);
    return {
      config, body,
      otherCores: medianOf(mine.map((c) => c.otherCores)),
      requestsPerSec: medianOf(mine.map((c) => c.requestsPerSec)),
      serverCpuUs: medianOf(mine.map((c) => c.serverCpuUs)),
      p50Ms: medianOf(mine.map((c) => c.p50Ms)),
      errors: mine.reduce((n, c) => n + c.errors, 0),
    };
  }));
  const off = (body: BodyKind) => summary.find((s) => s.config === 'off' && s.body === body)!;
  const cores = availableParallelism();
  console.log(`# modelship-server monitoring overhead, ${startedAt.toISOString()}`);
  console.log(`\n${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}; MLP at ${CLIENTS} clients; ${timing.warmupMs} ms warm-up and `
    + `${timing.durationMs} ms measured per cell; ${rounds} interleaved rounds, median kept; logging sampled at ${sampleRate} to an HTTP collector (${collector.events()} events received).\n`);
  console.log('| body | monitoring | req/s | ratio to off | server CPU us/request | p50 ms | errors | other cores |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of summary) {
    console.log(`| ${s.body} | ${s.config} | ${s.requestsPerSec.toFixed(0)} | ${(s.requestsPerSec / off(s.body).requestsPerSec).toFixed(3)} | ${s.serverCpuUs.toFixed(1)} | ${s.p50Ms.toFixed(2)} | ${s.errors} | ${s.otherCores.toFixed(2)} |`);
  }
  console.log(`\nThe observers alone (bench/observer-cost.ts, in this process, no HTTP; least CPU of 7 runs of 20,000 requests): `
    + `drift +${observers.driftUs.toFixed(2)} us, logging +${observers.logUs.toFixed(2)} us, both +${observers.bothUs.toFixed(2)} us per request, `
    + `${((observers.bothUs / off('json').serverCpuUs) * 100).toFixed(1)}% of the server's CPU per JSON request with monitoring off.`);
  console.log('\n## Target\n');
  for (const config of ['drift', 'drift+log'] as const) {
    for (const body of BODY_KINDS) {
      const on = summary.find((s) => s.config === config && s.body === body)!;
      const ratio = on.requestsPerSec / off(body).requestsPerSec;
      console.log(`- ${body}: ${config} / off = ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}): ${ratio >= TARGET_RATIO ? 'PASS' : 'MISS'}; `
        + `server CPU per request +${(on.serverCpuUs - off(body).serverCpuUs).toFixed(1)} us`);
    }
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `monitoring-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt, settings: { ...timing, rounds, sampleRate, clients: CLIENTS }, observers, cells, summary }, null, 2)}\n`);
  console.log(`\nResults written to ${relative(process.cwd(), file)}`);
}

await main();
