import type { Config } from "../../config.js";
import { createMemoryPubSub } from "./memory-pubsub.js";
import type { PubSub } from "./pubsub.js";
import { createRedisPubSub } from "./redis-pubsub.js";

export type { PubSub } from "./pubsub.js";

/** Chosen once from config: Redis pub/sub when REDIS_URL is set, else in-process. */
export function openPubSub(config: Pick<Config, "redisUrl">, channelPrefix?: string): PubSub {
  return config.redisUrl
    ? createRedisPubSub(config.redisUrl, channelPrefix ? { channelPrefix } : {})
    : createMemoryPubSub();
}
