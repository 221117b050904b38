// The store `serve --cache` asks for. The Redis client is loaded only when it is used (it costs a third of a
// second at start), and the store is made before the model loads so that Redis is connected by then.
import type { ServeOptions } from '../../../contract/settings/serve-options.ts';
import type { Logger } from '../../../contract/logger.ts';
import { MemoryStore } from './memory.ts';
import type { CacheStore, CacheStoreEvents } from './store.ts';

export async function createCacheStore(options: ServeOptions, events: CacheStoreEvents, logger: Logger): Promise<CacheStore | undefined> {
  const ttlMs = options.cacheTtlSeconds * 1000;
  switch (options.cache) {
    case 'none':
      return undefined;
    case 'memory':
      return new MemoryStore({ maxBytes: options.cacheMaxBytes, ttlMs }, events);
    case 'redis': {
      const { RedisStore } = await import('./redis.ts');
      return new RedisStore({ url: options.cacheRedisUrl!, password: options.cacheRedisPassword, ttlMs, timeoutMs: options.cacheRedisTimeoutMs }, events, logger);
    }
  }
}
