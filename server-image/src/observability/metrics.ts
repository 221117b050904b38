// What the server measures, once, for two audiences: Prometheus (`/metrics`, histograms that aggregate
// across pods, the queue-depth gauge that autoscaling reads) and Triton's statistics extension
// (`/v2/models/{name}/stats`, which perf_analyzer reads).
//
// The statistics follow Triton's core field for field. Per successful request: `success` (its whole time),
// `queue`, `compute_input` (decoding its body, and assembling the batch it ran in), `compute_infer` (its
// batch's ONNX Runtime run) and `compute_output` (splitting its batch's outputs, and encoding its answer),
// so these five counts are always equal, and each request's phases lie within its `success` time. Per
// execution, by batch size: `batch_stats` (assembly, run and split; decoding and encoding are per request),
// `execution_count`, and `inference_count` (rows). `fail` counts every other answer, with its time.
import { SERVER_METRICS, SERVER_OUTCOMES, type ServerOutcome } from '../../../contract/metric-names.ts';
import { unhandledRejectionCount } from '../process-faults.ts';
import client from 'prom-client';
import type { BatchPhases, BatcherObserver, DropReason } from '../batching/dynamic-batcher.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

export const OUTCOMES = SERVER_OUTCOMES;
export type Outcome = ServerOutcome;

interface Duration {
  count: number;
  ns: number;
}

const duration = (): Duration => ({ count: 0, ns: 0 });
const add = (d: Duration, seconds: number) => {
  d.count++;
  d.ns += Math.round(seconds * 1e9);
};

/** Where a successful request's time went, in seconds, in the parts Triton's statistics report. */
export interface RequestPhases {
  queue: number;
  /** Decoding the request, and assembling the batch it ran in. */
  computeInput: number;
  /** Its batch's run in ONNX Runtime. */
  computeInfer: number;
  /** Splitting its batch's outputs, and encoding its answer. */
  computeOutput: number;
}

/** One execution's phases, summed per batch size. */
interface BatchSizeStats {
  computeInput: Duration;
  computeInfer: Duration;
  computeOutput: Duration;
}

export class ServerMetrics implements BatcherObserver {
  readonly registry = new client.Registry();
  private readonly requests;
  private readonly queueDepth;
  private readonly inflight;
  private readonly queueSeconds;
  private readonly computeSeconds;
  private readonly requestSeconds;
  private readonly batchSize;
  private readonly rows;
  private readonly ready;
  private readonly model: string;
  private readonly version: string;

  // Triton statistics.
  private readonly success = duration();
  private readonly fail = duration();
  private readonly queue = duration();
  private readonly computeInput = duration();
  private readonly computeInfer = duration();
  private readonly computeOutput = duration();
  private readonly perBatchSize = new Map<number, BatchSizeStats>();
  private inferenceCount = 0;
  private executionCount = 0;
  private lastInference = 0;

  constructor(model: string, version: string) {
    this.model = model;
    this.version = version;
    const labels = { model, version };
    this.registry.setDefaultLabels(labels);
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: SERVER_METRICS.inferenceRequests, help: 'Inference requests answered, by outcome', labelNames: ['outcome'], registers,
    });
    // Every outcome exists from the start at 0: Prometheus' increase() needs a sample before the first
    // request of an outcome, or a new pod's first requests (and errors) are lost to rollout analysis.
    for (const outcome of OUTCOMES) this.requests.inc({ outcome }, 0);
    this.queueDepth = new client.Gauge({
      name: SERVER_METRICS.queueDepth, help: 'Requests waiting in the batching queue (the autoscaling signal)', registers,
    });
    this.inflight = new client.Gauge({
      name: 'modelship_inflight_requests', help: 'Inference requests received and not yet answered', registers,
    });
    this.queueSeconds = new client.Histogram({
      name: 'modelship_queue_duration_seconds', help: 'Time a request waited in the queue', labelNames: ['priority'], buckets: LATENCY_BUCKETS, registers,
    });
    this.computeSeconds = new client.Histogram({
      name: 'modelship_compute_duration_seconds', help: 'Time one batch spent in ONNX Runtime, transfers to and from the worker included', buckets: LATENCY_BUCKETS, registers,
    });
    this.requestSeconds = new client.Histogram({
      name: SERVER_METRICS.requestDuration, help: 'End-to-end time of successful inference requests, body read to response written', buckets: LATENCY_BUCKETS, registers,
    });
    this.batchSize = new client.Histogram({
      name: 'modelship_batch_size', help: 'Rows per executed batch', buckets: BATCH_BUCKETS, registers,
    });
    this.rows = new client.Counter({
      name: 'modelship_inference_rows_total', help: 'Rows computed by the model', registers,
    });
    this.ready = new client.Gauge({ name: 'modelship_model_ready', help: '1 when the model is loaded, warmed and accepting requests', registers });
    new client.Counter({
      name: 'modelship_unhandled_rejections_total', help: 'Promise rejections nobody handled (bugs), logged instead of ending the process', registers,
      collect() {
        this.reset();
        this.inc(unhandledRejectionCount());
      },
    });
  }

  setReady(ready: boolean): void {
    this.ready.set(ready ? 1 : 0);
  }

  requestStarted(): void {
    this.inflight.inc();
  }

  /** A request answered: `phases` tells where a successful one's time went (absent, it computed nothing here). */
  requestFinished(outcome: Outcome, seconds: number, phases?: RequestPhases): void {
    this.inflight.dec();
    if (outcome === 'success') {
      this.requests.inc({ outcome });
      this.requestSeconds.observe(seconds);
      add(this.success, seconds);
      if (phases) {
        add(this.queue, phases.queue);
        add(this.computeInput, phases.computeInput);
        add(this.computeInfer, phases.computeInfer);
        add(this.computeOutput, phases.computeOutput);
      }
      this.lastInference = Date.now();
      return;
    }
    add(this.fail, seconds);
    // Drops inside the queue were counted when they happened (requestDropped).
    if (outcome !== 'timeout' && outcome !== 'cancelled' && outcome !== 'rejected') this.requests.inc({ outcome });
  }

  // BatcherObserver
  queueChanged(requests: number): void {
    this.queueDepth.set(requests);
  }

  requestDequeued(waitSeconds: number, priorityLevel: number): void {
    this.queueSeconds.observe({ priority: String(priorityLevel) }, waitSeconds);
  }

  requestDropped(reason: DropReason): void {
    this.requests.inc({ outcome: reason });
  }

  batchFinished(rows: number, _requests: number, phases: BatchPhases, ok: boolean): void {
    if (!ok) return;
    this.computeSeconds.observe(phases.infer);
    this.batchSize.observe(rows);
    this.rows.inc(rows);
    let perSize = this.perBatchSize.get(rows);
    if (!perSize) this.perBatchSize.set(rows, (perSize = { computeInput: duration(), computeInfer: duration(), computeOutput: duration() }));
    add(perSize.computeInput, phases.assemble);
    add(perSize.computeInfer, phases.infer);
    add(perSize.computeOutput, phases.split);
    this.inferenceCount += rows;
    this.executionCount++;
  }

  /** One entry of Triton's `model_stats`. */
  tritonStats(): object {
    const zero = duration();
    return {
      name: this.model,
      version: this.version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: this.success,
        fail: this.fail,
        queue: this.queue,
        compute_input: this.computeInput,
        compute_infer: this.computeInfer,
        compute_output: this.computeOutput,
        cache_hit: zero,
        cache_miss: zero,
      },
      batch_stats: [...this.perBatchSize.entries()]
        .sort(([a], [b]) => a - b)
        .map(([batch_size, d]) => ({ batch_size, compute_input: d.computeInput, compute_infer: d.computeInfer, compute_output: d.computeOutput })),
    };
  }
}
