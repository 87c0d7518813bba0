import type { WebSocket } from "ws";
import { type Metrics, noMetrics } from "../../platform/metrics/metrics.js";
import type { LiveEvent } from "./outbox.js";

/** Past this much unsent data a client is too slow: it is disconnected, never buffered further. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_SLOW_CONSUMER = 1013;

interface Client {
  socket: WebSocket;
  userId: number;
  /** Highest event id sent, so catch-up and live delivery never send one twice. */
  lastSentId: number;
  /** Live events that arrive while the catch-up query runs wait here. */
  pending: LiveEvent[] | null;
}

const visibleTo = (event: LiveEvent, userId: number) => event.userId === null || event.userId === userId;

/** The live clients of this instance and delivery to them. */
export function createLiveHub(
  metrics: Pick<Metrics, "liveMessagesSent" | "liveSlowConsumerCloses"> = noMetrics,
) {
  const clients = new Set<Client>();

  // One event goes to every client: serialize and encode it once, not once per socket.
  const frames = new WeakMap<LiveEvent, Buffer>();
  const frameOf = (event: LiveEvent) => {
    let frame = frames.get(event);
    if (frame === undefined) {
      frame = Buffer.from(JSON.stringify({ id: event.id, type: event.type, data: event.data }));
      frames.set(event, frame);
    }
    return frame;
  };

  function send(client: Client, event: LiveEvent) {
    if (event.id <= client.lastSentId || !visibleTo(event, client.userId)) return;
    if (client.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      client.socket.close(CLOSE_SLOW_CONSUMER, "slow consumer");
      clients.delete(client);
      metrics.liveSlowConsumerCloses.inc({});
      return;
    }
    client.lastSentId = event.id;
    client.socket.send(frameOf(event), { binary: false });
    metrics.liveMessagesSent.inc({});
  }

  return {
    get size() {
      return clients.size;
    },

    /**
     * Adds an authenticated client. Live events are held while `catchUp` loads what it
     * missed; then both are sent in id order, each once.
     */
    async join(
      socket: WebSocket,
      userId: number,
      since: number | undefined,
      catchUp: () => Promise<LiveEvent[]>,
    ) {
      const client: Client = { socket, userId, lastSentId: since ?? 0, pending: [] };
      clients.add(client);
      socket.on("close", () => clients.delete(client));
      const missed = since !== undefined ? await catchUp() : [];
      const held = client.pending ?? [];
      client.pending = null;
      const all = [...missed, ...held].sort((a, b) => a.id - b.id);
      for (const event of all) send(client, event);
    },

    deliver(event: LiveEvent) {
      for (const client of clients) {
        if (client.pending) client.pending.push(event);
        else send(client, event);
      }
    },
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
