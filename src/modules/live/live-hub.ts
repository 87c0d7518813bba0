import type { WebSocket } from "ws";
import type { LiveEvent } from "../../platform/events/outbox.js";
import { type Metrics, noMetrics } from "../../platform/metrics/metrics.js";
import type { RevokedSessions } from "../auth/session-revocations.js";

/** Past this much unsent data a client is too slow: it is disconnected, never buffered further. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_POLICY_VIOLATION = 1008;

/** Who a socket authenticated as, and with which token. */
export interface LiveIdentity {
  userId: number;
  sessionId: string;
  /** The access token's expiry, in seconds since the epoch. */
  expiresAt: number;
  accessToken: string;
}

interface Client extends LiveIdentity {
  socket: WebSocket;
  /** Highest event id sent, so catch-up and live delivery never send one twice. */
  lastSentId: number;
  /** Live events that arrive while the catch-up query runs wait here. */
  pending: LiveEvent[] | null;
}

const visibleTo = (event: LiveEvent, userId: number) => event.userId === null || event.userId === userId;

/**
 * The live clients of this instance and delivery to them. A socket lives only as long as the
 * authority it was opened with: it is closed with 4401 when its token expires or its session
 * is revoked. (How many sockets a user may hold is decided before `join`, by the socket slots.)
 */
export function createLiveHub(
  metrics: Pick<Metrics, "liveMessagesSent" | "liveSlowConsumerCloses"> = noMetrics,
) {
  const clients = new Set<Client>();

  function remove(client: Client) {
    clients.delete(client);
  }

  function unauthorize(client: Client, reason: string) {
    remove(client);
    client.socket.close(CLOSE_UNAUTHORIZED, reason);
  }

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
      remove(client);
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
    join(
      socket: WebSocket,
      identity: LiveIdentity,
      since: number | undefined,
      catchUp: () => Promise<LiveEvent[]>,
    ): { caughtUp: Promise<void> } {
      const client: Client = { ...identity, socket, lastSentId: since ?? 0, pending: [] };
      clients.add(client);
      // setTimeout cannot wait longer than 2^31 - 1 ms (tokens live at most a day anyway).
      const expiresInMs = Math.min(identity.expiresAt * 1000 - Date.now(), 2 ** 31 - 1);
      const expiry = setTimeout(() => unauthorize(client, "token expired"), Math.max(0, expiresInMs));
      expiry.unref();
      socket.on("close", () => {
        clearTimeout(expiry);
        remove(client);
      });
      const caughtUp = (since !== undefined ? catchUp() : Promise.resolve([])).then((missed) => {
        const held = client.pending ?? [];
        client.pending = null;
        const all = [...missed, ...held].sort((a, b) => a.id - b.id);
        for (const event of all) send(client, event);
      });
      return { caughtUp };
    },

    /** Closes (4401) this instance's sockets of sessions revoked on any instance. */
    endSessions(revoked: RevokedSessions) {
      for (const client of clients) {
        if (client.userId !== revoked.userId) continue;
        if (revoked.allSessions || revoked.sessionIds.includes(client.sessionId))
          unauthorize(client, "session revoked");
      }
    },

    /**
     * Checks every socket's token again, as a request would. Pub/sub can drop a message
     * while a connection is down; this sweep closes what such a message would have closed.
     */
    async recheck(isRevoked: (client: LiveIdentity) => Promise<boolean>) {
      for (const client of [...clients]) {
        if (await isRevoked(client).catch(() => false)) unauthorize(client, "session revoked");
      }
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
