// The router as a child process on a loopback port (`modelship-server route`, as its Deployment runs it),
// the model servers behind it, the route files it watches, and a small keep-alive client for the tests.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProgram, type ServerProcess } from '../support/server-process.ts';
import { GraphBuilder } from '../models/onnx-builder.ts';
import { MLP, buildMlp, type DenseLayer } from '../models/zoo.ts';
import { randomFloats } from '../models/onnx-builder.ts';

export const routesDir = mkdtempSync(join(tmpdir(), 'modelship-router-test-'));

export type RouterProcess = ServerProcess;

/** Starts `modelship-server route ...args` on a free loopback port; resolves once it listens. */
export function startRouter(args: string[], env: Record<string, string> = {}): Promise<RouterProcess> {
  return startProgram('route', args, { env, waitReady: false });
}

let fileCounter = 0;

/** Writes a route table as a new file (or replaces `path` atomically, as a ConfigMap volume or an editor does). */
export function writeRoutes(table: unknown, path = join(routesDir, `routes-${++fileCounter}.json`)): string {
  const temporary = `${path}.${++fileCounter}.tmp`;
  writeFileSync(temporary, typeof table === 'string' ? table : JSON.stringify(table));
  renameSync(temporary, path);
  return path;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A keep-alive client: the way services call a model, and the way connection reuse gets exercised. */
export function client(maxSockets = 16) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const send = (url: string, options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers: options.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(options.body);
    });
  return {
    send,
    /** POSTs a JSON body; answers with the parsed JSON (or the text when it is not JSON). */
    async postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Answer['headers'] }> {
      const answer = await send(url, { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
      const text = answer.body.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { status: answer.status, body: parsed, headers: answer.headers };
    },
    close: () => agent.destroy(),
  };
}

/** An infer request of the given rows of FP32 input 'input'. */
export const inferBody = (rows: number[][], features = rows[0].length) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, features], data: rows.flat() }],
});

/** Prometheus text: the sum of every sample of `name` whose labels include `labels`. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The router's own view of its table (GET /v2/router/routes). */
export async function routesOf(router: { url: string }): Promise<any> {
  return (await fetch(`${router.url}/v2/router/routes`)).json();
}

export async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Successful inferences a model server has answered (its own count, independent of the router's). */
export async function upstreamSuccesses(serverUrl: string): Promise<number> {
  return sampleSum(await scrape(serverUrl), 'modelship_inference_requests_total', { outcome: 'success' });
}

// ---- Models that differ from each other in known ways ----

/** `y = x + offset` over FP32 [batch, 4], 'input' -> `output`: with offset 0 an identity. */
export function offsetModel(offset: number, output = 'scores'): Uint8Array {
  return new GraphBuilder('offset')
    .input('input', 'FP32', ['batch', 4])
    .constant('offset', [], new Float32Array([offset]))
    .node('Add', ['input', 'offset'], [output])
    .output(output, 'FP32', ['batch', 4])
    .toBytes();
}

/** The zoo's MLP layers with the last layer's weights moved by seeded noise of the given scale. */
export function perturbedMlpLayers(scale: number, seed: number): DenseLayer[] {
  return MLP.layers.map((layer, i) => {
    if (i < MLP.layers.length - 1) return layer;
    const noise = randomFloats(layer.weights.length, seed, scale);
    return { ...layer, weights: layer.weights.map((w, k) => w + noise[k]) };
  });
}

/** An MLP classifier of the given layers, named 'mlp', with the zoo MLP's input and output. */
export function mlpModel(layers: DenseLayer[]): Uint8Array {
  return buildMlp('mlp', layers, 'probabilities', true);
}
