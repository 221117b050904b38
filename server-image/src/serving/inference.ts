// The server's one inference entry point, independent of any protocol: decoded tensors, a cancellation and
// the request's options in; outputs or a domain error (InferenceError) out. Every frontend (the HTTP
// handler now, gRPC later) calls it, and every feature that watches inference (prediction monitoring, a
// response cache, audit logging) plugs in once, as an observer, instead of once per frontend.
import { InferenceError, cancelled, internal, unavailable } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import type { ModelHost } from './model-host.ts';
import type { ResponseCache } from '../cache/response-cache.ts';
import type { ServedModel } from './served-model.ts';
import type { BatchTrace } from '../batching/dynamic-batcher.ts';

export type Outputs = Map<string, Tensor>;

/** Watches every request that reaches the core. Called synchronously: an observer must be quick and must not throw. */
export interface InferenceObserver {
  /**
   * The request is about to be queued. What this returns is handed back to finished(): what the observer
   * kept of the request then (its input buffers move to a model worker once it is queued), without a map.
   */
  started?(request: InferenceRequest): unknown;
  /** It has its outputs (`error` undefined) or failed (`outputs` undefined), `seconds` after it started. */
  finished?(request: InferenceRequest, outputs: Outputs | undefined, error: InferenceError | undefined, seconds: number, kept: unknown): void;
}

const NOTHING_KEPT: unknown[] = [];

/**
 * How a frontend tells the core that its client went away: a queued request is dropped before it is
 * computed. (An AbortController would do, at about 2 us a request on the hot path; this costs one object.)
 */
export class Cancellation {
  private handler: (() => void) | undefined;
  private done = false;

  get cancelled(): boolean {
    return this.done;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.handler?.();
  }

  /** The core's side: what to do on cancel (at once if it already happened). */
  onCancel(handler: () => void): void {
    this.handler = handler;
    if (this.done) handler();
  }
}

export class InferenceCore {
  private readonly host: ModelHost;
  private readonly observers: InferenceObserver[] = [];
  private cache: ResponseCache | undefined;

  constructor(host: ModelHost) {
    this.host = host;
  }

  /** Adds an observer of every request from now on. */
  observe(observer: InferenceObserver): void {
    this.observers.push(observer);
  }

  /** Answers repeated rows from `cache` from now on; only the rows it has not seen are computed. */
  useCache(cache: ResponseCache): void {
    this.cache = cache;
  }

  /**
   * The model that takes inference now, or the domain error saying why none does. Frontends ask before
   * reading a body (its signature decodes the request); infer() asks again, as the model may be gone since.
   */
  servingModel(): ServedModel {
    const model = this.host.model;
    if (!this.host.serving || !model) throw unavailable(this.host.unavailableMessage());
    return model;
  }

  /** `trace`, when given, is filled in with where the request's time went in the batcher (for statistics). */
  async infer(request: InferenceRequest, cancellation?: Cancellation, trace?: BatchTrace): Promise<Outputs> {
    const model = this.servingModel();
    if (cancellation?.cancelled) throw cancelled();
    const observers = this.observers;
    const started = observers.length > 0 ? performance.now() : 0;
    const kept = observers.length > 0 ? observers.map((o) => o.started?.(request)) : NOTHING_KEPT;
    try {
      if (this.cache) model.batcher.check(request);
      // With a cache, the trace follows the rows it did not have (none when every row was a hit).
      const outputs = this.cache
        ? await this.cache.infer(model.signature, request, (rows) => compute(model, rows, cancellation, trace), cancellation)
        : await compute(model, request, cancellation, trace);
      for (let i = 0; i < observers.length; i++) observers[i].finished?.(request, outputs, undefined, (performance.now() - started) / 1000, kept[i]);
      return outputs;
    } catch (error) {
      const failure = error instanceof InferenceError ? error : internal(`inference failed: ${(error as Error)?.message ?? error}`);
      for (let i = 0; i < observers.length; i++) observers[i].finished?.(request, undefined, failure, (performance.now() - started) / 1000, kept[i]);
      throw failure;
    }
  }
}

/** A request through the model's batcher, dropped from its queue if cancelled before it is computed. */
function compute(model: ServedModel, request: InferenceRequest, cancellation: Cancellation | undefined, trace?: BatchTrace): Promise<Outputs> {
  const submission = model.batcher.submit(request, trace);
  cancellation?.onCancel(() => submission.cancel());
  return submission.result;
}
