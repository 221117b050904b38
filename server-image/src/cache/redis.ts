// The Redis store, shared by every pod of a model version (node-redis 5). Redis is an optimisation here,
// never a dependency: the process starts without waiting for it, a lookup waits at most `timeoutMs`, a
// store that is down or failing is skipped (not waited for) until it recovers, and writes are fire-and-forget
// within a byte bound. node-redis reconnects by itself, with the backoff below; the cache resumes when it has.
import { createClient, RESP_TYPES } from 'redis';
import type { Logger } from '../../../contract/logger.ts';
import { CacheStoreError, type CacheStore, type CacheStoreEvents } from './store.ts';

export interface RedisStoreOptions {
  url: string;
  password?: string;
  ttlMs: number;
  /** How long one lookup or write may take before it counts as failed. */
  timeoutMs: number;
}

/** Reconnection delays: 100 ms doubling to 5 s, with jitter so a version's pods do not reconnect in step. */
export function reconnectDelayMs(retries: number, random = Math.random()): number {
  return Math.min(100 * 2 ** Math.min(retries, 10), 5000) + Math.floor(random * 100);
}

/**
 * After a lookup times out or fails on a connected Redis (overloaded, paused, refusing commands), lookups
 * are skipped for a while, doubling from 100 ms to 5 s while they keep failing: a stuck Redis then costs
 * the requests that probe it, not every request.
 */
export class FailureBackoff {
  private failures = 0;
  private until = 0;

  open(now: number): boolean {
    return now >= this.until;
  }

  failed(now: number): void {
    this.until = now + Math.min(100 * 2 ** Math.min(this.failures, 10), 5000);
    this.failures++;
  }

  succeeded(): void {
    this.failures = 0;
    this.until = 0;
  }
}

/** Writes that may wait for Redis at once; beyond them answers are not stored (and counted as overloaded). */
const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024;
/** node-redis's own queue (commands waiting to be written or answered): a hard bound on what it holds. */
const MAX_QUEUED_COMMANDS = 10_000;
const CONNECT_TIMEOUT_MS = 2000;

export class RedisStore implements CacheStore {
  private readonly client;
  /** The client with values as Buffers (answers are bytes, not UTF-8). */
  private readonly commands;
  private readonly timeoutMs: number;
  private readonly ttlMs: number;
  private readonly events: CacheStoreEvents;
  private readonly backoff = new FailureBackoff();
  private pendingWriteBytes = 0;
  private connected = false;

  constructor(options: RedisStoreOptions, events: CacheStoreEvents, logger: Logger) {
    this.ttlMs = options.ttlMs;
    this.events = events;
    const where = redactedUrl(options.url);
    this.client = createClient({
      url: options.url,
      ...(options.password !== undefined ? { password: options.password } : {}),
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (retries) => reconnectDelayMs(retries) },
      // Commands while disconnected fail at once instead of queueing for a connection that may never come.
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      maintNotifications: 'disabled',
    });
    this.commands = this.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    this.timeoutMs = options.timeoutMs;
    // Logged when the state changes, not per failed attempt: a Redis down for an hour is two lines.
    let warned = false;
    this.client.on('ready', () => {
      this.connected = true;
      warned = false;
      this.backoff.succeeded();
      logger.info('response cache connected to redis', { redis: where });
    });
    this.client.on('error', (error: Error) => {
      if (warned) return;
      warned = true;
      const message = this.connected ? 'response cache lost redis' : 'response cache cannot reach redis';
      logger.warn(`${message}; serving without the cache until it reconnects`, { redis: where, error: error.message });
      this.connected = false;
    });
    // Not awaited: the server serves (without the cache) while Redis is away; connect() retries by itself.
    this.client.connect().catch((error: Error) => logger.error('response cache: redis client stopped', { redis: where, error: error.message }));
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    const now = performance.now();
    if (!this.client.isReady || !this.backoff.open(now)) throw new CacheStoreError('unavailable', 'redis is not available');
    try {
      const values = await withinMs(this.commands.mGet(keys as string[]), this.timeoutMs);
      this.backoff.succeeded();
      return values.map((v) => (Buffer.isBuffer(v) ? v : undefined));
    } catch (error) {
      this.backoff.failed(performance.now());
      throw error instanceof CacheStoreError ? error : new CacheStoreError('failed', (error as Error).message);
    }
  }

  setMany(entries: ReadonlyArray<readonly [string, Buffer]>): void {
    // The lookup before it already counted Redis as unavailable.
    if (!this.client.isReady || !this.backoff.open(performance.now())) return;
    for (const [key, value] of entries) {
      if (this.pendingWriteBytes + value.length > MAX_PENDING_WRITE_BYTES) {
        this.events.error('overloaded');
        continue;
      }
      this.pendingWriteBytes += value.length;
      this.commands.set(key, value, { expiration: { type: 'PX', value: this.ttlMs } }).then(
        () => (this.pendingWriteBytes -= value.length),
        () => {
          this.pendingWriteBytes -= value.length;
          this.events.error('failed');
        },
      );
    }
  }

  async close(): Promise<void> {
    this.connected = false;
    // destroy(), not close(): pending writes are only optimisations, and close() waits for a Redis that may be gone.
    if (this.client.isOpen) this.client.destroy();
  }
}

/**
 * The promise's value, or a 'timeout' CacheStoreError after `ms`. Our own timer: node-redis's command timeout
 * covers only the wait to be written, not the wait for the reply, which is what a stuck Redis makes long.
 * The abandoned command is answered or failed by node-redis later (its queue is bounded), and ignored.
 * The timeout takes effect after the event loop's next poll for I/O (setImmediate): when the loop itself
 * was late, a reply that came in time is read first, and Redis is not blamed for our own busy thread.
 */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => setImmediate(() => reject(new CacheStoreError('timeout', `redis did not answer within ${ms} ms`))), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for logs. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}
