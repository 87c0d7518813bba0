import type { Cache } from "./cache.js";

/**
 * A cache that answers from `fallback` whenever `primary` fails. Used for counters (login
 * throttling, rate limits): while Redis is unreachable each process counts on its own, so
 * limits still hold per instance instead of failing every request or switching off.
 */
export function withFallback(primary: Cache, fallback: Cache, onError: (error: unknown) => void): Cache {
  const attempt =
    <A extends unknown[], R>(call: (cache: Cache, ...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(primary, ...args);
      } catch (error) {
        onError(error);
        return call(fallback, ...args);
      }
    };
  return {
    shared: primary.shared,
    engine: primary.engine,
    get: attempt((c, key: string) => c.get(key)),
    set: attempt((c, key: string, value: string, ttlMs: number) => c.set(key, value, ttlMs)),
    setIfAbsent: attempt((c, key: string, value: string, ttlMs: number) => c.setIfAbsent(key, value, ttlMs)),
    delete: attempt((c, key: string) => c.delete(key)),
    increment: attempt((c, key: string, ttlMs: number) => c.increment(key, ttlMs)),
    ttl: attempt((c, key: string) => c.ttl(key)),
    ping: () => primary.ping(),
    close: async () => {
      await Promise.all([primary.close(), fallback.close()]);
    },
  };
}
