/**
 * The pub/sub port: fan-out of messages to every instance. The embedded adapter is an
 * in-process emitter; the Redis adapter publishes on one connection and listens on a
 * dedicated subscriber connection (a Redis connection in subscribe mode can do nothing else).
 * Delivery is at-most-once: a subscriber that was disconnected misses messages, so consumers
 * must be able to catch up from a durable log.
 */
export interface PubSub {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
