// Sends one buffered request to an upstream and hands back its response as soon as the status line and
// headers arrive (the body is streamed by the caller). Retries once, and only when the request cannot have
// reached the model: the connection was refused or never made, or a reused keep-alive socket turned out to
// have been closed by the server before any response byte. Nothing is retried once a response has begun,
// and a timeout is not retried either (the upstream may still be computing it).
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Upstream } from './upstreams.ts';

export interface OutgoingCall {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

/** The upstream could not be used: 503 when unreachable, 504 when it did not answer in time. */
export class UpstreamError extends Error {
  readonly status: 503 | 504;
  constructor(status: 503 | 504, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.status = status;
  }
}

/** Failures of connecting: the request was never sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
/** Failures of a reused idle socket that the server had already closed (the keep-alive race). */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'host', 'content-length']);

/**
 * The client's headers as they go upstream: all of them but the hop-by-hop ones (and any the Connection
 * header names), with the length of the buffered body. The Host is the upstream's, as nginx's default is.
 */
export function upstreamHeaders(headers: Record<string, string | string[] | undefined>, bodyLength: number, host: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = headers.connection;
  const dropped = typeof named === 'string' && named !== 'keep-alive' && named !== 'close' ? new Set(named.toLowerCase().split(/\s*,\s*/)) : undefined;
  for (const key in headers) {
    if (HOP_BY_HOP.has(key) || dropped?.has(key)) continue;
    out[key] = headers[key];
  }
  out.host = host;
  out['content-length'] = bodyLength;
  return out;
}

/** The upstream's response headers as they go back to the client: without its hop-by-hop headers. */
export function clientHeaders(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const key in headers) {
    if (key === 'connection' || key === 'keep-alive' || key === 'transfer-encoding' || key === 'proxy-connection') continue;
    out[key] = headers[key];
  }
  return out;
}

export interface Forwarding {
  /** The client went away: stop the upstream request too (no retry follows). */
  abort(): void;
}

/**
 * Sends `call` to `upstream`; `onResponse` gets the response once its status and headers are in, or
 * `onError` an UpstreamError (once, after the one retry that is safe). Callbacks rather than promises: this
 * runs once per request on the hot path.
 */
export function forward(
  upstream: Upstream,
  call: OutgoingCall,
  timeoutMs: number,
  onResponse: (res: IncomingMessage) => void,
  onError: (error: UpstreamError) => void,
): Forwarding {
  let current: ClientRequest | undefined;
  let aborted = false;
  const attempt = (retry: boolean) => {
    const req = (upstream.secure ? httpsRequest : httpRequest)({
      host: upstream.hostname,
      port: upstream.port,
      method: call.method,
      path: upstream.prefix + call.path,
      headers: call.headers,
      agent: upstream.agent,
    });
    current = req;
    let settled = false;
    req.setTimeout(timeoutMs, () => {
      if (!settled) {
        settled = true;
        onError(new UpstreamError(504, `version '${upstream.name}' did not answer within ${timeoutMs} ms`));
      }
      req.destroy();
    });
    req.once('response', (res) => {
      settled = true;
      onResponse(res);
    });
    req.on('error', (error: Error & { code?: string }) => {
      if (settled) return; // after a response, its stream reports the failure
      settled = true;
      if (aborted) return;
      const code = error.code ?? '';
      if (!retry && (NOT_CONNECTED.has(code) || (req.reusedSocket && STALE_SOCKET.has(code)))) {
        attempt(true);
        return;
      }
      onError(new UpstreamError(503, `version '${upstream.name}' is unreachable at ${upstream.url}: ${code || error.message}${retry ? ' (after a retry)' : ''}`));
    });
    req.end(call.body);
  };
  attempt(false);
  return {
    abort() {
      aborted = true;
      current?.destroy();
    },
  };
}

/** forward() as a promise, for the shadow copies (off the client's path). */
export function forwardAsync(upstream: Upstream, call: OutgoingCall, timeoutMs: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    forward(upstream, call, timeoutMs, resolve, reject);
  });
}
