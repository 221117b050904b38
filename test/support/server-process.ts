// Starts the real model server as a child process on a loopback port, exactly as a container would run
// it, and offers small HTTP helpers for the tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const SERVER_BIN = fileURLToPath(new URL('../../server-image/bin/modelship-server.js', import.meta.url));

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** JSON log lines seen so far. */
  logs: Array<Record<string, unknown>>;
  /** Waits until GET /v2/health/ready answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export function runServerCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SERVER_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

export async function startServer(args: string[], options: { waitReady?: boolean; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  return startProgram('serve', args, options);
}

/** Starts `modelship-server <command> ...args` on a free loopback port; resolves once it listens (and, unless told not to, is ready). */
export async function startProgram(command: 'serve' | 'route', args: string[], options: { waitReady?: boolean; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_BIN, command, '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.message === 'listening') resolve(entry.port as number);
    });
    void exited.then((code) => reject(new Error(`modelship-server ${command} exited with ${code} before listening: ${stderr}${JSON.stringify(logs)}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    url,
    port,
    child,
    logs,
    exited,
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const res = await fetch(`${url}/v2/health/ready`).catch(() => undefined);
        if (res?.status === 200) return;
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${JSON.stringify(logs)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('server did not become ready');
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  if (options.waitReady !== false) await server.ready();
  return server;
}

export interface JsonResponse {
  status: number;
  body: any;
  headers: Headers;
}

export async function getJson(url: string): Promise<JsonResponse> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function postJson(url: string, body: unknown, signal?: AbortSignal): Promise<JsonResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Reads one sample of a Prometheus metric (summing every series whose labels include `labels`). */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
