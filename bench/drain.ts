// SIGTERM under keep-alive load, for the model server and for the router in front of one: the exit code,
// how long the drain took, and the outcome of every request of N clients sending back to back (answered by
// status, cut: sent but never answered, and clients whose last answer did not tell them to close).
// Not part of `make test` or `make bench`. Compares checkouts in the same run:
//
//   node bench/drain.ts [--clients 32] [--load-ms 3000] [--baseline DIR]...
//
// DIR is another checkout of the repository (e.g. `git archive main | tar -x -C /tmp/main`, node_modules linked);
// this checkout is always measured, last.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { MLP, randomRows } from '../test/models/zoo.ts';
import { modelPath } from '../test/support/model-files.ts';
import { keepAliveLoad, type LoadOutcome } from '../test/support/keep-alive-load.ts';
import { httpGet } from './server-process.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    'load-ms': { type: 'string', default: '3000' },
    baseline: { type: 'string', multiple: true, default: [] },
  },
});
const clients = Number(values.clients);
const loadMs = Number(values['load-ms']);
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: randomRows(1, MLP.features, 5)[0] }] });

interface Running {
  url: string;
  exited: Promise<number | null>;
  kill(): void;
}

async function start(checkout: string, command: 'serve' | 'route', args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [join(checkout, 'server-image/bin/modelship-server.js'), command, '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolvePort, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { message?: string; port?: number };
      if (entry.message === 'listening') resolvePort(entry.port!);
    });
    void exited.then((code) => reject(new Error(`${command} exited with ${code} before listening`)));
  });
  const url = `http://127.0.0.1:${port}`;
  // Fresh connections, so that no idle one of ours lingers into the drain.
  while ((await httpGet(port, '/v2/health/ready').catch(() => undefined))?.status !== 200) await new Promise((r) => setTimeout(r, 50));
  return { url, exited, kill: () => child.kill('SIGTERM') };
}

interface Result {
  checkout: string;
  target: 'server' | 'router';
  exitCode: number | null;
  drainMs: number;
  outcome: LoadOutcome;
}

async function sigtermUnderLoad(target: Running, inferUrl: string): Promise<{ exitCode: number | null; drainMs: number; outcome: LoadOutcome }> {
  const load = keepAliveLoad(inferUrl, body, clients);
  await new Promise((r) => setTimeout(r, loadMs));
  const signalled = performance.now();
  target.kill();
  const exitCode = await target.exited;
  const drainMs = Math.round(performance.now() - signalled);
  // Clients end when refused; any still waiting on a connection the exit left half-open are stopped.
  const stop = setTimeout(() => load.stop(), 5000);
  const outcome = await load.finished;
  clearTimeout(stop);
  return { exitCode, drainMs, outcome };
}

async function measure(checkout: string): Promise<Result[]> {
  const model = modelPath.mlp();
  const results: Result[] = [];
  const server = await start(checkout, 'serve', ['--model', model]);
  results.push({ checkout, target: 'server', ...await sigtermUnderLoad(server, `${server.url}/v2/models/mlp/infer`) });

  const upstream = await start(checkout, 'serve', ['--model', model]);
  const routes = join(mkdtempSync(join(tmpdir(), 'modelship-drain-')), 'routes.json');
  writeFileSync(routes, JSON.stringify({ versions: [{ name: '1', url: upstream.url, weight: 100 }] }));
  const router = await start(checkout, 'route', ['--routes-file', routes]);
  results.push({ checkout, target: 'router', ...await sigtermUnderLoad(router, `${router.url}/v2/models/mlp/infer`) });
  upstream.kill();
  await upstream.exited;
  return results;
}

const all: Result[] = [];
for (const checkout of [...values.baseline, here]) all.push(...await measure(resolve(checkout)));
console.log(`SIGTERM after ${loadMs} ms of ${clients} keep-alive clients sending back to back (MLP, one row per request)`);
console.log(['checkout', 'target', 'exit', 'drain ms', 'answered (by status)', 'cut', 'refused', 'last answer without close'].join(' | '));
for (const r of all) {
  const statuses = Object.entries(r.outcome.statuses).map(([status, n]) => `${status}: ${n}`).join(', ');
  console.log([r.checkout, r.target, r.exitCode, r.drainMs, statuses, r.outcome.cut, r.outcome.refused, r.outcome.notToldToClose].join(' | '));
  if (r.outcome.cutErrors.length > 0) console.log(`  cut: ${r.outcome.cutErrors.join('; ')}`);
}
process.exit(0);
