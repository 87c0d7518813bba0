import type { Config } from "../../config.js";
import type { Cache } from "./cache.js";
import { createMemoryCache } from "./memory-cache.js";
import { createRedisCache } from "./redis-cache.js";

export type { Cache } from "./cache.js";

/** Chosen once from config: Redis when REDIS_URL is set, else this process's memory. */
export function openCache(config: Pick<Config, "redisUrl">, keyPrefix?: string): Cache {
  return config.redisUrl
    ? createRedisCache(config.redisUrl, keyPrefix ? { keyPrefix } : {})
    : createMemoryCache();
}
