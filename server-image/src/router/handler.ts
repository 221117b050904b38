// The router's request handling, on bare node:http like the model server's inference path (an express
// layer costs about 11 us per request on our machines; see server-image/src/http/infer-handler.ts).
// Which version a request goes to, and the `route` label it is counted under, follow from its method and
// target (request-target.ts). Every request first passes the loop check (hops.ts), and its body is held in
// the router's byte budget (http/body.ts, as the server's) while it is in flight.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { lingerThenClose, readBody } from '../http/body.ts';
import { errorKind } from '../protocol/errors.ts';
import { httpStatus } from '../http/error-status.ts';
import type { ByteBudget, Reservation } from '../memory/byte-budget.ts';
import type { RouterRoute } from '../../../contract/metric-names.ts';
import { excerpt } from '../excerpt.ts';
import { clientHeaders, forward, upstreamHeaders, type OutgoingCall } from './forward.ts';
import { nextHop } from './hops.ts';
import type { RouterMetrics } from './metrics.ts';
import { requestTarget, routeLabel } from './request-target.ts';
import { chooseVersion, type RoutingState, type Snapshot } from './routing-state.ts';
import type { CapturedResponse, ShadowMirror } from './shadow.ts';
import type { Upstream } from './upstreams.ts';
import type { Logger } from '../../../contract/logger.ts';

export interface HandlerOptions {
  state: RoutingState;
  shadow: ShadowMirror;
  metrics: RouterMetrics;
  logger: Logger;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  /** Bytes of client requests (and primary answers kept for the shadow comparison) held at once. */
  budget: ByteBudget;
  /** This router's name in Via headers (hops.ts). */
  viaName: string;
  /** What GET /v2/router/routes adds to the table: where it came from, the last refused update. */
  describeSource(): Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const WARN_INTERVAL_MS = 10_000;

export function createRouterHandler(options: HandlerOptions) {
  const { state, shadow, metrics, logger, maxBodyBytes, upstreamTimeoutMs, budget, viaName } = options;
  let draining = false;

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
   * response's 'close' (sent in full, or cut): counted and timed there, once, and the request's bytes are
   * released. With `capture` the answer's body is also kept (up to the body limit, each byte held in the
   * request's reservation) for the shadow comparison.
   */
  const proxy = (res: ServerResponse, upstream: Upstream, call: OutgoingCall, route: RouterRoute, started: number, reservation: Reservation, capture?: (answer: CapturedResponse | undefined) => void): void => {
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
        // Only a 200 is ever compared: nothing else is worth its bytes.
        if (capture && answerStatus === 200) kept = [];
        left = Number(answerHeaders['content-length'] ?? -1);
      },
      onData(chunk) {
        if (res.destroyed) return;
        if (kept) {
          // Past the body limit or the budget the copy is given up (its bytes stay held until the exchange ends).
          if ((keptBytes += chunk.length) <= maxBodyBytes && reservation.grow(chunk.length)) kept.push(chunk);
          else kept = undefined;
        }
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
      reservation.release();
      metrics.requestAnswered(upstream.name, route, sent ? res.statusCode : upstreamFailed ? 502 : 499, (performance.now() - started) / 1000);
      if (capture) {
        const whole = sent && (complete || left === 0) && kept !== undefined;
        capture(whole ? { status, body: Buffer.concat(kept!, keptBytes), headers } : sent ? { status: res.statusCode } : undefined);
      }
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = req.url ?? '/';
    const target = requestTarget(req.method ?? 'GET', url);
    if (target.kind === 'own') return own(res, target.path);
    const label = routeLabel(target);
    /** The router answers itself, charged to no version: the request never reached one. */
    const refuse = (status: number, message: string, headers?: OutgoingHttpHeaders) => {
      metrics.requestRefused(label, status);
      sendJson(res, status, { error: message }, headers);
    };
    if (target.kind === 'malformed') {
      req.resume();
      return refuse(400, target.reason);
    }
    const hop = nextHop(req.headers.via, viaName);
    if (!hop.ok) {
      req.resume();
      return refuse(508, hop.reason);
    }

    const snapshot: Snapshot = state.current;
    let upstream: Upstream | undefined;
    if (target.kind === 'pinned') {
      upstream = snapshot.upstreams.get(target.version);
      if (!upstream) {
        req.resume();
        const listed = snapshot.table.versions.map((v) => v.name).join(', ') || 'none';
        return refuse(404, `unknown version '${excerpt(target.version, 60)}': this router serves ${listed}`);
      }
    } else if (target.kind === 'weighted') {
      const sticky = snapshot.table.stickyHeader ? req.headers[snapshot.table.stickyHeader] : undefined;
      const version = chooseVersion(snapshot, Array.isArray(sticky) ? sticky[0] : sticky);
      upstream = version && snapshot.upstreams.get(version.name);
    } else {
      upstream = snapshot.fallback;
    }
    if (!upstream) {
      req.resume();
      return refuse(503, 'no version of the model is ready: the route table sends traffic nowhere');
    }

    // Empty for now: the body grows it as it arrives (or by its declared length, up front).
    const reservation = budget.reserve(0)!;
    let body: Buffer;
    try {
      // A body larger than the whole budget could never be held: 413, not a 503 to retry forever.
      body = await readBody(req, maxBodyBytes, reservation);
    } catch (error) {
      reservation.release();
      if (errorKind(error) === 'cancelled' || res.destroyed) return; // the client is gone; nobody to answer
      const status = httpStatus(error);
      refuse(status, (error as Error).message, status === 503 ? { 'retry-after': '1' } : {});
      if (status === 413 || status === 503) lingerThenClose(req);
      return;
    }
    const call: OutgoingCall = { method: req.method ?? 'GET', path: url, headers: upstreamHeaders(req.headers, body.length, upstream.hostHeader, hop.via), body };

    // Shadow copies: inference routed by weight only (a pinned version is a deliberate choice), never to
    // the version that answers; sent once the primary has answered, so they cannot delay it.
    const mirror = target.kind === 'weighted' ? snapshot.shadow : undefined;
    if (mirror === undefined || mirror.upstream === upstream || Math.random() * 100 >= mirror.percent) {
      proxy(res, upstream, call, label, started, reservation);
      return;
    }
    let answered!: (answer: CapturedResponse | undefined) => void;
    const primaryAnswer = new Promise<CapturedResponse | undefined>((resolve) => (answered = resolve));
    proxy(res, upstream, call, label, started, reservation, answered);
    shadow.offer({ primary: upstream.name, upstream: mirror.upstream, call: { ...call, headers: { ...call.headers, host: mirror.upstream.hostHeader } }, primaryAnswer });
  };

  return {
    handle(req: IncomingMessage, res: ServerResponse): void {
      route(req, res).catch((error: Error) => {
        // A fault of the router itself: answer 500 if still possible, never crash.
        logger.error('request failed', { url: excerpt(req.url ?? ''), error: excerpt(error.message) });
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: `router fault: ${excerpt(error.message)}` });
        else res.destroy();
      });
    },
    /**
     * Readiness turns false. Requests still coming are forwarded; the server's ConnectionDrain tells their
     * clients to close and says when the last one is answered.
     */
    drain(): void {
      draining = true;
    },
  };
}
