// A model server under test, run as a child process: started on a free loopback port, awaited until its
// readiness endpoint answers 200, its peak RSS read from /proc, and stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
// The server is told a free port, so no log line has to announce it.
import { freePort } from '../test/support/free-port.ts';

const READY_PATH = '/v2/health/ready';
const READY_POLL_MS = 100;
/** Longer than modelship's default drain timeout (30 s), so a slow drain is seen as such, not killed. */
const STOP_TIMEOUT_MS = 40_000;
const LOG_TAIL_LINES = 20;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** GET on loopback over a fresh connection (no agent), so nothing lingers to delay the server's drain. */
export function httpGet(port: number, path: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export class ServerProcess {
  readonly label: string;
  readonly port: number;
  private readonly child: ChildProcess;
  private readonly exited: Promise<Exit>;
  private readonly tail: string[] = [];
  /** Lines the server wrote to stdout or stderr; at log level warn, any line is worth a look. */
  loggedLines = 0;

  private constructor(label: string, port: number, script: string, args: string[]) {
    this.label = label;
    this.port = port;
    this.child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      stream.setEncoding('utf8');
      let partial = '';
      stream.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) this.log(line);
      });
    }
  }

  /** Starts `node script ...args(port)` and resolves once it is ready to serve. */
  static async start(label: string, script: string, args: (port: number) => string[], readyTimeoutMs: number): Promise<ServerProcess> {
    const port = await freePort();
    const server = new ServerProcess(label, port, script, args(port));
    try {
      await server.waitReady(readyTimeoutMs);
    } catch (error) {
      await server.stop();
      throw new Error(`${label} did not become ready: ${(error as Error).message}\n${server.logTail()}`);
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** False once the process has exited, by itself or by a signal. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Highest resident set size of the process so far (VmHWM), in bytes. */
  peakRssBytes(): number {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!match) throw new Error(`no VmHWM in /proc/${this.pid}/status`);
    return Number(match[1]) * 1024;
  }

  logTail(): string {
    return this.tail.map((line) => `  [${this.label}] ${line}`).join('\n');
  }

  /** SIGTERM, then waits for the exit; SIGKILL only if the server has not exited in time. */
  async stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    // Unreferenced, so a timer still pending after the exit does not hold the benchmark open.
    const timeout = sleep(STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => undefined);
    const exit = await Promise.race([this.exited, timeout]);
    if (exit) return exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  private log(line: string): void {
    if (line.trim() === '') return;
    this.loggedLines++;
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    while (performance.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`exited early (code ${this.child.exitCode}, signal ${this.child.signalCode})`);
      }
      try {
        const { status } = await httpGet(this.port, READY_PATH, 1_000);
        if (status === 200) return;
        lastProblem = `${READY_PATH} answered ${status}`;
      } catch (error) {
        lastProblem = (error as Error).message;
      }
      await sleep(READY_POLL_MS);
    }
    throw new Error(`not ready within ${timeoutMs} ms (${lastProblem})`);
  }
}
