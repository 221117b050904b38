// The in-process store: least recently used answers evicted past a byte bound, each served until its TTL.
// A Map keeps insertion order, so moving an entry to the end on every read makes its first entry the least
// recently used one, and eviction O(1).
import type { CacheStore, CacheStoreEvents } from './store.ts';

/**
 * What an entry costs beyond its key and value bytes: the Map slot, the entry object and the Buffer object
 * (measured with V8 at about 80 to 100 bytes). Counted so that many tiny answers cannot outgrow the bound.
 */
export const ENTRY_OVERHEAD_BYTES = 96;

export interface MemoryStoreOptions {
  maxBytes: number;
  ttlMs: number;
  /** The clock, in ms; a test may bring its own. */
  now?: () => number;
}

interface Entry {
  value: Buffer;
  expiresAt: number;
  bytes: number;
}

export class MemoryStore implements CacheStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly events: CacheStoreEvents;
  private held = 0;

  constructor(options: MemoryStoreOptions, events: CacheStoreEvents) {
    this.maxBytes = options.maxBytes;
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? (() => performance.now());
    this.events = events;
  }

  /** Bytes held now (keys, values and per-entry overhead). */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    return Promise.resolve(keys.map((key) => this.get(key)));
  }

  get(key: string): Buffer | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      this.events.evicted('expired', 1);
      this.events.bytesHeld?.(this.held);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  setMany(entries: ReadonlyArray<readonly [string, Buffer]>): void {
    for (const [key, value] of entries) this.set(key, value);
    this.events.bytesHeld?.(this.held);
  }

  set(key: string, value: Buffer): void {
    const bytes = key.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) this.remove(key, previous);
    const now = this.now();
    this.entries.set(key, { value, expiresAt: now + this.ttlMs, bytes });
    this.held += bytes;
    let expired = 0;
    let evicted = 0;
    // The oldest entries go first: expired ones whatever the bound, then live ones while over it.
    for (const [oldKey, old] of this.entries) {
      if (old.expiresAt <= now) expired++;
      else if (this.held > this.maxBytes) evicted++;
      else break;
      this.remove(oldKey, old);
    }
    if (expired > 0) this.events.evicted('expired', expired);
    if (evicted > 0) this.events.evicted('size', evicted);
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.held -= entry.bytes;
  }

  close(): Promise<void> {
    this.entries.clear();
    this.held = 0;
    this.events.bytesHeld?.(0);
    return Promise.resolve();
  }
}
