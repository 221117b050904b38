// The dynamic batcher: admits requests into the bounded priority queue and forms batches for the worker
// pool. Policy, following Triton's dynamic batcher where it is good and going past it where it is not:
// - work-conserving: whenever a worker is idle and requests wait, a batch is dispatched at once, so a quiet
//   server adds no latency; batches form by themselves while the workers are busy;
// - `maxQueueDelayMs` > 0 lets an idle worker hold a partial batch for up to that long, but only while other
//   batches are in flight (when the server is quiet, waiting could never fill the batch sooner);
// - a full queue rejects at once (503) instead of growing without bound;
// - per-request timeouts and client disconnects remove requests from the queue before they are computed.
import { RequestQueue, type QueueEntry } from './request-queue.ts';
import { concatBatch, splitBatch } from './tensor-batch.ts';
import { InferenceError, badRequest, cancelled, internal, unavailable } from '../protocol/errors.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import type { Tensor } from '../protocol/datatypes.ts';

export interface BatcherOptions {
  /** Most rows in one batch; 0 runs each request on its own. */
  maxBatchSize: number;
  maxQueueDelayMs: number;
  /** Most requests waiting; 0 means unbounded. */
  maxQueueSize: number;
  /** Queue timeout for requests that name none; 0 means none. */
  defaultTimeoutMs: number;
  /** Priority levels 1 (highest) to `priorityLevels`; a request's priority 0 means `defaultPriorityLevel`. */
  priorityLevels: number;
  defaultPriorityLevel: number;
}

/** What runs batches: the worker pool, or anything else with the same contract. */
export interface BatchExecutor {
  idleCount(): number;
  busyCount(): number;
  /** Marks a worker busy synchronously, then runs the batch on it. */
  run(inputs: Tensor[], outputNames: string[]): Promise<Tensor[]>;
}

export type DropReason = 'timeout' | 'cancelled' | 'rejected';

/** Where one batch's time went, in seconds: the parts of a model execution Triton's statistics report. */
export interface BatchPhases {
  /** Concatenating its requests' inputs into one batch. */
  assemble: number;
  /** The executor's run (ONNX Runtime, transfers to and from the worker included). */
  infer: number;
  /** Splitting its outputs back to its requests. */
  split: number;
}

/** Where one request's time went in the batcher, filled in as it passes; complete once it has its outputs. */
export interface BatchTrace {
  queueSeconds: number;
  /** The phases of the batch it ran in (shared by every request of that batch). */
  batch?: BatchPhases;
}

export interface BatcherObserver {
  queueChanged(requests: number): void;
  requestDequeued(waitSeconds: number, priorityLevel: number): void;
  requestDropped(reason: DropReason): void;
  batchFinished(rows: number, requests: number, phases: BatchPhases, ok: boolean): void;
}

export interface Submission {
  result: Promise<Map<string, Tensor>>;
  /**
   * Drops the request if it is still queued; a running request's batch finishes, its result is discarded and
   * the request fails as cancelled then.
   */
  cancel(): void;
}

export class DynamicBatcher {
  private readonly queue: RequestQueue;
  private readonly options: BatcherOptions;
  private readonly executor: BatchExecutor;
  private readonly observer: BatcherObserver;
  private running = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(options: BatcherOptions, executor: BatchExecutor, observer: BatcherObserver) {
    this.options = options;
    this.executor = executor;
    this.observer = observer;
    this.queue = new RequestQueue(options.priorityLevels);
  }

  /** Requests queued or computing. */
  get pending(): number {
    return this.queue.size + this.running;
  }

  get queued(): number {
    return this.queue.size;
  }

  /** Refuses a request this batcher would refuse whatever its queue holds (a request answered from a cache included). */
  check(request: InferenceRequest): void {
    const { priorityLevels } = this.options;
    if (request.priority > priorityLevels) {
      throw badRequest(`parameter 'priority': ${request.priority} is outside the model's priority levels 1..${priorityLevels}`);
    }
  }

  /** Queues a request; `trace`, when given, is filled in with where its time goes. */
  submit(request: InferenceRequest, trace?: BatchTrace): Submission {
    const { defaultPriorityLevel, maxQueueSize, defaultTimeoutMs } = this.options;
    this.check(request);
    if (maxQueueSize > 0 && this.queue.size >= maxQueueSize) {
      this.observer.requestDropped('rejected');
      throw unavailable(`inference queue is full (max_queue_size ${maxQueueSize})`, 'rejected');
    }
    const level = (request.priority === 0 ? defaultPriorityLevel : request.priority) - 1;
    let entry!: QueueEntry;
    const result = new Promise<Map<string, Tensor>>((resolve, reject) => {
      entry = { request, level, enqueuedAt: performance.now(), state: 'queued', trace, resolve, reject };
    });
    const timeoutMs = request.timeoutUs > 0 ? request.timeoutUs / 1000 : defaultTimeoutMs;
    if (timeoutMs > 0) {
      entry.timer = setTimeout(() => {
        if (this.drop(entry, 'timeout')) entry.reject(unavailable(`request timed out after ${timeoutMs} ms in the queue`, 'timeout'));
      }, timeoutMs);
    }
    this.queue.push(entry);
    this.observer.queueChanged(this.queue.size);
    this.pump();
    return {
      result,
      cancel: () => {
        if (this.drop(entry, 'cancelled')) entry.reject(cancelled());
        else entry.state = 'done';
      },
    };
  }

  /** Resolves once nothing is queued or computing. */
  whenIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Answers every queued request with `error` (used when a drain deadline passes). */
  failQueued(error: InferenceError): void {
    for (let entry = this.queue.head(); entry; entry = this.queue.head()) {
      if (this.drop(entry, 'rejected')) entry.reject(error);
    }
    this.notifyIfIdle();
  }

  private drop(entry: QueueEntry, reason: DropReason): boolean {
    if (!this.queue.remove(entry)) return false;
    clearTimeout(entry.timer);
    this.observer.requestDropped(reason);
    this.observer.queueChanged(this.queue.size);
    this.notifyIfIdle();
    return true;
  }

  private shouldHold(head: QueueEntry): boolean {
    const { maxQueueDelayMs, maxBatchSize } = this.options;
    if (maxQueueDelayMs <= 0 || this.running === 0 || this.queue.rows >= maxBatchSize) return false;
    const waited = performance.now() - head.enqueuedAt;
    if (waited >= maxQueueDelayMs) return false;
    if (!this.delayTimer) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        this.pump();
      }, maxQueueDelayMs - waited);
    }
    return true;
  }

  private pump(): void {
    while (this.executor.idleCount() > 0 && this.queue.size > 0) {
      const head = this.queue.head()!;
      if (this.shouldHold(head)) return;
      const batch = this.queue.takeBatch(this.options.maxBatchSize);
      this.observer.queueChanged(this.queue.size);
      this.dispatch(batch);
    }
  }

  private dispatch(batch: QueueEntry[]): void {
    const now = performance.now();
    const outputNames = new Set<string>();
    for (const entry of batch) {
      clearTimeout(entry.timer);
      const waitSeconds = (now - entry.enqueuedAt) / 1000;
      this.observer.requestDequeued(waitSeconds, entry.level + 1);
      if (entry.trace) entry.trace.queueSeconds = waitSeconds;
      for (const output of entry.request.outputs) outputNames.add(output.name);
    }
    this.running += batch.length;
    const rows = batch.map((e) => e.request.rows);
    const totalRows = rows.reduce((a, b) => a + b, 0);
    let inputs: Tensor[];
    try {
      inputs = concatBatch(batch.map((e) => e.request.inputs));
    } catch (error) {
      this.finish(batch, totalRows, { assemble: (performance.now() - now) / 1000, infer: 0, split: 0 }, error);
      return;
    }
    const started = performance.now();
    const assemble = (started - now) / 1000;
    this.executor.run(inputs, [...outputNames]).then(
      (outputs) => this.finish(batch, totalRows, { assemble, infer: (performance.now() - started) / 1000, split: 0 }, undefined, outputs, rows),
      (error) => this.finish(batch, totalRows, { assemble, infer: (performance.now() - started) / 1000, split: 0 }, error),
    );
  }

  private finish(batch: QueueEntry[], totalRows: number, phases: BatchPhases, error: unknown, outputs?: Tensor[], rows?: number[]): void {
    let perRequest: Map<string, Tensor>[] | undefined;
    if (outputs && rows) {
      const splitStarted = performance.now();
      try {
        perRequest = splitBatch(outputs, rows);
      } catch (splitError) {
        error = splitError;
      }
      phases.split = (performance.now() - splitStarted) / 1000;
    }
    this.observer.batchFinished(totalRows, batch.length, phases, perRequest !== undefined);
    batch.forEach((entry, i) => {
      if (entry.trace) entry.trace.batch = phases;
      if (entry.state === 'done') {
        // Cancelled while computing: its client is gone, but whoever submitted it still learns how it ended.
        this.observer.requestDropped('cancelled');
        entry.reject(cancelled());
        return;
      }
      entry.state = 'done';
      if (perRequest) entry.resolve(perRequest[i]);
      else entry.reject(error instanceof InferenceError ? error : internal(`inference failed: ${(error as Error).message}`));
    });
    this.running -= batch.length;
    this.pump();
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.pending > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
