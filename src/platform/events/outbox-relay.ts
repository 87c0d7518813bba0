import { type Poller, startPoller } from "../../shared/poller.js";
import type { PubSub } from "../pubsub/index.js";
import type { OutboxRepository } from "./outbox.js";

export const EVENTS_CHANNEL = "events";

/**
 * Least time between two relay rounds, however often writes wake the relay. A round costs
 * four statements whatever it carries; without a gap, a busy instance ran one round per write
 * (most of a post's API CPU went to relaying it). With it, writes that commit within 5 ms go
 * out in one round, and an event written while the relay is idle still goes out at once.
 */
export const RELAY_MIN_GAP_MS = 5;

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
  // Set by wake(): a write committed an event, so the round may skip its check for one.
  let woken = false;
  const poller = startPoller({
    intervalMs,
    onError,
    minGapMs: RELAY_MIN_GAP_MS,
    async step(stopping) {
      let known = woken;
      woken = false;
      for (;;) {
        const relayed = await outbox.relayBatch(100, { known }, async (events) => {
          // Sent back to back on one connection: Redis receives them in order, and the relay
          // lock is held for one round trip rather than one per event.
          await Promise.all(events.map((event) => pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event))));
        });
        if (relayed < 100 || stopping.aborted) break;
        known = false;
      }
    },
  });
  return {
    wake() {
      woken = true;
      poller.wake();
    },
    stop: () => poller.stop(),
  };
}
