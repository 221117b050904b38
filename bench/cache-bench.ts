// `make bench-cache`: the response cache on a repeated-input workload. Closed-loop clients send one-row
// requests whose inputs follow a Zipf law over 1,000 distinct rows (a few hot inputs, a long tail), to
// modelship-server without a cache, with the in-process cache and with Redis (a real redis-server on
// loopback), all three running, measured in interleaved rounds so that the machine's other load falls on
// each alike. Prints throughput, latency, CPU per request and the hit rate in the measured windows, and each
// cache's numbers against no cache.
//
// Two models by default: WIDE (5 M multiply-adds a row, cheap once batched: the HTTP and JSON work around it
// dominate) and SLOW (200 M a row: where a cache pays).
//
//   node bench/cache-bench.ts [--models wide,slow,mlp] [--clients 16] [--seconds 3] [--zipf 1.0]
import { Agent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MLP, SLOW, WIDE, randomRows, writeModel } from '../test/models/zoo.ts';
import { startRedis } from '../test/support/redis-server.ts';
import { runClosedLoop, type LoadResult } from './load-generator.ts';
import { responseProblem, type OutgoingRequest } from './oip-requests.ts';
import { ServerProcess, httpGet } from './server-process.ts';
import { processCpuSeconds, startCpuMeter } from './cpu-usage.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const MODELSHIP_BIN = join(BENCH_DIR, '..', 'server-image', 'bin', 'modelship-server.js');
const MODELS = { mlp: { ...MLP, args: [] }, wide: { ...WIDE, args: [] }, slow: { ...SLOW, args: ['--max-batch-size', '8'] } };
type Model = (typeof MODELS)[keyof typeof MODELS];
const DISTINCT_INPUTS = 1000;
const READY_TIMEOUT_MS = 120_000;
const ROUNDS = 3;

const { values: flags } = parseArgs({
  options: {
    models: { type: 'string', default: 'wide,slow' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '3' },
    zipf: { type: 'string', default: '1.0' },
  },
});
const models = flags.models.split(',').map((name) => {
  if (!Object.hasOwn(MODELS, name)) throw new Error(`unknown model '${name}'; choose from ${Object.keys(MODELS).join(', ')}`);
  return MODELS[name as keyof typeof MODELS];
});
const clients = Number(flags.clients);
const durationMs = Number(flags.seconds) * 1000;
const zipfExponent = Number(flags.zipf);

/** Cumulative Zipf weights of ranks 1..n: P(rank k) is proportional to 1 / k^s. */
function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = total += 1 / k ** s;
  for (let i = 0; i < n; i++) cdf[i] /= total;
  return cdf;
}

/** A rank drawn from the CDF (binary search). */
function draw(cdf: Float64Array): number {
  const u = Math.random();
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The distinct requests of the workload: one JSON row each. */
const requestsOf = (model: Model): OutgoingRequest[] => randomRows(DISTINCT_INPUTS, model.features, 2026).map((row) => {
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, model.features], data: row }] }));
  return { body, headers: { 'content-type': 'application/json', 'content-length': body.length } };
});
const cdf = zipfCdf(DISTINCT_INPUTS, zipfExponent);

async function counter(port: number, name: string): Promise<number> {
  const { body } = await httpGet(port, '/metrics');
  let sum = 0;
  for (const line of body.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const COUNTERS = ['modelship_cache_hits_total', 'modelship_cache_misses_total', 'modelship_inference_rows_total', 'modelship_cache_errors_total'] as const;

interface Config {
  cache: string;
  model: Model;
  bodies: OutgoingRequest[];
  server: ServerProcess;
  agent: Agent;
  /** Another process whose CPU the configuration costs (redis-server). */
  helperPid?: () => number | undefined;
}

interface Round {
  result: LoadResult;
  hitRate: number;
  computedRows: number;
  cacheErrors: number;
  /** CPU time per answered request, the server's and its helper's, in microseconds. */
  cpuUsPerRequest: number;
  otherCores: number;
}

async function round(config: Config): Promise<Round> {
  const target = {
    port: config.server.port, path: `/v2/models/${config.model.name}/infer`, agent: config.agent, concurrency: clients,
    makeRequest: () => config.bodies[draw(cdf)],
    problem: (status: number, headers: Record<string, unknown>) => responseProblem('json', status, headers as never),
  };
  const before = await Promise.all(COUNTERS.map((n) => counter(config.server.port, n)));
  const helper = config.helperPid?.();
  const helperCpu = () => (helper ? processCpuSeconds(helper) : 0);
  const helperBefore = helperCpu();
  const cpu = startCpuMeter(config.server.pid);
  const result = await runClosedLoop(target, durationMs);
  const split = cpu();
  const helperSeconds = helperCpu() - helperBefore;
  const after = await Promise.all(COUNTERS.map((n) => counter(config.server.port, n)));
  const [hits, misses, computedRows, cacheErrors] = after.map((v, i) => v - before[i]);
  const answered = result.requests - result.errors;
  return {
    result,
    hitRate: hits + misses > 0 ? hits / (hits + misses) : 0,
    computedRows,
    cacheErrors,
    cpuUsPerRequest: ((split.serverCores * result.seconds + helperSeconds) / answered) * 1e6,
    otherCores: Math.max(0, split.otherCores - helperSeconds / result.seconds),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const line = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** Measures one model with no cache, the in-process cache and Redis, and prints its table. */
async function benchModel(model: Model, redisUrl: string, redisPid: () => number | undefined, dir: string): Promise<string[]> {
  const modelFile = writeModel(dir, `${model.name}.onnx`, model.build());
  const bodies = requestsOf(model);
  const configs: Config[] = [];
  const results = new Map<string, Round[]>();
  try {
    const start = (cache: string, args: readonly string[]) => ServerProcess.start(`modelship (${cache})`, MODELSHIP_BIN,
      (port) => ['serve', '--model', modelFile, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', ...model.args, ...args], READY_TIMEOUT_MS);
    for (const [cache, args] of [['none', []], ['memory', ['--cache', 'memory']], ['redis', ['--cache', 'redis', '--cache-redis-url', redisUrl]]] as const) {
      const server = await start(cache, args);
      configs.push({ cache, model, bodies, server, agent: new Agent({ keepAlive: true, maxSockets: clients }), ...(cache === 'redis' ? { helperPid: redisPid } : {}) });
    }
    console.log(`${model.name} (${model.features} FP32 features, JSON):`);
    for (const config of configs) await round(config);
    for (let i = 0; i < ROUNDS; i++) {
      for (const config of configs) results.set(config.cache, [...(results.get(config.cache) ?? []), await round(config)]);
    }
  } finally {
    for (const config of configs) {
      config.agent.destroy();
      await config.server.stop();
    }
  }

  const summary = configs.map(({ cache }) => {
    const rounds = results.get(cache)!;
    const pick = (f: (r: Round) => number) => median(rounds.map(f));
    return {
      cache,
      requestsPerSec: pick((r) => r.result.requestsPerSec),
      p50Ms: pick((r) => r.result.p50Ms),
      p99Ms: pick((r) => r.result.p99Ms),
      hitRate: pick((r) => r.hitRate),
      cpuUs: pick((r) => r.cpuUsPerRequest),
      otherCores: pick((r) => r.otherCores),
      computedRows: rounds.reduce((n, r) => n + r.computedRows, 0),
      cacheErrors: rounds.reduce((n, r) => n + r.cacheErrors, 0),
      errors: rounds.flatMap((r) => r.result.errorSamples.map((e) => `${model.name}, ${cache}: ${e}`)),
      failed: rounds.reduce((n, r) => n + r.result.errors, 0),
    };
  });
  const base = summary[0];
  const header = ['cache', 'req/s', 'vs none', 'p50 ms', 'p99 ms', 'hit rate', 'CPU µs/request', 'vs none', 'rows computed', 'cache errors', 'failed', 'other cores'];
  console.log([line(header), line(header.map(() => '---')), ...summary.map((r) => line([
    r.cache, r.requestsPerSec.toFixed(0), `${(r.requestsPerSec / base.requestsPerSec).toFixed(2)}x`, r.p50Ms.toFixed(2), r.p99Ms.toFixed(2),
    r.cache === 'none' ? '-' : `${(100 * r.hitRate).toFixed(1)}%`, r.cpuUs.toFixed(0), `${(r.cpuUs / base.cpuUs).toFixed(2)}x`,
    String(r.computedRows), String(r.cacheErrors), String(r.failed), r.otherCores.toFixed(2),
  ]))].join('\n') + '\n');
  return summary.flatMap((r) => r.errors);
}

const dir = mkdtempSync(join(tmpdir(), 'modelship-cache-bench-'));
const redis = await startRedis();
const errors: string[] = [];
try {
  console.log(`Zipf(s=${zipfExponent}) over ${DISTINCT_INPUTS} distinct one-row inputs, ${clients} closed-loop clients; ` +
    `${ROUNDS} interleaved rounds of ${durationMs / 1000} s per configuration after a warm-up that also fills the caches, medians kept.\n`);
  for (const model of models) errors.push(...await benchModel(model, redis.url, () => redis.pid, dir));
} finally {
  await redis.dispose();
  rmSync(dir, { recursive: true, force: true });
}
console.log('CPU µs/request: the server\'s CPU time (with Redis, redis-server\'s too) per answered request. other cores: what the rest of the machine kept busy meanwhile.');
if (errors.length > 0) {
  console.log(`\nErrors:\n${errors.join('\n')}`);
  process.exitCode = 1;
}
