// One keep-alive connection pool per upstream version, and their retirement: when a new route table drops a
// version (or moves it to another URL) its pool is closed only after the requests it carries have finished,
// so a weight change never cuts a request short.
import { Pool } from 'undici';
import type { RouteVersion } from '../../../contract/route-table.ts';

/** Below the model server's keep-alive timeout (Node's default, 5 s), so we close idle sockets before it does. */
const IDLE_SOCKET_TIMEOUT_MS = 4000;

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
  /** Keep-alive connections to it: as many as requests in flight, one request per connection at a time. */
  readonly pool: Pool;
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
    this.pool = new Pool(url.origin, { keepAliveTimeout: IDLE_SOCKET_TIMEOUT_MS, keepAliveMaxTimeout: IDLE_SOCKET_TIMEOUT_MS, pipelining: 1 });
  }

  /** Marks a request started on this upstream; the returned function marks it finished (once). */
  acquire(): () => void {
    this.inflight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight--;
      if (this.retired && this.inflight === 0) void this.pool.close();
    };
  }

  get requestsInFlight(): number {
    return this.inflight;
  }

  /** No new requests will come; close the pool now if idle, else when its last request finishes. */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) void this.pool.close();
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
