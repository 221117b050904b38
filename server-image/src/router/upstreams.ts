// One keep-alive connection pool per upstream version, and their retirement: when a new route table drops a
// version (or moves it to another URL) its pool is closed only after the requests it carries have finished,
// so a weight change never cuts a request short.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { RouteVersion } from './routes.ts';

/** Idle keep-alive sockets kept per upstream; more are opened under load and closed when idle. */
const MAX_FREE_SOCKETS = 256;
/** Below the model server's keep-alive timeout (Node's default, 5 s), so we close idle sockets before it does. */
const FREE_SOCKET_TIMEOUT_MS = 4000;

export class Upstream {
  readonly name: string;
  readonly url: string;
  readonly secure: boolean;
  readonly hostname: string;
  readonly port: number;
  /** Path prefix of the URL, prepended to every request path ('' for none). */
  readonly prefix: string;
  /** The Host header requests to it carry (the upstream's own, as nginx's proxy_pass sets by default). */
  readonly hostHeader: string;
  readonly agent: HttpAgent;
  private inflight = 0;
  private retired = false;

  constructor(version: RouteVersion) {
    const url = new URL(version.url);
    this.name = version.name;
    this.url = version.url;
    this.secure = url.protocol === 'https:';
    this.hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port) || (this.secure ? 443 : 80);
    this.prefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
    this.hostHeader = url.host;
    const options = { keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS, timeout: FREE_SOCKET_TIMEOUT_MS, scheduling: 'lifo' as const };
    this.agent = this.secure ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** Marks a request started on this upstream; the returned function marks it finished (once). */
  acquire(): () => void {
    this.inflight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight--;
      if (this.retired && this.inflight === 0) this.agent.destroy();
    };
  }

  get requestsInFlight(): number {
    return this.inflight;
  }

  /** No new requests will come; close the pool now if idle, else when its last request finishes. */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) this.agent.destroy();
  }
}

/**
 * The upstreams of a new table, reusing the pools of versions whose URL is unchanged (warm connections
 * survive a weight change) and retiring the pools of the previous table that are not reused.
 */
export function nextUpstreams(previous: ReadonlyMap<string, Upstream>, versions: readonly RouteVersion[]): Map<string, Upstream> {
  const next = new Map<string, Upstream>();
  for (const v of versions) {
    const current = previous.get(v.name);
    next.set(v.name, current && current.url === v.url ? current : new Upstream(v));
  }
  for (const [name, upstream] of previous) if (next.get(name) !== upstream) upstream.retire();
  return next;
}
