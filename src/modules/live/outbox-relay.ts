import type { PubSub } from "../../platform/pubsub/index.js";
import type { OutboxRepository } from "./outbox.js";

export const EVENTS_CHANNEL = "events";

/**
 * Moves committed outbox events to pub/sub, oldest first. Every API instance runs one; on
 * PostgreSQL they share the work through `FOR UPDATE SKIP LOCKED`. Polls every `intervalMs`
 * while idle and drains without pausing while there is a backlog; `wake()` (called after a
 * write in this process committed an event) relays at once instead of at the next poll.
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
          for (const event of events) await pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event));
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
      if (wokenWhileRunning) {
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
