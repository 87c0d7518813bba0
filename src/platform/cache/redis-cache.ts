import type * as IORedis from "ioredis";
import { loadDriver } from "../drivers.js";
import type { Cache } from "./cache.js";

/**
 * The distributed adapter: Redis via ioredis. Commands fail fast (no offline queue) when
 * Redis is unreachable, so callers see an error instead of a request that hangs.
 */
export function createRedisCache(url: string, options: { keyPrefix?: string } = {}): Cache {
  const { Redis } = loadDriver<typeof IORedis>("ioredis");
  const redis = new Redis(url, {
    keyPrefix: options.keyPrefix ?? "kaira:",
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    commandTimeout: 2_000,
    lazyConnect: false,
  });
  // Connection errors surface on the commands that fail; without a listener ioredis would
  // print each reconnect attempt as an unhandled error.
  redis.on("error", () => {});

  return {
    shared: true,
    engine: "redis",
    async get(key) {
      return (await redis.get(key)) ?? undefined;
    },
    async set(key, value, ttlMs) {
      await redis.set(key, value, "PX", Math.max(1, Math.ceil(ttlMs)));
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await redis.set(key, value, "PX", Math.max(1, Math.ceil(ttlMs)), "NX")) === "OK";
    },
    async delete(key) {
      await redis.del(key);
    },
    async increment(key, ttlMs) {
      // INCR then PEXPIRE NX in one round trip: the window starts with the first hit.
      const results = await redis
        .multi()
        .incr(key)
        .pexpire(key, Math.max(1, Math.ceil(ttlMs)), "NX")
        .exec();
      const [error, count] = results?.[0] ?? [new Error("no reply"), 0];
      if (error) throw error;
      return Number(count);
    },
    async ttl(key) {
      return Math.max(0, await redis.pttl(key));
    },
    async ping() {
      await redis.ping();
    },
    async close() {
      // QUIT lets pending replies arrive first; a connection that is down just ends.
      if (redis.status === "ready") await redis.quit().catch(() => {});
      redis.disconnect();
    },
  };
}
