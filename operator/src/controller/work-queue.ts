// The reconciler's work queue, with controller-runtime's contract: keys (namespace/name) coalesce while
// waiting; a key is never processed by two workers at once (an add during processing runs it once more
// afterwards); failures retry with per-key exponential backoff, forgotten on success.

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

export class WorkQueue {
  private readonly options: WorkQueueOptions;
  private readonly handler: Handler;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added while processing: to be queued again when the current run ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopping = false;
  private idle: Array<() => void> = [];
  onError: (key: string, error: unknown, retryInMs: number) => void = () => {};

  constructor(handler: Handler, options: WorkQueueOptions) {
    this.handler = handler;
    this.options = options;
  }

  /** Keys waiting (the queue-depth metric). */
  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.stopping) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delayMs);
    this.timers.add(timer);
  }

  /** The delay the next retry of `key` would wait. */
  backoff(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** failures);
  }

  /** Stops taking keys and resolves once running handlers have finished. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
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
      this.failures.delete(key);
      if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    } catch (error) {
      const delay = this.backoff(key);
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.onError(key, error, delay);
      this.addAfter(key, delay);
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
