import type { PubSub } from "../../platform/pubsub/index.js";
import type { OutboxRepository } from "./outbox.js";

export const EVENTS_CHANNEL = "events";

/**
 * Moves committed outbox events to pub/sub, oldest first. Every API instance runs one; on
 * PostgreSQL they share the work through `FOR UPDATE SKIP LOCKED`. Polls every `intervalMs`
 * while idle and drains without pausing while there is a backlog.
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
  let running: Promise<void> = Promise.resolve();

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

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, intervalMs);
  }
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
