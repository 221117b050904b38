// What the response cache needs from a store, whichever it is (memory.ts in this process, redis.ts shared by
// a version's pods): many keys read in one go, answers written without anyone waiting, and failures reported
// as events, never as failed requests.
import type { CacheErrorKind, CacheEvictionReason } from '../../../contract/metric-names.ts';

export interface CacheStore {
  /**
   * The stored value of each key, undefined where there is none. Rejects with a CacheStoreError when the
   * store cannot answer within its bounds; the caller then computes every row.
   */
  getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>>;
  /** Stores each value for the store's TTL. Never throws and is never awaited: a lost write is only a later miss. */
  setMany(entries: ReadonlyArray<readonly [string, Buffer]>): void;
  close(): Promise<void>;
}

/** What a store tells its owner (the metrics): errors it absorbed, answers it dropped, bytes it holds. */
export interface CacheStoreEvents {
  error(kind: CacheErrorKind): void;
  evicted(reason: CacheEvictionReason, count: number): void;
  bytesHeld?(bytes: number): void;
}

/** A lookup the store could not answer; `kind` says why, for the errors metric. */
export class CacheStoreError extends Error {
  readonly kind: CacheErrorKind;
  constructor(kind: CacheErrorKind, message: string) {
    super(message);
    this.name = 'CacheStoreError';
    this.kind = kind;
  }
}
