// `make bench`: modelship-server against the naive express + onnxruntime-node server and against the
// in-process limit, on the MLP and WIDE models, at 1, 8 and 64 closed-loop clients, with JSON bodies and
// with binary tensors. Prints markdown tables and the targets, and writes bench/results/server-<time>.json.
//
//   node bench/server-bench.ts [--quick] [--models mlp,wide]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MLP, WIDE, writeModel } from '../test/models/zoo.ts';
import { meanBatchSize, scrapeBatchTotals } from './batch-metrics.ts';
import { leastDisturbed, startCpuMeter } from './cpu-usage.ts';
import { measureInProcessLimit } from './in-process-limit.ts';
import { runClosedLoop } from './load-generator.ts';
import { BODY_KINDS, requestFactory, responseProblem, type BodyKind } from './oip-requests.ts';
import { checksList, errorsList, limitsTable, runsTable } from './report.ts';
import { checkTargets, type LimitRecord, type RunRecord, type ServerKind } from './results.ts';
import { ServerProcess, type Exit } from './server-process.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');
const MODELSHIP_BIN = join(BENCH_DIR, '..', 'server-image', 'bin', 'modelship-server.js');
const NAIVE_SCRIPT = join(BENCH_DIR, 'naive-server.ts');

const MODELS = { mlp: MLP, wide: WIDE };
type ModelName = keyof typeof MODELS;
/** Both models take their features as 'input', FP32 [batch, features]. */
const INPUT_NAME = 'input';
const CONCURRENCIES = [1, 8, 64];
const LIMIT_BATCH_SIZES = [1, 8, 32, 64, 128];
/** Loading WIDE and warming it up at every batch size up to 64 takes seconds; this only bounds a hung start. */
const READY_TIMEOUT_MS = 120_000;
const MiB = 1024 * 1024;
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    models: { type: 'string', default: 'mlp,wide' },
  },
});
const timing = flags.quick
  ? { warmupMs: 500, durationMs: 1500, limitBudgetMs: 300 }
  : { warmupMs: 1000, durationMs: 3000, limitBudgetMs: 1000 };
const modelNames = flags.models.split(',').map((name) => {
  if (!Object.hasOwn(MODELS, name)) throw new Error(`unknown model '${name}'; choose from ${Object.keys(MODELS).join(', ')}`);
  return name as ModelName;
});
// modelship-server's default with one instance: every core to the one session. The naive server and the
// in-process limit get the same, so all three compute with the same threads.
const intraOpThreads = availableParallelism();

interface ServerUnderTest {
  kind: ServerKind;
  script: string;
  args(modelPath: string, port: number): string[];
}

const SERVERS: ServerUnderTest[] = [
  {
    kind: 'naive',
    script: NAIVE_SCRIPT,
    args: (model, port) => ['--model', model, '--port', String(port), '--host', '127.0.0.1', '--intra-op-threads', String(intraOpThreads)],
  },
  {
    kind: 'modelship',
    script: MODELSHIP_BIN,
    // Default settings; only the log level (no info lines) and the loopback address are set.
    args: (model, port) => ['serve', '--model', model, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'],
  },
];

interface ServerRecord {
  server: ServerKind;
  model: string;
  peakRssMiB: number;
  exit: Exit;
  loggedLines: number;
  logTail: string;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** What one measurement of a cell gives; attempts and peak RSS are known only later. */
type Measurement = Omit<RunRecord, 'attempts' | 'peakRssMiB'>;

/** One (server, model, body, concurrency) cell: warm-up, then the measured run. */
async function measure(server: ServerProcess, kind: ServerKind, model: ModelName, body: BodyKind, concurrency: number): Promise<Measurement> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const target = {
    port: server.port,
    path: `/v2/models/${model}/infer`,
    agent,
    concurrency,
    makeRequest: requestFactory(INPUT_NAME, MODELS[model].features, body),
    problem: responseProblem.bind(undefined, body),
  };
  try {
    const warmup = await runClosedLoop(target, timing.warmupMs);
    const batchesBefore = kind === 'modelship' ? await scrapeBatchTotals(server.port) : undefined;
    const cpu = startCpuMeter(server.pid);
    const load = await runClosedLoop(target, timing.durationMs);
    const cpuSplit = cpu();
    const meanBatch = batchesBefore ? meanBatchSize(batchesBefore, await scrapeBatchTotals(server.port)) : 1;
    return {
      server: kind,
      model,
      body,
      concurrency,
      ...load,
      errors: load.errors + warmup.errors,
      errorSamples: [...new Set([...warmup.errorSamples, ...load.errorSamples])],
      meanBatchSize: meanBatch,
      ...cpuSplit,
    };
  } finally {
    agent.destroy();
  }
}

/** A fresh server process per model, so its peak RSS is that model's. */
async function benchServer(spec: ServerUnderTest, model: ModelName, modelPath: string): Promise<{ runs: RunRecord[]; record: ServerRecord }> {
  const server = await ServerProcess.start(`${spec.kind} ${model}`, spec.script, (port) => spec.args(modelPath, port), READY_TIMEOUT_MS);
  const cells: Omit<RunRecord, 'peakRssMiB'>[] = [];
  let peakRssMiB = NaN;
  let exit: Exit;
  try {
    for (const body of BODY_KINDS) {
      for (const concurrency of CONCURRENCIES) {
        const what = `${model} ${spec.kind} ${body} @${concurrency}`;
        const { kept, attempts } = await leastDisturbed(`${what}: `, () => measure(server, spec.kind, model, body, concurrency), progress);
        // Errors count whichever attempt they happened in.
        const cell = {
          ...kept,
          attempts: attempts.length,
          errors: attempts.reduce((sum, a) => sum + a.errors, 0),
          errorSamples: [...new Set(attempts.flatMap((a) => a.errorSamples))],
        };
        progress(`  ${what}: ${cell.requestsPerSec.toFixed(0)} req/s, p50 ${cell.p50Ms.toFixed(2)} ms, `
          + `p99 ${cell.p99Ms.toFixed(2)} ms, batch ${cell.meanBatchSize.toFixed(1)}, errors ${cell.errors}`);
        cells.push(cell);
      }
    }
    peakRssMiB = server.peakRssBytes() / MiB;
  } finally {
    exit = await server.stop();
  }
  const runs = cells.map((cell) => ({ ...cell, peakRssMiB }));
  return { runs, record: { server: spec.kind, model, peakRssMiB, exit, loggedLines: server.loggedLines, logTail: server.logTail() } };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const modelDir = mkdtempSync(join(tmpdir(), 'modelship-bench-'));
  const limits: LimitRecord[] = [];
  const runs: RunRecord[] = [];
  const servers: ServerRecord[] = [];
  try {
    const paths = new Map(modelNames.map((name) => [name, writeModel(modelDir, `${name}.onnx`, MODELS[name].build())]));

    // Before any server starts, so nothing else competes for the cores.
    for (const name of modelNames) {
      progress(`in-process limit: ${name}`);
      const { kept, attempts } = await leastDisturbed(`${name} in-process limit: `, async () => {
        const cpu = startCpuMeter(0);
        const limit = await measureInProcessLimit({
          modelPath: paths.get(name)!, inputName: INPUT_NAME, features: MODELS[name].features,
          intraOpThreads, batchSizes: LIMIT_BATCH_SIZES, budgetMs: timing.limitBudgetMs,
        });
        return { model: name, ...limit, otherCores: cpu().otherCores };
      }, progress);
      limits.push({ ...kept, attempts: attempts.length });
    }
    for (const name of modelNames) {
      for (const spec of SERVERS) {
        progress(`${spec.kind} server: ${name}`);
        const result = await benchServer(spec, name, paths.get(name)!);
        runs.push(...result.runs);
        servers.push(result.record);
      }
    }
  } finally {
    rmSync(modelDir, { recursive: true, force: true });
  }

  const checks = checkTargets(runs, limits, BODY_KINDS);
  const cores = availableParallelism();
  console.log(`# modelship-server benchmark, ${startedAt.toISOString()}`);
  console.log(`\n${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, intra-op threads ${intraOpThreads}; `
    + `${timing.warmupMs} ms warm-up and ${timing.durationMs} ms measured per cell; CPU columns: cores busy (of ${cores}) in the server, in this process (the clients) and in anything else.`);
  console.log(`\n## In-process limit (InferenceSession.run back to back)\n\n${limitsTable(limits)}`);
  console.log(`\n## Servers\n\n${runsTable(runs)}`);
  console.log(`\n## Targets\n\n${checksList(checks)}`);
  console.log(`\n## Errors\n\n${errorsList(runs)}`);
  for (const s of servers) {
    if (s.exit.code !== 0) console.log(`\n${s.server} server (${s.model}) exited with code ${s.exit.code}, signal ${s.exit.signal}`);
    if (s.loggedLines > 0) console.log(`\n${s.server} server (${s.model}) logged ${s.loggedLines} lines; the last ones:\n${s.logTail}`);
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `server-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = { cores, cpu: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` };
  const settings = { ...timing, intraOpThreads, concurrencies: CONCURRENCIES, models: modelNames, limitBatchSizes: LIMIT_BATCH_SIZES };
  writeFileSync(file, `${JSON.stringify({ startedAt, machine, settings, limits, runs, servers, checks }, null, 2)}\n`);
  console.log(`\nResults written to ${relative(process.cwd(), file)}`);
}

await main();
