import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import { loadDriver } from "../drivers.js";
import type { PubSub } from "./pubsub.js";

export function createRedisPubSub(url: string, options: { channelPrefix?: string } = {}): PubSub {
  const prefix = options.channelPrefix ?? "kaira:";
  const { Redis } = loadDriver<typeof IORedis>("ioredis");
  // Fails fast: the outbox relay publishes while holding its lock, so a Redis that stops
  // answering must turn into an error (and a retry) within seconds, not a wait.
  const publisher = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    commandTimeout: 2_000,
  });
  // The subscriber re-subscribes by itself after a reconnect (ioredis autoResubscribe).
  const subscriber = new Redis(url, { connectTimeout: 5_000, maxRetriesPerRequest: null });
  publisher.on("error", () => {});
  subscriber.on("error", () => {});
  const handlers = new Map<string, Set<(message: string) => void>>();
  subscriber.on("message", (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) handler(message);
  });

  return {
    async publish(channel, message) {
      await publisher.publish(prefix + channel, message);
    },
    async subscribe(channel, handler) {
      const full = prefix + channel;
      let set = handlers.get(full);
      if (!set) {
        set = new Set();
        handlers.set(full, set);
        await subscriber.subscribe(full);
      }
      set.add(handler);
      return async () => {
        set.delete(handler);
        if (set.size === 0) {
          handlers.delete(full);
          // Once the connection is closing there is nothing left to unsubscribe from.
          if (subscriber.status === "ready") await subscriber.unsubscribe(full);
        }
      };
    },
    async close() {
      // QUIT lets pending replies arrive first; a connection that is not up just ends
      // (a QUIT queued for a server that never answers would wait forever).
      const quit = (connection: Redis) =>
        connection.status === "ready" ? connection.quit() : Promise.resolve();
      await Promise.allSettled([quit(publisher), quit(subscriber)]);
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
