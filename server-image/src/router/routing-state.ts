// The router's current routing: the table, its upstream pools and what the hot path needs precomputed.
// A new table replaces the whole snapshot in one assignment, so every request sees one table from start
// to end: it keeps the Upstream it picked (and that pool stays open until the request finishes) even if
// the table changes while it runs.
import { cumulativeBounds, defaultVersion, pickAt, stickyPoint } from './pick.ts';
import { hasTraffic, type RouteTable, type RouteVersion } from '../../../contract/route-table.ts';
import { nextUpstreams, type Upstream } from './upstreams.ts';

export interface Snapshot {
  readonly table: RouteTable;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly bounds: readonly number[];
  /** Where non-inference requests go; undefined when no version takes traffic. */
  readonly fallback: Upstream | undefined;
  readonly ready: boolean;
  readonly shadow: { upstream: Upstream; percent: number } | undefined;
  readonly updatedAt: string;
}

export const EMPTY_TABLE: RouteTable = { versions: [] };

export class RoutingState {
  private snapshot: Snapshot;

  constructor(table: RouteTable = EMPTY_TABLE) {
    this.snapshot = RoutingState.build(table, new Map());
  }

  get current(): Snapshot {
    return this.snapshot;
  }

  /** Installs a new table; pools of versions that are gone close once their requests have finished. */
  swap(table: RouteTable): Snapshot {
    this.snapshot = RoutingState.build(table, this.snapshot.upstreams);
    return this.snapshot;
  }

  /** Closes every pool once idle (shutdown). */
  close(): void {
    for (const upstream of this.snapshot.upstreams.values()) upstream.retire();
  }

  private static build(table: RouteTable, previous: ReadonlyMap<string, Upstream>): Snapshot {
    const upstreams = nextUpstreams(previous, table.versions);
    const fallback = defaultVersion(table);
    const shadow = table.shadow && table.shadow.percent > 0 ? { upstream: upstreams.get(table.shadow.version)!, percent: table.shadow.percent } : undefined;
    return {
      table,
      upstreams,
      bounds: cumulativeBounds(table.versions),
      fallback: fallback && upstreams.get(fallback.name),
      ready: hasTraffic(table),
      shadow,
      updatedAt: new Date().toISOString(),
    };
  }
}

/** The version for an inference request routed by weight: by the sticky header's value when given, else at random. */
export function chooseVersion(snapshot: Snapshot, stickyValue: string | undefined): RouteVersion | undefined {
  const point = stickyValue === undefined ? Math.random() : stickyPoint(stickyValue);
  return pickAt(snapshot.table.versions, snapshot.bounds, point);
}
