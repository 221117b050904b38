// CPU time from /proc, to see where a run's time went: the server process, this process, and anything else
// on the machine. The last matters on a small machine: another busy process takes cores from ONNX Runtime's
// thread pool and can cut its throughput several-fold, so a cell measured beside one is marked by it.
import { readFileSync } from 'node:fs';

/** Linux reports CPU time in /proc in clock ticks of USER_HZ, which is 100 on every mainstream kernel. */
const USER_HZ = 100;

/** User plus system CPU time of all of a process's threads so far, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself hold spaces; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** CPU time of the whole machine, all cores, spent on anything but idling or waiting for I/O, in seconds. */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) / USER_HZ;
}

/** This process's CPU time so far, in seconds (microsecond resolution, unlike /proc's ticks). */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Cores kept busy over an interval (CPU seconds over wall seconds), by whom. */
export interface CpuSplit {
  serverCores: number;
  benchCores: number;
  otherCores: number;
}

/** Starts measuring now; the function returned gives the split since then. `serverPid` 0: no server. */
export function startCpuMeter(serverPid: number): () => CpuSplit {
  const server = serverPid ? () => processCpuSeconds(serverPid) : () => 0;
  const started = { wall: performance.now(), server: server(), bench: ownCpuSeconds(), machine: machineBusySeconds() };
  return () => {
    const seconds = (performance.now() - started.wall) / 1000;
    const serverCpu = server() - started.server;
    const benchCpu = ownCpuSeconds() - started.bench;
    const machineCpu = machineBusySeconds() - started.machine;
    return {
      serverCores: serverCpu / seconds,
      benchCores: benchCpu / seconds,
      // Never below zero: the tick counts of /proc/stat and the microseconds of cpuUsage round differently.
      otherCores: Math.max(0, machineCpu - serverCpu - benchCpu) / seconds,
    };
  };
}

/**
 * Other processes busy on more cores than this during a measurement disturb it: on a small machine they take
 * the cores the measured processes share (ONNX Runtime's thread pool stalls at every operator).
 */
const DISTURBED_CORES = 0.2;
const MAX_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 3_000;

/**
 * Measures until a measurement is undisturbed (at most MAX_ATTEMPTS times, a pause between), saying so when it
 * is not; every attempt, and the one kept: the first undisturbed one, else the least disturbed.
 */
export async function leastDisturbed<T extends { otherCores: number }>(what: string, measureOnce: () => Promise<T>, log: (line: string) => void): Promise<{ kept: T; attempts: T[] }> {
  const attempts: T[] = [];
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const result = await measureOnce();
    attempts.push(result);
    if (result.otherCores <= DISTURBED_CORES) return { kept: result, attempts };
    log(`  ${what}other processes kept ${result.otherCores.toFixed(2)} cores busy`
      + (attempt < MAX_ATTEMPTS ? '; measuring again' : '; keeping the least disturbed attempt'));
    if (attempt < MAX_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  return { kept: attempts.reduce((a, b) => (b.otherCores < a.otherCores ? b : a)), attempts };
}
