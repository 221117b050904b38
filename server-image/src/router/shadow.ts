// Shadow traffic: a copy of some requests goes to the shadow version after the primary has been sent; its
// answer is compared with the primary's and then thrown away. The client never waits for it: copies wait in
// a bounded queue and at most `concurrency` are in flight; when the queue is full the copy is dropped and
// counted, so a slow shadow version can never push back on the clients.
import type { IncomingHttpHeaders } from 'node:http';
import { compareResponses } from './compare.ts';
import { UpstreamError, forwardWhole, type OutgoingCall } from './forward.ts';
import type { RouterMetrics } from './metrics.ts';
import type { Upstream } from './upstreams.ts';
import type { Logger } from '../../../contract/logger.ts';

/** A response read in full (the primary's, captured while it streamed to the client, or the shadow's). */
export interface CapturedResponse {
  status: number;
  /** Undefined when the body was not kept (over the size limit, or the exchange failed midway). */
  body?: Buffer;
  headers?: IncomingHttpHeaders;
}

export interface ShadowCopy {
  primary: string;
  upstream: Upstream;
  call: OutgoingCall;
  /** Settles when the primary's answer is complete; undefined when it failed. */
  primaryAnswer: Promise<CapturedResponse | undefined>;
}

export interface ShadowOptions {
  queueSize: number;
  concurrency: number;
  timeoutMs: number;
  /** Largest shadow response read for comparison. */
  maxBodyBytes: number;
  metrics: RouterMetrics;
  logger: Logger;
}

export class ShadowMirror {
  private readonly options: ShadowOptions;
  private readonly queue: ShadowCopy[] = [];
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(options: ShadowOptions) {
    this.options = options;
  }

  /** Queues a copy, or drops it (counted) when the queue is full. Never blocks, never throws. */
  offer(copy: ShadowCopy): void {
    if (this.stopped) return;
    if (this.inflight < this.options.concurrency) {
      this.run(copy);
    } else if (this.queue.length < this.options.queueSize) {
      this.queue.push(copy);
    } else {
      this.options.metrics.shadowDroppedCopy(copy.upstream.name, 'queue_full');
    }
  }

  get pending(): number {
    return this.queue.length + this.inflight;
  }

  /** Stops taking copies, drops those queued, and resolves when those in flight are done. */
  stop(): Promise<void> {
    this.stopped = true;
    for (const copy of this.queue.splice(0)) this.options.metrics.shadowDroppedCopy(copy.upstream.name, 'queue_full');
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private run(copy: ShadowCopy): void {
    this.inflight++;
    void this.mirror(copy).finally(() => {
      this.inflight--;
      const next = this.queue.shift();
      if (next) this.run(next);
      else if (this.inflight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private async mirror(copy: ShadowCopy): Promise<void> {
    const { metrics, logger, timeoutMs, maxBodyBytes } = this.options;
    const version = copy.upstream.name;
    const release = copy.upstream.acquire();
    const started = performance.now();
    let shadow: CapturedResponse;
    try {
      shadow = await forwardWhole(copy.upstream, copy.call, timeoutMs, maxBodyBytes);
      metrics.shadowAnswered(version, shadow.status, (performance.now() - started) / 1000);
    } catch (error) {
      const status = error instanceof UpstreamError ? error.status : 502;
      metrics.shadowFailed(version, status);
      logger.debug('shadow copy failed', { version, error: (error as Error).message });
      return;
    } finally {
      release();
    }
    const primary = await copy.primaryAnswer;
    if (!primary || primary.status !== 200 || shadow.status !== 200 || !primary.body || !shadow.body) {
      metrics.compared(copy.primary, version, 'skipped');
      return;
    }
    const headerLength = (r: CapturedResponse) => r.headers?.['inference-header-content-length'] as string | undefined;
    const comparison = compareResponses(
      { body: primary.body, headerLength: headerLength(primary) },
      { body: shadow.body, headerLength: headerLength(shadow) },
    );
    if (comparison.result === 'mismatch') logger.debug('shadow answer does not line up with the primary', { primary: copy.primary, shadow: version, reason: comparison.reason });
    metrics.compared(copy.primary, version, comparison);
  }
}
