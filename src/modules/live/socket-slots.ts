import { randomUUID } from "node:crypto";
import type { Cache } from "../../platform/cache/cache.js";

/** A socket's hold on one of its user's slots, kept alive by `renew` and given back by `release`. */
export interface SocketSlot {
  renew(): Promise<void>;
  release(): Promise<void>;
}

/**
 * Per-user socket slots in the shared cache, so `perUser` caps a user's live sockets across
 * every instance, not on each one. A slot is a key `live:slot:<user>:<n>` that a socket takes
 * with set-if-absent and holds as a lease: the socket renews it while it lives and deletes
 * it when it closes. A crashed instance's slots expire after `leaseMs`, so no user is locked
 * out for longer than that. With the embedded cache the same code caps sockets in this process.
 */
export function createSocketSlots(cache: Cache, options: { perUser: number; leaseMs: number }) {
  const keyOf = (userId: number, slot: number) => `live:slot:${userId}:${slot}`;

  return {
    /** Takes a free slot for a socket of `userId`, or undefined when all `perUser` are held. */
    async claim(userId: number): Promise<SocketSlot | undefined> {
      const holder = randomUUID();
      for (let slot = 0; slot < options.perUser; slot++) {
        const key = keyOf(userId, slot);
        if (!(await cache.setIfAbsent(key, holder, options.leaseMs))) continue;
        let released = false;
        return {
          async renew() {
            // Only a lease still ours is extended: one that expired meanwhile may belong to
            // another socket now, and taking it back would let the user exceed the cap.
            if (!released && (await cache.get(key)) === holder) await cache.set(key, holder, options.leaseMs);
          },
          async release() {
            released = true;
            if ((await cache.get(key)) === holder) await cache.delete(key);
          },
        };
      }
      return undefined;
    },
  };
}

export type SocketSlots = ReturnType<typeof createSocketSlots>;
