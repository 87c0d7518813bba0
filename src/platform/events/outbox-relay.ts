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
}) {
  const { outbox, pubsub, intervalMs, onError } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let wokenWhileRunning = false;

  async function tick() {
    try {
      for (;;) {
        const relayed = await outbox.relayBatch(100, async (events) => {
          // Sent back to back on one connection: Redis receives them in order, and the relay
          // lock is held for one round trip rather than one per event.
          await Promise.all(events.map((event) => pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event))));
        });
        if (relayed < 100 || stopped) break;
      }
    } catch (error) {
      onError(error);
    }
  }

  function run() {
    clearTimeout(timer);
    running = tick().finally(() => {
      running = undefined;
      if (wokenWhileRunning && !stopped) {
        wokenWhileRunning = false;
        run();
      } else schedule();
    });
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(run, intervalMs);
  }
  schedule();

  return {
    wake() {
      if (stopped) return;
      if (running) wokenWhileRunning = true;
      else run();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
