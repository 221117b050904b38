// Abusive requests against the model server, the baseline's code and this checkout's in the same run: for
// each, the answer's status, the worst /v2/health/live latency while it is being handled (a kubelet's
// liveness probe times out after 1 s by default), and the server's RSS. Not part of `make test`; run
//   node bench/server-abuse.ts [--baseline <git ref>] [--candidate <git ref>] [--only <scenario>]
// The baseline (default: the merge base with main) and a candidate ref (default: this working tree) are
// checked out with `git archive` into temp folders.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerProcess, httpGet } from './server-process.ts';
import { MLP, identityModel, variableLengthModel, writeModel } from '../test/models/zoo.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

const { values: flags } = parseArgs({ options: { baseline: { type: 'string' }, candidate: { type: 'string' }, only: { type: 'string' } } });

const modelDir = mkdtempSync(join(tmpdir(), 'modelship-abuse-models-'));
const models = {
  mlp: writeModel(modelDir, 'mlp.onnx', MLP.build()),
  bytes: writeModel(modelDir, 'identity_BYTES.onnx', identityModel('BYTES')),
  varlen: writeModel(modelDir, 'varlen.onnx', variableLengthModel()),
};

/** A ref's tree in a temp folder (older refs have no contract/), resolving packages from this checkout. */
function checkout(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-abuse-baseline-'));
  const archive = execFileSync('git', ['-C', ROOT, 'archive', ref], { maxBuffer: 256 * MiB });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface Answer {
  status: number;
  error: string;
}

/** POST over a fresh connection; the body is written whole, the answer read whole. */
function post(port: number, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-length': String(body.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let error = '';
        try {
          error = JSON.parse(text).error ?? '';
        } catch {
          error = text.slice(0, 80);
        }
        resolve({ status: res.statusCode ?? 0, error: error.length > 120 ? `${error.slice(0, 120)}... (${error.length} chars)` : error });
      });
    });
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    req.end(body);
  });
}

// The prober runs on a thread of its own, so the load this process generates (writing hundreds of MB) does
// not count as the server's latency.
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
const { get } = require('node:http');
let done = false;
let worst = 0;
let probes = 0;
parentPort.on('message', () => (done = true));
const probe = () => new Promise((resolve) => {
  const req = get({ host: '127.0.0.1', port: workerData.port, path: '/v2/health/live', agent: false }, (res) => {
    res.on('error', resolve);
    res.on('end', resolve);
    res.resume();
  });
  req.on('error', resolve);
});
(async () => {
  while (!done) {
    const t0 = performance.now();
    await probe();
    worst = Math.max(worst, performance.now() - t0);
    probes++;
    await new Promise((r) => setTimeout(r, 10));
  }
  parentPort.postMessage({ worst, probes });
})();
`;

/** Probes /v2/health/live one after another while `work` runs; the worst latency seen. */
async function whileProbing<T>(port: number, work: () => Promise<T>): Promise<{ result: T; worstLiveMs: number; probes: number }> {
  const prober = new Worker(PROBER, { eval: true, workerData: { port } });
  const report = once(prober, 'message') as Promise<[{ worst: number; probes: number }]>;
  const result = await work();
  prober.postMessage('stop');
  const [{ worst, probes }] = await report;
  await prober.terminate();
  return { result, worstLiveMs: worst, probes };
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match![1]) / 1024);
}

function binaryRequest(header: object, binary: Buffer): { body: Buffer; headers: Record<string, string> } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, binary]), headers: { 'inference-header-content-length': String(json.length) } };
}

// The abusive requests of issue 8, defect 5 and 6.
const millionKeys = (() => {
  const parameters: Record<string, number> = {};
  for (let i = 0; i < 1_000_000; i++) parameters[`k${i}`] = i;
  return Buffer.from(JSON.stringify({ parameters, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array(16).fill(0) }] }));
})();
const eightMillionStrings = binaryRequest(
  { inputs: [{ name: 'x', datatype: 'BYTES', shape: [4_000_000, 2], parameters: { binary_data_size: 32_000_000 } }] },
  Buffer.alloc(32_000_000),
);
const jsonArray30MB = Buffer.from(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":[${'0.5,'.repeat(7_500_000)}0.5]}]}`);
// Deep where an element belongs: the baseline rendered it into its error message recursively (a 500).
const deepNesting = Buffer.from(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":[0,${'['.repeat(200_000)}${']'.repeat(200_000)}${',0'.repeat(14)}]}]}`);
const body60MB = binaryRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 60 * MiB } }] }, Buffer.alloc(60 * MiB));

interface Scenario {
  name: string;
  model: string;
  run(server: ServerProcess): Promise<Record<string, string | number>>;
}

const single = (name: string, model: string, body: Buffer, headers: Record<string, string> = {}, path = '/v2/models/m/infer'): Scenario => ({
  name,
  model,
  async run(server) {
    const { result, worstLiveMs, probes } = await whileProbing(server.port, () => post(server.port, path, body, headers));
    return { status: result.status, 'worst live ms': Math.round(worstLiveMs), probes, 'peak RSS MiB': rssMiB(server.pid, 'VmHWM'), error: result.error };
  },
});

/** Clients that send a request for a large answer (1 M FP32 as JSON, about 18 MB) three times on one connection, and never read. */
function nonReadingClients(clients: number): Scenario {
  const input = Buffer.from(Float32Array.from({ length: 1_000_000 }, (_, i) => (i % 1000) / 7).buffer);
  const { body, headers } = binaryRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1_000_000], parameters: { binary_data_size: input.length } }] }, input);
  const head = Buffer.from(`POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\ninference-header-content-length: ${headers['inference-header-content-length']}\r\n\r\n`);
  const one = Buffer.concat([head, body]);
  return {
    name: `${clients} clients that never read their answers`,
    model: models.varlen,
    async run(server) {
      const sockets: Socket[] = [];
      const before = await outcomes(server.port);
      const { worstLiveMs, probes } = await whileProbing(server.port, async () => {
        for (let i = 0; i < clients; i++) {
          const socket = connect(server.port, '127.0.0.1');
          socket.on('error', () => {});
          socket.pause(); // never read
          socket.write(Buffer.concat([one, one, one]));
          sockets.push(socket);
        }
        await sleep(15_000);
      });
      const after = await outcomes(server.port);
      const handled = [...after].map(([outcome, n]) => [outcome, n - (before.get(outcome) ?? 0)] as const).filter(([, n]) => n > 0);
      const row = {
        'RSS MiB': rssMiB(server.pid, 'VmRSS'), 'peak RSS MiB': rssMiB(server.pid, 'VmHWM'),
        [`requests handled of ${clients * 3}`]: handled.map(([o, n]) => `${n} ${o}`).join(', '), 'worst live ms': Math.round(worstLiveMs), probes,
      };
      for (const s of sockets) s.destroy();
      return row;
    },
  };
}

/** The server's inference requests so far, by outcome. */
async function outcomes(port: number): Promise<Map<string, number>> {
  const { body } = await httpGet(port, '/metrics', 120_000);
  const counts = new Map<string, number>();
  for (const line of body.split('\n')) {
    const match = /^modelship_inference_requests_total\{.*outcome="([a-z_]+)".*\} (\d+)/.exec(line);
    if (match) counts.set(match[1], (counts.get(match[1]) ?? 0) + Number(match[2]));
  }
  return counts;
}

const SCENARIOS: Scenario[] = [
  single('million-key parameters (12 MB JSON)', models.mlp, millionKeys),
  single('8 M empty BYTES strings (32 MB binary)', models.bytes, eightMillionStrings.body, eightMillionStrings.headers),
  single('30 MB JSON array', models.mlp, jsonArray30MB),
  single('200,000-deep nesting', models.mlp, deepNesting),
  {
    name: '24 concurrent 60 MB bodies',
    model: models.mlp,
    async run(server) {
      const { result, worstLiveMs, probes } = await whileProbing(server.port, () =>
        Promise.all(Array.from({ length: 24 }, () => post(server.port, '/v2/models/m/infer', body60MB.body, body60MB.headers))));
      const statuses = new Map<number, number>();
      for (const r of result) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      return { statuses: [...statuses].map(([s, n]) => `${n}x${s}`).join(' '), 'worst live ms': Math.round(worstLiveMs), probes, 'peak RSS MiB': rssMiB(server.pid, 'VmHWM') };
    },
  },
  nonReadingClients(41),
];

const baselineRef = flags.baseline ?? execFileSync('git', ['-C', ROOT, 'merge-base', 'HEAD', 'main'], { encoding: 'utf8' }).trim();
const checkouts = [checkout(baselineRef), ...(flags.candidate ? [checkout(flags.candidate)] : [])];
const builds = [
  { label: `baseline ${baselineRef.slice(0, 10)}`, script: join(checkouts[0], 'server-image/bin/modelship-server.js') },
  flags.candidate
    ? { label: flags.candidate, script: join(checkouts[1], 'server-image/bin/modelship-server.js') }
    : { label: 'this checkout', script: join(ROOT, 'server-image/bin/modelship-server.js') },
];

try {
  for (const scenario of SCENARIOS.filter((s) => !flags.only || s.name.includes(flags.only))) {
    console.log(`\n## ${scenario.name}`);
    for (const build of builds) {
      const server = await ServerProcess.start(build.label, build.script, (port) => ['serve', '--model', scenario.model, '--name', 'm', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], 60_000);
      const idle = rssMiB(server.pid, 'VmRSS');
      try {
        const row = await scenario.run(server);
        console.log(`${build.label.padEnd(22)} idle RSS ${idle} MiB  ${Object.entries(row).map(([k, v]) => `${k}: ${v}`).join('  ')}`);
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  for (const dir of checkouts) rmSync(dir, { recursive: true, force: true });
  rmSync(modelDir, { recursive: true, force: true });
}
