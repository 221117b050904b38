// Real traffic beside a simulated cluster, for the rollout tests and the demo: kwok's pods run no
// containers, so the router and the model servers run as local processes. The router is the very program
// the operator's router Deployment runs, authenticated as the router's ServiceAccount (the Role the
// operator rendered is all it has), watching the routes ConfigMap the operator writes; `--upstream` maps
// each version to a local model server instead of its in-cluster Service.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { LocalCluster } from './local-cluster.ts';
import { freePort } from '../support/free-port.ts';
import { waitFor } from '../support/eventually.ts';

const SERVER = fileURLToPath(new URL('../../server-image/bin/modelship-server.js', import.meta.url));

export interface LocalRouter {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `modelship-server route` for a ModelDeployment once the operator has created its ServiceAccount and routes. */
export async function startLocalRouter(cluster: LocalCluster, namespace: string, name: string, upstreams: Record<string, string>, log: (line: string) => void, port?: number): Promise<LocalRouter> {
  await waitFor(`the ServiceAccount and routes of ${name}`, async () =>
    (await cluster.kubectl(['get', '-n', namespace, `serviceaccount/${name}-router`, `configmap/${name}-routes`, '-o', 'name'])).trim().split('\n').length === 2,
  { timeoutMs: 60_000, intervalMs: 200 });
  const token = (await cluster.kubectl(['create', 'token', '-n', namespace, `${name}-router`, '--duration', '1h'])).trim();
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [SERVER, 'route', '--routes-configmap', `${namespace}/${name}-routes`, '--host', '127.0.0.1', '--port', String(port),
    ...Object.entries(upstreams).flatMap(([version, upstream]) => ['--upstream', `${version}=${upstream}`])],
  { env: { ...process.env, KUBECONFIG: cluster.kubeconfigFor(`${name}-router`, token) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => log(String(d)));
  child.stderr!.on('data', (d) => log(String(d)));
  await waitFor('the router to be ready', async () => (await fetch(`${url}/v2/health/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000 });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface Answer {
  status: number;
  /** model_version of the answer: which version served it. */
  version?: string;
  at: number;
}

/** Clients sending inference requests in a loop until stopped; every answer's code and serving version. */
/**
 * `clients` loops, each sending `rowsPerRequest` rows per request, one request after another; `rows` is read
 * at every request, so replacing its contents changes what the clients send from then on.
 */
export function startClientLoad(url: string, model: string, rows: number[][], clients = 3, rowsPerRequest = 1): { answers: Answer[]; stop(): Promise<void> } {
  const answers: Answer[] = [];
  let sending = true;
  const loop = async (offset: number) => {
    for (let i = offset; sending; i++) {
      const batch = Array.from({ length: rowsPerRequest }, (_, k) => rows[(i * rowsPerRequest + k) % rows.length]);
      const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, batch[0].length], data: batch.flat() }] });
      try {
        const response = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        const json = await response.json() as { model_version?: string };
        answers.push({ status: response.status, version: json.model_version, at: Date.now() });
      } catch {
        answers.push({ status: 0, at: Date.now() });
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const loops = Array.from({ length: clients }, (_, i) => loop(i * 7));
  return {
    answers,
    async stop() {
      sending = false;
      await Promise.all(loops);
    },
  };
}
