// The reconciler's work queue, with controller-runtime's contract: keys (namespace/name) coalesce while
// waiting; a key is never processed by two workers at once (an add during processing runs it once more
// afterwards); at most one delayed re-queue waits per key, the earliest deadline winning (client-go's
// delaying queue), so periodic resyncs never pile up however often a key is reconciled; failures retry
// with per-key exponential backoff, forgotten on success.
//
// Where this differs from client-go on purpose: there, a plain Add (a watch event) runs a key at once even
// while it waits out a failure's backoff. Here a key in backoff stays in backoff: any add before its retry
// deadline joins the pending retry instead. Otherwise a failing reconcile that causes a watch event of its
// own (a status write, an Event, an object another controller touches) retries at the speed of the API
// server and the backoff never applies. forget() ends a key's backoff early, for a change that deserves a
// fresh try at once (a new spec generation).

export interface WorkQueueOptions {
  workers: number;
  /** First retry delay; doubles per consecutive failure of the key. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface Outcome {
  /** Process the key again after this long even though it succeeded (periodic resync, polling). */
  requeueAfterMs?: number;
}

export type Handler = (key: string) => Promise<Outcome | void>;

interface Delayed {
  at: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  private readonly options: WorkQueueOptions;
  private readonly handler: Handler;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added while processing: to be queued again when the current run ends. */
  private readonly dirty = new Set<string>();
  /** Consecutive failures per key, until a success or forget(). */
  private readonly failures = new Map<string, number>();
  /** Until when a failed key waits before it may run again. */
  private readonly retryAt = new Map<string, number>();
  /** The one delayed re-queue per key. */
  private readonly delayed = new Map<string, Delayed>();
  private stopping = false;
  private idle: Array<() => void> = [];
  onError: (key: string, error: unknown, retryInMs: number) => void = () => {};

  constructor(handler: Handler, options: WorkQueueOptions) {
    this.handler = handler;
    this.options = options;
  }

  /** Keys waiting to run now (the queue-depth metric). */
  get depth(): number {
    return this.queue.length;
  }

  /** Keys with a delayed re-queue pending: never more than the keys the queue has seen. */
  get waiting(): number {
    return this.delayed.size;
  }

  add(key: string): void {
    if (this.stopping) return;
    const retry = this.retryAt.get(key);
    if (retry !== undefined && retry > Date.now()) {
      this.addAt(key, retry);
      return;
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds `key` after `delayMs`, unless a re-queue of it is already due sooner. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopping) return;
    if (delayMs <= 0) this.add(key);
    else this.addAt(key, Date.now() + delayMs);
  }

  /** The delay the next retry of `key` would wait. */
  backoff(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** failures);
  }

  /** Ends the key's backoff: its next add runs at once, and its next failure waits the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
    this.retryAt.delete(key);
  }

  /** Stops taking keys and resolves once running handlers have finished. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private addAt(key: string, at: number): void {
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, Math.max(0, at - Date.now()));
    this.delayed.set(key, { at, timer });
  }

  private pump(): void {
    while (!this.stopping && this.processing.size < this.options.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const outcome = await this.handler(key);
      this.forget(key);
      if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    } catch (error) {
      const delay = this.backoff(key);
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.retryAt.set(key, Date.now() + delay);
      this.onError(key, error, delay);
      this.addAt(key, Date.now() + delay);
    } finally {
      this.processing.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      if (this.processing.size === 0 && this.idle.length > 0) {
        for (const resolve of this.idle.splice(0)) resolve();
      }
      this.pump();
    }
  }
}
