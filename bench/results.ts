// What one benchmark run records, and the targets modelship-server is held to, checked against it.
import type { BodyKind } from './oip-requests.ts';
import type { LimitResult } from './in-process-limit.ts';
import type { CpuSplit } from './cpu-usage.ts';

export type ServerKind = 'naive' | 'modelship';

export interface RunRecord extends CpuSplit {
  server: ServerKind;
  model: string;
  body: BodyKind;
  concurrency: number;
  requests: number;
  /** Requests that failed, in the warm-ups and in every attempt. */
  errors: number;
  errorSamples: string[];
  seconds: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Rows per executed batch; 1 for the naive server, which runs every request alone. */
  meanBatchSize: number;
  /** Measurements made, the disturbed ones included; the record is of the last, or the least disturbed. */
  attempts: number;
  /** Peak RSS of the server process over all its runs on this model. */
  peakRssMiB: number;
}

export interface LimitRecord extends LimitResult {
  model: string;
  /** Cores kept busy by other processes while the limit was measured; the limit is understated when they were. */
  otherCores: number;
  attempts: number;
}

export interface TargetCheck {
  description: string;
  value: number;
  unit: string;
  target: string;
  pass: boolean;
}

const THROUGHPUT_CLIENTS = 64;
const LATENCY_CLIENTS = 1;

/**
 * The targets, for each body kind and for the models that were run: at 64 clients, WIDE served at >= 0.6
 * of the in-process limit and >= 3x the naive server, MLP at >= 2x the naive server; at 1 client,
 * batching costs at most 1 ms of median latency over the naive server.
 */
export function checkTargets(runs: RunRecord[], limits: LimitRecord[], bodies: readonly BodyKind[]): TargetCheck[] {
  const find = (server: ServerKind, model: string, body: BodyKind, concurrency: number) =>
    runs.find((r) => r.server === server && r.model === model && r.body === body && r.concurrency === concurrency);
  const checks: TargetCheck[] = [];
  const ratio = (description: string, value: number, min: number) =>
    checks.push({ description, value, unit: 'x', target: `>= ${min}`, pass: value >= min });

  for (const body of bodies) {
    const wide = find('modelship', 'wide', body, THROUGHPUT_CLIENTS);
    const wideNaive = find('naive', 'wide', body, THROUGHPUT_CLIENTS);
    const wideLimit = limits.find((l) => l.model === 'wide');
    if (wide && wideLimit) {
      ratio(`WIDE ${body} @${THROUGHPUT_CLIENTS} clients: modelship / in-process limit`, wide.requestsPerSec / wideLimit.samplesPerSec, 0.6);
    }
    if (wide && wideNaive) {
      ratio(`WIDE ${body} @${THROUGHPUT_CLIENTS} clients: modelship / naive`, wide.requestsPerSec / wideNaive.requestsPerSec, 3);
    }
    const mlp = find('modelship', 'mlp', body, THROUGHPUT_CLIENTS);
    const mlpNaive = find('naive', 'mlp', body, THROUGHPUT_CLIENTS);
    if (mlp && mlpNaive) {
      ratio(`MLP ${body} @${THROUGHPUT_CLIENTS} clients: modelship / naive`, mlp.requestsPerSec / mlpNaive.requestsPerSec, 2);
    }
    for (const model of ['mlp', 'wide']) {
      const ours = find('modelship', model, body, LATENCY_CLIENTS);
      const naive = find('naive', model, body, LATENCY_CLIENTS);
      if (!ours || !naive) continue;
      const difference = ours.p50Ms - naive.p50Ms;
      checks.push({
        description: `${model.toUpperCase()} ${body} @${LATENCY_CLIENTS} client: p50 modelship - naive`,
        value: difference,
        unit: 'ms',
        target: '<= 1 ms',
        pass: difference <= 1,
      });
    }
  }
  return checks;
}
