import { type Poller, startPoller } from "../../shared/poller.js";
import type { PubSub } from "../pubsub/index.js";
import type { OutboxRepository } from "./outbox.js";

export const EVENTS_CHANNEL = "events";

/**
 * Moves committed outbox events to pub/sub, oldest first. Every API instance runs one; they
 * take turns under a transaction-level advisory lock (see `relayBatch`), so events get their
 * public ids and are published in commit order. Polls every `intervalMs` while idle and
 * drains without pausing while there is a backlog; `wake()` (called after a write in this
 * process committed an event) relays at once instead of at the next poll.
 */
export function startOutboxRelay(options: {
  outbox: OutboxRepository;
  pubsub: PubSub;
  intervalMs: number;
  onError: (error: unknown) => void;
}): Poller {
  const { outbox, pubsub, intervalMs, onError } = options;
  return startPoller({
    intervalMs,
    onError,
    async step(stopping) {
      for (;;) {
        const relayed = await outbox.relayBatch(100, async (events) => {
          // Sent back to back on one connection: Redis receives them in order, and the relay
          // lock is held for one round trip rather than one per event.
          await Promise.all(events.map((event) => pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event))));
        });
        if (relayed < 100 || stopping.aborted) break;
      }
    },
  });
}
