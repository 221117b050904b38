// The response cache's Prometheus series (names from the contract), in the server's registry so they carry
// its model and version labels. Every label value exists from the start at 0, as the server's other counters.
import client from 'prom-client';
import {
  CACHE_ERROR_KINDS, CACHE_EVICTION_REASONS, CACHE_METRICS, type CacheErrorKind, type CacheEvictionReason,
} from '../../../contract/metric-names.ts';
import type { CacheStoreEvents } from './store.ts';

export class CacheMetrics implements CacheStoreEvents {
  private readonly hits;
  private readonly misses;
  private readonly evictions;
  private readonly errors;
  private readonly bytes;

  constructor(registry: client.Registry) {
    const registers = [registry];
    this.hits = new client.Counter({ name: CACHE_METRICS.hits, help: 'Rows answered from the response cache', registers });
    this.misses = new client.Counter({ name: CACHE_METRICS.misses, help: 'Rows looked up in the response cache and computed', registers });
    this.evictions = new client.Counter({
      name: CACHE_METRICS.evictions, help: 'Cached answers dropped by the in-process store, by reason', labelNames: ['reason'], registers,
    });
    this.errors = new client.Counter({
      name: CACHE_METRICS.errors, help: 'Cache lookups and writes that failed or were skipped (requests are computed instead), by kind', labelNames: ['kind'], registers,
    });
    this.bytes = new client.Gauge({ name: CACHE_METRICS.bytes, help: 'Bytes the in-process response cache holds', registers });
    for (const reason of CACHE_EVICTION_REASONS) this.evictions.inc({ reason }, 0);
    for (const kind of CACHE_ERROR_KINDS) this.errors.inc({ kind }, 0);
  }

  looked(hits: number, misses: number): void {
    if (hits > 0) this.hits.inc(hits);
    if (misses > 0) this.misses.inc(misses);
  }

  error(kind: CacheErrorKind): void {
    this.errors.inc({ kind });
  }

  evicted(reason: CacheEvictionReason, count: number): void {
    this.evictions.inc({ reason }, count);
  }

  bytesHeld(bytes: number): void {
    this.bytes.set(bytes);
  }
}
