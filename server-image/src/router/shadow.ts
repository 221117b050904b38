// Shadow traffic: a copy of some requests goes to the shadow version once the primary has answered; its
// answer is compared with the primary's and then thrown away. The client never waits for it: copies wait
// in a bounded queue and at most `concurrency` are in flight; when the queue is full the copy is dropped
// and counted, so a slow shadow version can never push back on the clients. The copies' memory is bounded
// in bytes too, by their own budget (apart from the clients', which copies can never take from): a copy
// holds its request, the primary's answer it will be compared with, and as much of the shadow's answer as
// has arrived, and one that does not fit is dropped. A copy of a request whose primary failed is not sent:
// there would be nothing to compare it with.
import type { IncomingHttpHeaders } from 'node:http';
import type { Comparison } from './compare.ts';
import { CompareThread } from './compare-thread.ts';
import { UpstreamError, forwardWhole, type OutgoingCall, type WholeAnswer } from './forward.ts';
import type { RouterMetrics } from './metrics.ts';
import type { Upstream } from './upstreams.ts';
import type { ByteBudget, Reservation } from '../memory/byte-budget.ts';
import type { Logger } from '../../../contract/logger.ts';

/** The primary's answer, captured while it streamed to the client. */
export interface CapturedResponse {
  status: number;
  /** Undefined when the body was not kept (over the size limit or the budget). */
  body?: Buffer;
  headers?: IncomingHttpHeaders;
}

export interface ShadowCopy {
  primary: string;
  upstream: Upstream;
  call: OutgoingCall;
  /** Settles when the primary's exchange is over; undefined when it failed (client gone, answer cut). */
  primaryAnswer: Promise<CapturedResponse | undefined>;
}

/** A copy admitted to be sent: the primary's answer it will be compared with, and the bytes it holds. */
interface AdmittedCopy extends ShadowCopy {
  answer: CapturedResponse & { body: Buffer };
  reservation: Reservation;
  /** Lets go of the shadow's upstream, whose pool stays open while a copy for it waits (upstreams.ts). */
  release(): void;
}

export interface ShadowOptions {
  queueSize: number;
  concurrency: number;
  timeoutMs: number;
  /** Largest shadow response read for comparison; a larger one is invalid. */
  maxBodyBytes: number;
  /** The bytes all copies may hold at once. */
  budget: ByteBudget;
  metrics: RouterMetrics;
  logger: Logger;
}

const headerLength = (headers: IncomingHttpHeaders | undefined) => headers?.['inference-header-content-length'] as string | undefined;

/**
 * What a shadow's answer that is not a whole 200 comes to, without decoding it: skipped when it is not a
 * 200; invalid when it was larger than any the router compares or broke off (its fault, like an undecodable
 * one). Pure.
 */
export function judgeUncompared(status: number, cut: 'over_limit' | 'broke_off' | undefined, maxBodyBytes: number): Comparison {
  if (status !== 200) return { result: 'skipped', reason: `shadow answered ${status}` };
  return { result: 'invalid', reason: cut === 'over_limit' ? `shadow answer larger than ${maxBodyBytes} bytes` : 'shadow answer broke off midway' };
}

export class ShadowMirror {
  private readonly options: ShadowOptions;
  private readonly queue: AdmittedCopy[] = [];
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private readonly comparisons = new CompareThread();

  constructor(options: ShadowOptions) {
    this.options = options;
  }

  /** Takes a copy; it is sent once its primary has answered 200, or dropped (counted). Never blocks, never throws. */
  offer(copy: ShadowCopy): void {
    if (this.stopped) return;
    // Held from now, so a table change while the primary runs cannot close the shadow's pool under the copy.
    const release = copy.upstream.acquire();
    copy.primaryAnswer
      .then((answer) => this.admit(copy, answer, release))
      .catch((error: Error) => {
        release();
        this.options.logger.error('shadow copy failed in the router', { version: copy.upstream.name, error: error.message });
      });
  }

  get pending(): number {
    return this.queue.length + this.inflight;
  }

  /** Stops taking copies, drops those queued, and resolves when those in flight are done. */
  stop(): Promise<void> {
    this.stopped = true;
    for (const copy of this.queue.splice(0)) this.drop(copy);
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private admit(copy: ShadowCopy, answer: CapturedResponse | undefined, release: () => void): void {
    const { metrics, budget, concurrency, queueSize } = this.options;
    const version = copy.upstream.name;
    if (this.stopped) return release();
    if (!answer || answer.status !== 200) {
      release();
      metrics.compared(copy.primary, version, { result: 'skipped', reason: answer ? `primary answered ${answer.status}` : 'primary failed' });
      metrics.shadowDroppedCopy(version, 'primary_failed');
      return;
    }
    const reservation = answer.body && budget.reserve(copy.call.body.length + answer.body.length);
    if (!reservation) {
      release();
      metrics.shadowDroppedCopy(version, 'queue_full');
      return;
    }
    const admitted: AdmittedCopy = { ...copy, answer: answer as AdmittedCopy['answer'], reservation, release };
    if (this.inflight < concurrency) this.run(admitted);
    else if (this.queue.length < queueSize) this.queue.push(admitted);
    else this.drop(admitted);
  }

  /** No room for an admitted copy after all (the queue is full, or the mirror stops): let it go, counted. */
  private drop(copy: AdmittedCopy): void {
    copy.reservation.release();
    copy.release();
    this.options.metrics.shadowDroppedCopy(copy.upstream.name, 'queue_full');
  }

  private run(copy: AdmittedCopy): void {
    this.inflight++;
    this.mirror(copy)
      .catch((error: Error) => this.options.logger.error('shadow copy failed in the router', { version: copy.upstream.name, error: error.message }))
      .finally(() => {
        copy.reservation.release();
        copy.release();
        this.inflight--;
        const next = this.queue.shift();
        if (next) this.run(next);
        else if (this.inflight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }

  private async mirror(copy: AdmittedCopy): Promise<void> {
    const { metrics, logger, timeoutMs, maxBodyBytes } = this.options;
    const version = copy.upstream.name;
    const started = performance.now();
    let shadow: WholeAnswer;
    try {
      shadow = await forwardWhole(copy.upstream, copy.call, timeoutMs, maxBodyBytes, copy.reservation);
      metrics.shadowAnswered(version, shadow.status, (performance.now() - started) / 1000);
    } catch (error) {
      const status = error instanceof UpstreamError ? error.status : 502;
      metrics.shadowFailed(version, status);
      logger.debug('shadow copy failed', { version, error: (error as Error).message });
      return;
    }
    if ('cut' in shadow && shadow.cut === 'over_budget') {
      // No room among the copies' bytes to read it: like a full queue, not the shadow's fault.
      metrics.shadowDroppedCopy(version, 'queue_full');
      return;
    }
    const comparison = 'cut' in shadow || shadow.status !== 200
      ? judgeUncompared(shadow.status, 'cut' in shadow ? shadow.cut : undefined, maxBodyBytes)
      : await this.comparisons.compare(
        { body: copy.answer.body, headerLength: headerLength(copy.answer.headers) },
        { body: shadow.body, headerLength: headerLength(shadow.headers) },
      );
    if (comparison.result === 'mismatch' || comparison.result === 'invalid') {
      logger.debug('shadow answer does not line up with the primary', { primary: copy.primary, shadow: version, result: comparison.result, reason: comparison.reason });
    }
    metrics.compared(copy.primary, version, comparison);
  }
}
