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

export class Forwarding {
  /** The upstream's response (status and headers); rejects with UpstreamError. */
  readonly response: Promise<IncomingMessage>;
  private current: ClientRequest | undefined;
  private aborted = false;
  /** Attempts made: 1, or 2 after a retry. */
  attempts = 0;

  constructor(upstream: Upstream, call: OutgoingCall, timeoutMs: number) {
    this.response = this.attempt(upstream, call, timeoutMs).catch((error: Error & { code?: string; retry?: boolean }) => {
      if (!error.retry || this.aborted) throw error;
      return this.attempt(upstream, call, timeoutMs);
    }).catch((error: Error & { code?: string }) => {
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError(503, `version '${upstream.name}' is unreachable at ${upstream.url}: ${error.code ?? error.message}${this.attempts > 1 ? ' (after a retry)' : ''}`);
    });
  }

  /** The client went away: stop the upstream request too. */
  abort(): void {
    this.aborted = true;
    this.current?.destroy();
  }

  private attempt(upstream: Upstream, call: OutgoingCall, timeoutMs: number): Promise<IncomingMessage> {
    this.attempts++;
    return new Promise((resolve, reject) => {
      const send = upstream.secure ? httpsRequest : httpRequest;
      const req = send({
        host: upstream.hostname,
        port: upstream.port,
        method: call.method,
        path: upstream.prefix + call.path,
        headers: call.headers,
        agent: upstream.agent,
      });
      this.current = req;
      let responded = false;
      req.setTimeout(timeoutMs, () => {
        if (!responded) reject(new UpstreamError(504, `version '${upstream.name}' did not answer within ${timeoutMs} ms`));
        req.destroy();
      });
      req.once('response', (res) => {
        responded = true;
        resolve(res);
      });
      req.on('error', (error: Error & { code?: string; retry?: boolean }) => {
        if (responded) return; // the response stream reports its own failure
        const code = error.code ?? '';
        error.retry = NOT_CONNECTED.has(code) || (req.reusedSocket && STALE_SOCKET.has(code));
        reject(error);
      });
      req.end(call.body);
    });
  }
}
