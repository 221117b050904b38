// The CPU the monitoring observers add to one request, measured in this process without HTTP: the drift
// monitor (copy before compute, binning after) and the prediction logger (sampling, copy, queue, the
// CloudEvents serialization its sink does) run on the MLP's request shape, against a loop with no observer.
// Less disturbed by other processes than a throughput ratio on a small shared machine, since it is CPU time
// of one thread doing only this.
import { readFileSync } from 'node:fs';
import { DriftMonitor } from '../server-image/src/monitoring/drift-monitor.ts';
import { parseBaseline } from '../server-image/src/monitoring/baseline.ts';
import { PredictionLogger } from '../server-image/src/monitoring/prediction-log.ts';
import { cloudEvents } from '../server-image/src/monitoring/log-sinks.ts';
import type { InferenceObserver } from '../server-image/src/serving/inference.ts';
import type { InferenceRequest } from '../server-image/src/protocol/request.ts';
import type { Tensor } from '../server-image/src/protocol/datatypes.ts';
import type { ModelSignature } from '../server-image/src/model/signature.ts';

const REQUESTS = 20_000;
const REPEATS = 7;

export interface ObserverCost {
  /** Added CPU per request, in microseconds, by configuration. */
  driftUs: number;
  logUs: number;
  bothUs: number;
}

function request(features: number): InferenceRequest {
  const data = Float32Array.from({ length: features }, () => Math.random() * 2 - 1);
  return { parameters: {}, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, features], data }], outputs: [{ name: 'probabilities', binary: false }], rows: 1, priority: 0, timeoutUs: 0, batchKey: String(features) };
}

/** CPU microseconds per request of `observers` on REQUESTS requests, the least of REPEATS runs. */
async function cpuPerRequest(observers: InferenceObserver[], requests: InferenceRequest[], outputs: Map<string, Tensor>): Promise<number> {
  let best = Infinity;
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    const start = process.cpuUsage();
    for (const r of requests) {
      const kept = observers.map((o) => o.started?.(r));
      for (let i = 0; i < observers.length; i++) observers[i].finished?.(r, outputs, undefined, 0, kept[i]);
    }
    // The binning and the sink's serialization run on later turns, as in the server.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / requests.length);
  }
  return best;
}

export async function measureObserverCost(baselinePath: string, signature: ModelSignature, features: number, classes: number, sampleRate: number): Promise<ObserverCost> {
  const baseline = parseBaseline(readFileSync(baselinePath, 'utf8'));
  const sink = {
    async send(records: Parameters<typeof cloudEvents>[0][]) {
      for (const record of records) for (const event of cloudEvents(record)) void event.body.length;
      return 0;
    },
  };
  const drift = new DriftMonitor(baseline, signature, { windowSeconds: 300, minRows: 100, sampleRate: 1 });
  const log = new PredictionLogger('mlp', '1', { sampleRate, inputElements: 1024, queueSize: 100_000, queueBytes: 1 << 30 }, sink);
  const requests = Array.from({ length: REQUESTS }, () => request(features));
  const outputs = new Map([['probabilities', { name: 'probabilities', datatype: 'FP32' as const, shape: [1, classes], data: new Float32Array(classes).fill(1 / classes) }]]);
  const none = await cpuPerRequest([], requests, outputs);
  return {
    driftUs: (await cpuPerRequest([drift], requests, outputs)) - none,
    logUs: (await cpuPerRequest([log], requests, outputs)) - none,
    bothUs: (await cpuPerRequest([drift, log], requests, outputs)) - none,
  };
}
