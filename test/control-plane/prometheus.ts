// A real Prometheus (built by kube-binaries.ts) on a loopback port, scraping local model servers as a
// cluster's Prometheus scrapes their pods: a static job whose targets carry the labels that Kubernetes
// service discovery and relabeling would give them (namespace="ml"). Storage in a temp dir, removed on stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrometheus } from '../../cluster/upstream-binaries.ts';
import { freePort } from '../support/free-port.ts';
import { waitFor } from '../support/eventually.ts';

export interface PrometheusOptions {
  /** host:port of each server whose /metrics is scraped. */
  targets: string[];
  /** Labels every target's series get. */
  labels?: Record<string, string>;
  /** More targets, with labels of their own (another pod's, say). */
  groups?: Array<{ targets: string[]; labels: Record<string, string> }>;
  scrapeIntervalSeconds?: number;
}

export interface LocalPrometheus {
  url: string;
  child: ChildProcess;
  /** What Prometheus has logged so far (for failure messages). */
  logs(): string;
  /** An instant query's vector (or scalar), as Prometheus answers it: [{ metric, value: [seconds, "value"] }]. */
  query(promql: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** A range query's matrix from `start` to `end` (ms since the epoch) every `stepSeconds`, as Grafana asks for a panel. */
  queryRange(promql: string, start: number, end: number, stepSeconds: number): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<LocalPrometheus> {
  const binary = ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-prometheus-'));
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  // JSON is YAML: the config as Prometheus reads it.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval },
    scrape_configs: [{
      job_name: 'modelship-servers',
      static_configs: [{ targets: options.targets, labels: options.labels ?? {} }, ...(options.groups ?? [])],
    }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const child = spawn(binary, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d) => (output += d));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;

  const prometheus: LocalPrometheus = {
    url,
    child,
    logs: () => output,
    async query(promql, time) {
      const query = new URL('/api/v1/query', url);
      query.searchParams.set('query', promql);
      if (time !== undefined) query.searchParams.set('time', String(time / 1000));
      const body = await (await fetch(query)).json() as { status: string; error?: string; data: { resultType: string; result: any } };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
      return body.data.resultType === 'scalar' ? [{ metric: {}, value: body.data.result }] : body.data.result;
    },
    async queryRange(promql, start, end, stepSeconds) {
      const query = new URL('/api/v1/query_range', url);
      for (const [name, value] of Object.entries({ query: promql, start: String(start / 1000), end: String(end / 1000), step: String(stepSeconds) })) query.searchParams.set(name, value);
      const body = await (await fetch(query)).json() as { status: string; error?: string; data: { result: any } };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
      return body.data.result;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.race([
      waitFor('Prometheus to be ready', async () => (await fetch(`${url}/-/ready`)).status === 200, { timeoutMs: 30_000, context: () => output }),
      exited.then(([code]) => Promise.reject(new Error(`Prometheus exited with ${code} before it was ready:\n${output}`))),
    ]);
  } catch (error) {
    await prometheus.stop();
    throw error;
  }
  return prometheus;
}
