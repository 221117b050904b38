// The router's request handling, on bare node:http like the model server's inference path (an express
// layer costs about 11 us per request on our machines; see server-image/src/http/infer-handler.ts).
//
//   GET  /v2/health/live, /v2/health/ready, /metrics, /v2/router/routes   answered by the router itself
//   POST /v2/models/{m}/infer                  a version by weight (or by the sticky header's value)
//   *    /v2/models/{m}/versions/{v}[/...]     version v, if listed (else 404)
//   *    anything else (metadata, config, ...)  the version with the most traffic
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { lingerThenClose, readBody } from '../http/body.ts';
import { InferenceError, errorKind } from '../protocol/errors.ts';
import { httpStatus } from '../http/error-status.ts';
import { clientHeaders, forward, upstreamHeaders, type OutgoingCall } from './forward.ts';
import { NO_VERSION, type RouterMetrics } from './metrics.ts';
import { chooseVersion, type RoutingState, type Snapshot } from './routing-state.ts';
import type { CapturedResponse, ShadowMirror } from './shadow.ts';
import type { Upstream } from './upstreams.ts';
import type { Logger } from '../../../contract/logger.ts';

const INFER = /^\/v2\/models\/[^/?]+\/infer(?:\?|$)/;
const EXPLICIT_VERSION = /^\/v2\/models\/[^/?]+\/versions\/([^/?]+)/;

export interface HandlerOptions {
  state: RoutingState;
  shadow: ShadowMirror;
  metrics: RouterMetrics;
  logger: Logger;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  /** What GET /v2/router/routes adds to the table: where it came from, the last refused update. */
  describeSource(): Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const WARN_INTERVAL_MS = 10_000;
const OWN_PATHS = new Set(['/v2/health/live', '/v2/health/ready', '/metrics', '/v2/router/routes']);

export function createRouterHandler(options: HandlerOptions) {
  const { state, shadow, metrics, logger, maxBodyBytes, upstreamTimeoutMs } = options;
  let draining = false;
  let inflight = 0;
  let idle: (() => void) | undefined;

  // An upstream that is down fails every request sent to it: say so in the log once per version per interval,
  // with how many failed meanwhile, rather than once per request.
  const lastWarned = new Map<string, { at: number; suppressed: number }>();
  const warnThrottled = (version: string, message: string) => {
    const now = Date.now();
    const last = lastWarned.get(version);
    if (last && now - last.at < WARN_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    logger.warn('upstream failed', { version, error: message, ...(last?.suppressed ? { similarSinceLast: last.suppressed } : {}) });
    lastWarned.set(version, { at: now, suppressed: 0 });
  };

  const own = async (res: ServerResponse, path: string): Promise<void> => {
    switch (path) {
      case '/v2/health/live':
        sendJson(res, 200, { live: true });
        return;
      case '/v2/health/ready': {
        // Ready means "has a table that sends traffic somewhere", not "every upstream answers": each version
        // has its own readiness probe and Service endpoints, and a router that went unready whenever an
        // upstream did would turn a clear 503 naming the version into connection refused for every client.
        const ready = state.current.ready && !draining;
        sendJson(res, ready ? 200 : 503, { ready });
        return;
      }
      case '/metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      default: {
        const s = state.current;
        sendJson(res, 200, {
          ...s.table,
          ready: s.ready,
          updatedAt: s.updatedAt,
          inflight: Object.fromEntries([...s.upstreams].map(([name, u]) => [name, u.requestsInFlight])),
          ...options.describeSource(),
        });
      }
    }
  };

  /**
   * Sends the buffered request to `upstream` and streams its answer back. The exchange ends at the client
   * response's 'close' (sent in full, or cut): counted and timed there, once. With `capture` the answer's
   * body is also kept (up to the body limit) for the shadow comparison.
   */
  const proxy = (res: ServerResponse, upstream: Upstream, call: OutgoingCall, started: number, capture?: (answer: CapturedResponse | undefined) => void): void => {
    const release = upstream.acquire();
    let upstreamFailed = false;
    let complete = false;
    let status = 0;
    let headers: IncomingHttpHeaders | undefined;
    let kept: Buffer[] | undefined;
    let keptBytes = 0;
    let left = -1;
    let flow: { pause(): void; resume(): void } | undefined;
    const resume = () => flow?.resume();
    const forwarding = forward(upstream, call, upstreamTimeoutMs, {
      onStart(answerStatus, answerHeaders, answerFlow) {
        status = answerStatus;
        headers = answerHeaders;
        flow = answerFlow;
        if (res.destroyed) return;
        res.writeHead(answerStatus, clientHeaders(answerHeaders));
        if (capture) kept = [];
        left = Number(answerHeaders['content-length'] ?? -1);
      },
      onData(chunk) {
        if (res.destroyed) return;
        if (kept && (keptBytes += chunk.length) <= maxBodyBytes) kept.push(chunk);
        // The last chunk of a body of known length goes out with end(): one write to the client instead of two.
        if ((left -= chunk.length) === 0) {
          res.end(chunk);
        } else if (!res.write(chunk)) {
          flow?.pause();
          res.once('drain', resume);
        }
      },
      onEnd() {
        complete = true;
        if (!res.writableEnded && !res.destroyed) res.end();
      },
      onError(error, answerStarted) {
        if (answerStarted) {
          // The upstream broke off midway: the status is sent, so all we can do is cut the client's response.
          upstreamFailed = true;
          res.destroy();
          return;
        }
        warnThrottled(upstream.name, error.message);
        if (!res.destroyed && !res.headersSent) sendJson(res, error.status, { error: error.message });
      },
    });
    res.once('close', () => {
      const sent = res.writableFinished;
      // The client went away: stop the upstream request, and with it the model's work.
      if (!sent) forwarding.abort();
      release();
      metrics.requestAnswered(upstream.name, sent ? res.statusCode : upstreamFailed ? 502 : 499, (performance.now() - started) / 1000);
      if (capture) {
        const whole = sent && (complete || left === 0) && kept !== undefined && keptBytes <= maxBodyBytes;
        capture(whole ? { status, body: Buffer.concat(kept!, keptBytes), headers } : sent ? { status: res.statusCode } : undefined);
      }
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if ((req.method === 'GET' || req.method === 'HEAD') && OWN_PATHS.has(path)) return own(res, path);

    const snapshot: Snapshot = state.current;
    const explicit = EXPLICIT_VERSION.exec(path);
    const inference = req.method === 'POST' && INFER.test(path);
    let upstream: Upstream | undefined;
    if (explicit) {
      const version = decodeSegment(explicit[1]);
      upstream = snapshot.upstreams.get(version);
      if (!upstream) {
        req.resume();
        metrics.requestRefused(NO_VERSION, 404);
        const listed = snapshot.table.versions.map((v) => v.name).join(', ') || 'none';
        sendJson(res, 404, { error: `unknown version '${version}': this router serves ${listed}` });
        return;
      }
    } else if (inference) {
      const sticky = snapshot.table.stickyHeader ? req.headers[snapshot.table.stickyHeader] : undefined;
      const version = chooseVersion(snapshot, Array.isArray(sticky) ? sticky[0] : sticky);
      upstream = version && snapshot.upstreams.get(version.name);
    } else {
      upstream = snapshot.fallback;
    }
    if (!upstream) {
      req.resume();
      metrics.requestRefused(NO_VERSION, 503);
      sendJson(res, 503, { error: 'no version of the model is ready: the route table sends traffic nowhere' });
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      const status = error instanceof InferenceError ? httpStatus(error) : 400;
      if (errorKind(error) === 'cancelled' || res.destroyed) return; // the client is gone; nobody to answer
      metrics.requestRefused(NO_VERSION, status);
      sendJson(res, status, { error: (error as Error).message });
      if (status === 413) lingerThenClose(req);
      return;
    }
    if (draining) res.setHeader('connection', 'close');
    const call: OutgoingCall = { method: req.method ?? 'GET', path: url, headers: upstreamHeaders(req.headers, body.length, upstream.hostHeader), body };

    // Shadow copies: inference routed by weight only (an explicit version is a deliberate choice), never to
    // the version that answers, and sent right after the primary so they cannot delay it.
    const mirror = inference && !explicit ? snapshot.shadow : undefined;
    if (mirror === undefined || mirror.upstream === upstream || Math.random() * 100 >= mirror.percent) {
      proxy(res, upstream, call, started);
      return;
    }
    let answered!: (answer: CapturedResponse | undefined) => void;
    const primaryAnswer = new Promise<CapturedResponse | undefined>((resolve) => (answered = resolve));
    proxy(res, upstream, call, started, answered);
    shadow.offer({ primary: upstream.name, upstream: mirror.upstream, call: { ...call, headers: { ...call.headers, host: mirror.upstream.hostHeader } }, primaryAnswer });
  };

  return {
    handle(req: IncomingMessage, res: ServerResponse): void {
      // Every response ends in 'close' (sent or cut): the one place a request stops being in flight.
      inflight++;
      res.once('close', () => {
        inflight--;
        if (inflight === 0 && idle) idle();
      });
      route(req, res).catch((error: Error) => {
        // A fault of the router itself: answer 500 if still possible, never crash.
        logger.error('request failed', { url: req.url, error: error.message });
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: `router fault: ${error.message}` });
        else res.destroy();
      });
    },
    /** Answers the requests already received (readiness turns false); resolves when none are left. */
    drain(): Promise<void> {
      draining = true;
      if (inflight === 0) return Promise.resolve();
      return new Promise((resolve) => (idle = resolve));
    },
    get inflight(): number {
      return inflight;
    },
  };
}
