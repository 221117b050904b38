// What the demo and the end-to-end tests do on the real local cluster, as plain steps: the example
// ModelDeployments made to run here, the router's ClusterIP, the HPA's replica history, a rollout's timeline.
// The demo prints them; the tests assert on them.
import { readFileSync, readdirSync } from 'node:fs';
import { Agent, fetch } from 'undici';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { kubectl, kubectlAsync, type ModelStore, type Tools } from './install.ts';
import { EXAMPLE_BASELINE } from '../examples/models/reference-data.ts';
import { columnDrift, type ColumnDrift } from '../operator/src/monitoring/drift-judgement.ts';
import { scrapeText } from '../operator/src/monitoring/scrape.ts';
import { SERVER_PORT } from '../contract/ports.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/modeldeployments/', import.meta.url));

/** Which example model each example ModelDeployment serves here (the embedder takes the wide model). */
export const EXAMPLE_MODELS: Record<string, string> = { embedder: 'wide.onnx' };
const DEFAULT_MODEL = 'mlp.onnx';
type Mdep = { metadata: { name: string; namespace?: string }; spec: Record<string, any> };

/**
 * The examples as this node runs them: each model from the in-cluster store with its real sha256, and CPU
 * requests cut to fit two cores (a 2-CPU request would leave nothing to schedule beside it). Everything
 * else (scaling, GPU placement, rollout policy) is as the example says.
 */
export function localExamples(store: ModelStore, namespace: string): Mdep[] {
  return readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort().map((file) => {
    const mdep = parse(readFileSync(`${EXAMPLES}${file}`, 'utf8')) as Mdep;
    const model = EXAMPLE_MODELS[mdep.metadata.name] ?? DEFAULT_MODEL;
    mdep.metadata.namespace = namespace;
    mdep.spec.model = { ...mdep.spec.model, uri: store.url(model), sha256: store.sha256(model) };
    if (mdep.spec.monitoring?.baseline) mdep.spec.monitoring.baseline = { uri: store.url(EXAMPLE_BASELINE), sha256: store.sha256(EXAMPLE_BASELINE) };
    mdep.spec.resources = { ...mdep.spec.resources, requests: { ...mdep.spec.resources?.requests, cpu: '50m', memory: '128Mi' } };
    return mdep;
  });
}

/**
 * Secrets the examples refer to. The Redis cache example's password: no Redis runs in the local cluster, so
 * its pods serve without the cache (Redis down means no cache, never a failed request).
 */
export function exampleSecrets(namespace: string): unknown[] {
  return [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis-auth', namespace }, stringData: { password: 'local-demo' } }];
}

export function apply(tools: Tools, objects: unknown[]): string {
  return kubectl(tools, ['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

/** The ClusterIP of the ModelDeployment's Service (its router), which kube-proxy answers on from the host. */
export function serviceUrl(tools: Tools, namespace: string, service: string): string {
  const ip = kubectl(tools, ['get', 'service', '-n', namespace, service, '-o', 'jsonpath={.spec.clusterIP}']).trim();
  return `http://${ip}`;
}

export interface RowAnswer {
  status: number;
  version?: string;
  /** The first output's data, when the answer was one. */
  data?: number[];
  /** Who answered and what, for messages: the router, a model server, or (no Service rule yet) no one of ours. */
  text: string;
}

/**
 * One FP32 row (input "input") to the model at `url`; a failed connection is status 0, never a throw. One
 * request on a connection of its own. A connection opened to a ClusterIP before kube-proxy has written
 * the Service's rules goes wherever the host's default route leads (on our machines, an intercepting proxy
 * that answers 404), and a kept-alive connection would keep every later request there too: each attempt of
 * waitUntilServing must get a new connection, which the rules then catch.
 */
export async function inferRow(url: string, model: string, row: number[]): Promise<RowAnswer> {
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, row.length], data: row }] });
  const connection = new Agent();
  try {
    const response = await fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000), dispatcher: connection,
    });
    const text = await response.text();
    let answer: { model_version?: string; outputs?: Array<{ data: number[] }> } = {};
    try {
      answer = JSON.parse(text);
    } catch {
      // Not ours, or not JSON: the text says what it was.
    }
    return {
      status: response.status, version: answer.model_version, data: answer.outputs?.[0]?.data,
      text: `HTTP ${response.status} server=${response.headers.get('server') ?? '-'} via=${response.headers.get('via') ?? '-'} ${text.slice(0, 200)}`,
    };
  } catch (error) {
    return { status: 0, text: `no answer: ${(error as Error).cause ?? (error as Error).message}` };
  } finally {
    await connection.destroy();
  }
}

/**
 * Waits until the model answers through its Service from this host. A ModelDeployment is Ready once its
 * pods are; kube-proxy programs the Service's endpoints a moment later, and until then a ClusterIP refuses.
 */
export async function waitUntilServing(url: string, model: string, row: number[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await inferRow(url, model, row);
    if (last.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${model} did not answer through ${url} within ${timeoutMs / 1000} s; last: ${last.text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface HpaSample {
  at: number;
  current: number;
  desired: number;
  /** The queue depth per pod the HPA last read, when it has one. */
  metric?: string;
}

/** Samples an HPA's replica counts every interval until stopped (without blocking the clients beside it). */
export function watchHpa(tools: Tools, namespace: string, name: string, intervalMs = 2000): { samples: HpaSample[]; stop(): void } {
  const samples: HpaSample[] = [];
  const started = Date.now();
  let reading = false;
  const sample = async () => {
    if (reading) return;
    reading = true;
    try {
      const hpa = JSON.parse(await kubectlAsync(tools, ['get', 'hpa', '-n', namespace, name, '-o', 'json']));
      const metric = hpa.status?.currentMetrics?.[0]?.pods?.current?.averageValue;
      samples.push({ at: Date.now() - started, current: hpa.status?.currentReplicas ?? 0, desired: hpa.status?.desiredReplicas ?? 0, metric });
    } catch {
      // A failed read is a gap in the history, not a failure of the scenario.
    } finally {
      reading = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), intervalMs);
  return { samples, stop: () => clearInterval(timer) };
}

/** The history as a user reads it: one line per change of replicas. */
export function replicaHistory(samples: HpaSample[]): string[] {
  const lines: string[] = [];
  let last = '';
  for (const s of samples) {
    const key = `${s.current}/${s.desired}`;
    if (key === last) continue;
    last = key;
    lines.push(`+${(s.at / 1000).toFixed(0).padStart(4)}s  replicas ${s.current} (desired ${s.desired})${s.metric ? `  queue depth per pod ${s.metric}` : ''}`);
  }
  return lines;
}

export async function rolloutStatus(tools: Tools, namespace: string, name: string): Promise<Record<string, any>> {
  return JSON.parse(await kubectlAsync(tools, ['get', '-n', namespace, 'mdep', name, '-o', 'json'])).status?.rollout ?? {};
}

/** Polls the rollout, calling `onChange` with each new (phase, weight, message), until `done` says so. */
export async function followRollout(tools: Tools, namespace: string, name: string, done: (rollout: Record<string, any>) => boolean,
  onChange: (line: string, rollout: Record<string, any>) => void, timeoutMs = 300_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let first: string | undefined;
  for (;;) {
    const rollout = await rolloutStatus(tools, namespace, name);
    const line = `${(rollout.phase ?? '').padEnd(11)} weight ${String(rollout.canaryWeight ?? 0).padStart(3)}%${rollout.shadowPercent ? ` shadow ${rollout.shadowPercent}%` : ''}  ${rollout.message ?? ''}`;
    if (line !== last) {
      onChange(line, rollout);
      last = line;
    }
    // The status before the patch took effect (the previous rollout's end) is not this rollout's end.
    first ??= line;
    if (done(rollout)) return rollout;
    // A finished rollout that is not the awaited one will not change by itself.
    if (['Succeeded', 'RolledBack'].includes(rollout.phase) && line !== first) throw new Error(`the rollout of ${namespace}/${name} ended otherwise: ${line}`);
    if (Date.now() > deadline) throw new Error(`the rollout of ${namespace}/${name} did not finish in ${timeoutMs / 1000} s; last: ${line}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface DriftView {
  /** The Drifting condition as the operator wrote it, if it has. */
  condition?: { status: string; reason: string; message: string };
  /** Each column's PSI, worst first, as the model-server pods report it (read from the host by pod IP). */
  columns: ColumnDrift[];
}

/** What the operator says of a ModelDeployment's drift, and the numbers its pods report. */
export async function driftView(tools: Tools, namespace: string, name: string): Promise<DriftView> {
  const mdep = JSON.parse(await kubectlAsync(tools, ['get', 'mdep', '-n', namespace, name, '-o', 'json']));
  const condition = (mdep.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Drifting');
  const ips = (await kubectlAsync(tools, ['get', 'pods', '-n', namespace, '-l', `app.kubernetes.io/name=modelship-server,app.kubernetes.io/instance=${name}`,
    '--field-selector', 'status.phase=Running', '-o', 'jsonpath={.items[*].status.podIP}'])).trim().split(/\s+/).filter(Boolean);
  // A pod that cannot be read now (restarting) adds nothing; the others' numbers stand.
  const texts = await Promise.all(ips.map((ip) => scrapeText(`http://${ip}:${SERVER_PORT}/metrics`).catch(() => '')));
  return { condition, columns: columnDrift(texts) };
}

/** One line of a drift timeline: the worst columns' PSI and the condition, as the demos print them. */
export function describeDrift(view: DriftView): string {
  const worst = view.columns.slice(0, 3).map((c) => `${c.column ?? c.side} ${c.psi.toFixed(2)}`).join(', ') || 'not enough rows yet';
  return `PSI ${worst}  |  Drifting ${view.condition ? `${view.condition.status} ${view.condition.reason}` : '(not yet)'}`;
}
