// The router's request handling, on bare node:http like the model server's inference path (an express
// layer costs about 11 us per request on our machines; see server-image/src/http/infer-handler.ts).
//
//   GET  /v2/health/live, /v2/health/ready, /metrics, /v2/router/routes   answered by the router itself
//   POST /v2/models/{m}/infer                  a version by weight (or by the sticky header's value)
//   *    /v2/models/{m}/versions/{v}[/...]     version v, if listed (else 404)
//   *    anything else (metadata, config, ...)  the version with the most traffic
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/body.ts';
import { InferenceError } from '../protocol/errors.ts';
import { Forwarding, UpstreamError, clientHeaders, upstreamHeaders, type OutgoingCall } from './forward.ts';
import { NO_VERSION, type RouterMetrics } from './metrics.ts';
import { chooseVersion, type RoutingState, type Snapshot } from './routing-state.ts';
import { collectBody, type CapturedResponse, type ShadowMirror } from './shadow.ts';
import type { Upstream } from './upstreams.ts';
import type { Logger } from '../observability/logger.ts';

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

/** After an early 413 keep reading (and discarding) the body for a while, so the client reads our answer. */
const LINGER_MS = 5000;
function lingerThenClose(req: IncomingMessage): void {
  if (req.readableEnded) return;
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  req.once('end', () => clearTimeout(timer));
  req.resume();
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function createRouterHandler(options: HandlerOptions) {
  const { state, shadow, metrics, logger, maxBodyBytes, upstreamTimeoutMs } = options;
  let draining = false;
  let inflight = 0;
  let idle: (() => void) | undefined;

  const own = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch (path) {
      case '/v2/health/live':
        sendJson(res, 200, { live: true });
        return true;
      case '/v2/health/ready': {
        // Ready means "has a table that sends traffic somewhere", not "every upstream answers": each version
        // has its own readiness probe and Service endpoints, and a router that went unready whenever an
        // upstream did would turn a clear 503 naming the version into connection refused for every client.
        const ready = state.current.ready && !draining;
        sendJson(res, ready ? 200 : 503, { ready });
        return true;
      }
      case '/metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return true;
      }
      case '/v2/router/routes': {
        const s = state.current;
        sendJson(res, 200, {
          ...s.table,
          ready: s.ready,
          updatedAt: s.updatedAt,
          inflight: Object.fromEntries([...s.upstreams].map(([name, u]) => [name, u.requestsInFlight])),
          ...options.describeSource(),
        });
        return true;
      }
      default:
        return false;
    }
  };

  /** Sends the buffered request to `upstream` and streams its answer back; resolves when the exchange is over. */
  const proxy = (res: ServerResponse, upstream: Upstream, call: OutgoingCall, started: number, capture: boolean): Promise<CapturedResponse | undefined> => {
    const release = upstream.acquire();
    const forwarding = new Forwarding(upstream, call, upstreamTimeoutMs);
    return new Promise((resolve) => {
      let upstreamFailed = false;
      let finished = false;
      const done = (captured: CapturedResponse | undefined) => {
        if (finished) return;
        finished = true;
        release();
        const code = res.writableFinished ? res.statusCode : upstreamFailed ? 502 : 499;
        metrics.requestAnswered(upstream.name, code, (performance.now() - started) / 1000);
        resolve(captured);
      };
      // The client went away: stop the upstream request, and with it the model's work.
      res.once('close', () => {
        if (!res.writableFinished) forwarding.abort();
      });
      forwarding.response.then((upRes) => {
        if (res.destroyed) {
          upRes.destroy();
          done(undefined);
          return;
        }
        const status = upRes.statusCode ?? 502;
        res.writeHead(status, clientHeaders(upRes.headers));
        const body = capture ? collectBody(upRes, maxBodyBytes) : undefined;
        upRes.pipe(res);
        upRes.on('error', () => undefined); // reported by 'close' below; an unheard 'error' would end the process
        upRes.once('close', () => {
          if (upRes.complete) return;
          // The upstream broke off midway: the status is sent, so all we can do is cut the client's response.
          upstreamFailed = true;
          res.destroy();
        });
        res.once('close', () => {
          if (!res.writableFinished) upRes.destroy();
          if (!body) return done(undefined);
          void body.then((b) => done(res.writableFinished ? { status, body: b, headers: upRes.headers } : undefined));
        });
      }, (error: Error) => {
        const status = error instanceof UpstreamError ? error.status : 503;
        if (status === 503) logger.warn('upstream unreachable', { version: upstream.name, error: error.message });
        if (!res.destroyed && !res.headersSent) {
          res.once('close', () => done(undefined));
          sendJson(res, status, { error: error.message });
        } else {
          done(undefined);
        }
      });
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (await own(req, res, path)) return;

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
      const status = error instanceof InferenceError ? error.status : 400;
      if (status === 499 || res.destroyed) return; // the client is gone; nobody to answer
      metrics.requestRefused(NO_VERSION, status);
      sendJson(res, status, { error: (error as Error).message });
      if (status === 413) lingerThenClose(req);
      return;
    }
    if (draining) res.setHeader('connection', 'close');
    const call: OutgoingCall = { method: req.method ?? 'GET', path: url, headers: upstreamHeaders(req.headers, body.length, `${upstream.hostname}:${upstream.port}`), body };

    const mirror = inference && !explicit ? snapshot.shadow : undefined;
    const copy = mirror !== undefined && mirror.upstream !== upstream && Math.random() * 100 < mirror.percent;
    const answer = proxy(res, upstream, call, started, copy);
    if (copy) {
      const shadowCall = { ...call, headers: { ...call.headers, host: `${mirror.upstream.hostname}:${mirror.upstream.port}` } };
      shadow.offer({ primary: upstream.name, upstream: mirror.upstream, call: shadowCall, primaryAnswer: answer });
    }
    await answer;
  };

  return {
    handle(req: IncomingMessage, res: ServerResponse): void {
      inflight++;
      route(req, res)
        .catch((error: Error) => {
          // A fault of the router itself: answer 500 if still possible, never crash.
          logger.error('request failed', { url: req.url, error: error.message });
          if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: `router fault: ${error.message}` });
          else res.destroy();
        })
        .finally(() => {
          inflight--;
          if (inflight === 0 && idle) idle();
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
