import type { Cache } from "./cache.js";

/**
 * Read-through caching of hot reads on top of the cache port. Values are JSON.
 *
 * - Concurrent misses for one key in this process share a single load (stampede protection:
 *   a hot key that expires costs one database read per instance, not one per request).
 * - `invalidate` replaces the value with a short-lived marker instead of deleting it, so a
 *   load that read the database before the write cannot store its stale copy afterwards
 *   (it only stores when the key is absent).
 * - The cache is an optimisation: when it fails, reads go to the database and the error is
 *   reported, never surfaced to the client.
 */
export interface ReadThroughCache {
  get<T>(key: string, load: () => Promise<T | undefined>, revive?: (cached: T) => T): Promise<T | undefined>;
  /** Call after the write committed, for every key it affects. */
  invalidate(...keys: string[]): Promise<void>;
}

export interface ReadThroughOptions {
  ttlMs: number;
  /** How long an invalidated key refuses new values: longer than any load takes. */
  invalidationHoldMs?: number;
  onError?: (error: unknown) => void;
  /** The seam for hit/miss metrics. */
  onLookup?: (key: string, hit: boolean) => void;
}

const INVALIDATED = "\u0000invalidated";

export function createReadThroughCache(cache: Cache, options: ReadThroughOptions): ReadThroughCache {
  const holdMs = options.invalidationHoldMs ?? 5_000;
  const inFlight = new Map<string, Promise<unknown>>();
  const report = (error: unknown) => options.onError?.(error);

  async function loadAndStore<T>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const value = await load();
    if (value !== undefined) {
      await cache.setIfAbsent(key, JSON.stringify(value), options.ttlMs).catch(report);
    }
    return value;
  }

  return {
    async get<T>(key: string, load: () => Promise<T | undefined>, revive?: (cached: T) => T) {
      if (options.ttlMs <= 0) return load();
      let cached: string | undefined;
      try {
        cached = await cache.get(key);
      } catch (error) {
        report(error);
        return load();
      }
      if (cached !== undefined && cached !== INVALIDATED) {
        options.onLookup?.(key, true);
        const value = JSON.parse(cached) as T;
        return revive ? revive(value) : value;
      }
      options.onLookup?.(key, false);
      // Right after an invalidation, read the database without caching (the marker holds).
      if (cached === INVALIDATED) return load();
      const pending = inFlight.get(key) as Promise<T | undefined> | undefined;
      if (pending) return pending;
      const loading = loadAndStore(key, load).finally(() => inFlight.delete(key));
      inFlight.set(key, loading);
      return loading;
    },

    async invalidate(...keys: string[]) {
      if (options.ttlMs <= 0) return;
      // A load already in flight in this process must not hand out its pre-write result.
      for (const key of keys) inFlight.delete(key);
      await Promise.all(keys.map((key) => cache.set(key, INVALIDATED, holdMs))).catch(report);
    },
  };
}
