// Prediction logging: a sampled share of successful requests is recorded with its inputs (cut to a number of
// elements, or left out), its outputs, the model version and the request id, so labels can be joined to
// predictions later. Recording never slows or fails inference: the observer only copies what it samples
// (within a budget of records a second) into a queue bounded in records and in bytes, and a separate loop hands the queue to the sink (stdout or
// an HTTP collector, log-sinks.ts). A full queue drops the record and counts it; a sink that fails has its
// records counted as dropped and is left alone for a while (exponential backoff) before the next try.
import { randomUUID } from 'node:crypto';
import { numberAt, numericView } from './values.ts';
import { RateBudget } from './rate-budget.ts';
import type { InferenceObserver, Outputs } from '../serving/inference.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import type { InferenceError } from '../protocol/errors.ts';
import type { Datatype, Tensor } from '../protocol/datatypes.ts';
import type { PredictionLogDropReason } from '../../../contract/metric-names.ts';

/** A tensor as JSON: the Open Inference Protocol's tensor object, its data flat and perhaps cut short. */
export interface LoggedTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: Array<number | string>;
  /** Present when `data` holds fewer elements than the shape: the full count. */
  parameters?: { modelship_truncated_from: number };
}

export interface PredictionRecord {
  /** The request's id, or one made up for it. */
  id: string;
  time: string;
  model: string;
  version: string;
  inputs: LoggedTensor[];
  outputs: LoggedTensor[];
}

export interface PredictionSink {
  /** Sends records; resolves to how many of them were refused or failed (0: all sent). */
  send(records: PredictionRecord[]): Promise<number>;
}

export interface PredictionLogSettings {
  sampleRate: number;
  /** Most records a second (0: no limit): a fixed CPU budget for the sink's work at any request rate. */
  maxPerSecond?: number;
  /** Most elements written per input tensor (0: inputs left out). */
  inputElements: number;
  queueSize: number;
  queueBytes: number;
}

/** Records handed to the sink at once. */
const SEND_BATCH = 32;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** What a logged number is reckoned to take in the queue (the JS value and its JSON); a string, twice its length more. */
const BYTES_PER_ELEMENT = 24;
const BYTES_PER_TENSOR = 128;

function snapshot(tensor: Tensor, limit: number): LoggedTensor {
  const total = tensor.data.length;
  const count = Math.min(total, limit);
  const data = new Array<number | string>(count);
  if (Array.isArray(tensor.data)) {
    for (let i = 0; i < count; i++) data[i] = tensor.data[i];
  } else {
    const view = numericView(tensor);
    for (let i = 0; i < count; i++) data[i] = numberAt(view, i);
  }
  const logged: LoggedTensor = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data };
  if (count < total) logged.parameters = { modelship_truncated_from: total };
  return logged;
}

function sizeOf(tensors: LoggedTensor[]): number {
  let bytes = 0;
  for (const t of tensors) {
    bytes += BYTES_PER_TENSOR + t.data.length * BYTES_PER_ELEMENT;
    if (t.datatype === 'BYTES') for (const s of t.data as string[]) bytes += 2 * s.length;
  }
  return bytes;
}

export class PredictionLogger implements InferenceObserver {
  private readonly settings: PredictionLogSettings;
  private readonly sink: PredictionSink;
  private readonly model: string;
  private readonly version: string;
  private readonly random: () => number;
  private queue: Array<{ record: PredictionRecord; bytes: number }> = [];
  queuedBytes = 0;
  sent = 0;
  readonly dropped: Record<PredictionLogDropReason, number> = { queue_full: 0, sink_error: 0, budget: 0 };
  private draining = false;
  private backoffMs = 0;
  private readonly budget: RateBudget;

  constructor(model: string, version: string, settings: PredictionLogSettings, sink: PredictionSink, random: () => number = Math.random, now: () => number = Date.now) {
    this.model = model;
    this.version = version;
    this.settings = settings;
    this.sink = sink;
    this.random = random;
    this.budget = new RateBudget(settings.maxPerSecond ?? 0, now);
  }

  get queuedRecords(): number {
    return this.queue.length;
  }

  // InferenceObserver: the inputs are copied now, before their buffers move to a model worker.
  started(request: InferenceRequest): LoggedTensor[] | undefined {
    if (this.random() >= this.settings.sampleRate) return undefined;
    if (!this.budget.take(1)) {
      this.dropped.budget++;
      return undefined;
    }
    const limit = this.settings.inputElements;
    return limit === 0 ? [] : request.inputs.map((t) => snapshot(t, limit));
  }

  finished(request: InferenceRequest, outputs: Outputs | undefined, _error: InferenceError | undefined, _seconds: number, kept: unknown): void {
    const inputs = kept as LoggedTensor[] | undefined;
    if (inputs === undefined || !outputs) return;
    const logged = request.outputs.map(({ name }) => snapshot(outputs.get(name)!, Infinity));
    const bytes = sizeOf(inputs) + sizeOf(logged);
    if (this.queue.length >= this.settings.queueSize || this.queuedBytes + bytes > this.settings.queueBytes) {
      this.dropped.queue_full++;
      return;
    }
    const record = { id: request.id ?? randomUUID(), time: new Date().toISOString(), model: this.model, version: this.version, inputs, outputs: logged };
    this.queue.push({ record, bytes });
    this.queuedBytes += bytes;
    if (!this.draining) void this.drain();
  }

  /** Hands the queue to the sink until it is empty; one loop at a time. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        if (this.backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, this.backoffMs).unref());
        const batch = this.queue.splice(0, SEND_BATCH);
        for (const entry of batch) this.queuedBytes -= entry.bytes;
        let failed: number;
        try {
          failed = await this.sink.send(batch.map((e) => e.record));
        } catch {
          failed = batch.length;
        }
        this.sent += batch.length - failed;
        this.dropped.sink_error += failed;
        this.backoffMs = failed > 0 ? Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2)) : 0;
      }
    } finally {
      this.draining = false;
    }
  }

  /** Resolves once every queued record has been handed to the sink, or after `timeoutMs` (shutdown). */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ((this.queue.length > 0 || this.draining) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
