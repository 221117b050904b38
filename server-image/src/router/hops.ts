// Routing loops. A route table that points a version at the router itself (or at another router that
// points back) would turn one request into thousands of hops, each holding a socket and a copy of the
// body, until the process runs out of files. Every router adds itself to the request's Via header
// (RFC 9110, section 7.6.3) under a name unique to its process, so a request that comes back finds that
// name and is refused at once; one that has passed through MAX_ROUTER_HOPS routers is refused whatever
// the path (a loop through many replicas). Pure: the caller gives this router's name.
import { excerpt } from '../excerpt.ts';

/** Routers a request may pass through; a real deployment has one, or two with a router in front of another. */
export const MAX_ROUTER_HOPS = 8;
const NAME_PREFIX = 'modelship-router-';

/** This router's name in Via headers, from an identifier unique to its process. */
export const routerViaName = (id: string) => `${NAME_PREFIX}${id}`;

/** The received-by names of a Via header's entries ("1.1 name", "HTTP/1.1 name (comment)", comma-separated). */
export function viaNames(via: string | undefined): string[] {
  if (!via) return [];
  return via.split(',').map((entry) => entry.trim().split(/\s+/)[1] ?? '').filter((name) => name !== '');
}

export type Hop = { ok: true; via: string } | { ok: false; reason: string };

/** The Via header to send upstream, or why the request must not go on (a loop, or too many routers). */
export function nextHop(via: string | undefined, self: string): Hop {
  const names = viaNames(via);
  if (names.includes(self)) return { ok: false, reason: `routing loop: the request came back to this router (Via: ${excerpt(via!)})` };
  const routers = names.filter((name) => name.startsWith(NAME_PREFIX)).length;
  if (routers >= MAX_ROUTER_HOPS) return { ok: false, reason: `routing loop: the request has passed through ${routers} routers, at most ${MAX_ROUTER_HOPS} are allowed` };
  const entry = `1.1 ${self}`;
  return { ok: true, via: via ? `${via}, ${entry}` : entry };
}
