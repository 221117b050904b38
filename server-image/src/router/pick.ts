// Which version a request goes to. Pure functions over the route table.
//
// Weights are laid out as consecutive ranges of [0, 1) in the order the table lists the versions: with
// [candidate 20, stable 80] the candidate owns [0, 0.2) and the stable [0.2, 1). A sticky client hashes
// to a fixed point in [0, 1), so it always lands in the same range while the weights stand. The operator
// lists the candidate first, so raising its weight only extends the candidate's range: a client already on
// the candidate stays there, and the clients that move, move toward it (never back and forth).
import type { RouteTable, RouteVersion } from '../../../contract/route-table.ts';

/** Upper ends of the versions' ranges in [0, 1], in listed order; a version of weight 0 has an empty range. */
export function cumulativeBounds(versions: readonly RouteVersion[]): number[] {
  let total = 0;
  return versions.map((v) => (total += v.weight) / 100);
}

/** The version whose range holds `point` (in [0, 1)); undefined only when no version has weight. */
export function pickAt(versions: readonly RouteVersion[], bounds: readonly number[], point: number): RouteVersion | undefined {
  for (let i = 0; i < versions.length; i++) {
    if (point < bounds[i] && versions[i].weight > 0) return versions[i];
  }
  // Only reachable by rounding at the very top of [0, 1): the last version that takes traffic.
  for (let i = versions.length - 1; i >= 0; i--) if (versions[i].weight > 0) return versions[i];
  return undefined;
}

/**
 * A header value's fixed point in [0, 1): 32-bit FNV-1a over its UTF-8 bytes, then a final avalanche
 * (murmur3's fmix32) so that values differing only in their last characters (user-1, user-2, ...) spread
 * over the whole interval instead of clustering.
 */
export function stickyPoint(value: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Where requests that are not inference go (metadata, config): the version with the most traffic, first on a tie. */
export function defaultVersion(table: RouteTable): RouteVersion | undefined {
  let best: RouteVersion | undefined;
  for (const v of table.versions) if (!best || v.weight > best.weight) best = v;
  return best && best.weight > 0 ? best : undefined;
}
