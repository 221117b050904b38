// Long-running programs started by `make cluster-up` and left running after it exits: detached, output to a
// log file, pid in a file, so `make cluster-down` (another process) finds and stops them.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths, type Daemon } from './layout.ts';

function pidFile(name: Daemon): string {
  return join(paths.pids(), `${name}.pid`);
}

export function logFile(name: Daemon): string {
  return join(paths.logs(), `${name}.log`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** When the process started, in clock ticks since boot (/proc/PID/stat's 22nd field); undefined once it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is parenthesised and may hold spaces: count fields after its closing ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The daemon's pid when it runs. The pid file holds the pid and the process's start time: a pid alone goes
 * stale when the daemons were killed or the machine restarted, and another process may since hold that number
 * (a fresh machine restored from a snapshot of this cache starts its own processes at the same low pids).
 */
export function runningPid(name: Daemon): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const [pidText, started] = readFileSync(pidFile(name), 'utf8').trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  return started !== undefined && startTime(pid) === started ? pid : undefined;
}

/** Starts the daemon unless it already runs (so cluster-up is idempotent); returns its pid. */
export function startDaemon(name: Daemon, program: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const existing = runningPid(name);
  if (existing) return existing;
  mkdirSync(paths.pids(), { recursive: true });
  mkdirSync(paths.logs(), { recursive: true });
  const log = openSync(logFile(name), 'a');
  try {
    const child = spawn(program, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
    child.unref();
    writeFileSync(pidFile(name), `${child.pid} ${startTime(child.pid!) ?? ''}`);
    return child.pid!;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
export async function stopDaemon(name: Daemon, graceMs = 15_000): Promise<void> {
  const pid = runningPid(name);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(pidFile(name), { force: true });
}

/** The last lines a daemon logged, for error messages. */
export function logTail(name: Daemon, lines = 15): string {
  if (!existsSync(logFile(name))) return '(no log)';
  return readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
