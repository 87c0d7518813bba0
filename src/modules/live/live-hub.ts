import * as ws from "ws";
import { WebSocket } from "ws";
import type { LiveEvent } from "../../platform/events/outbox.js";
import { type Metrics, noMetrics } from "../../platform/metrics/metrics.js";
import type { RevokedSessions } from "../auth/session-revocations.js";

/** Past this much unsent data a client is too slow: it is disconnected, never buffered further. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_POLICY_VIOLATION = 1008;

// ws exports its Sender, whose static `frame` is public; @types/ws does not declare it.
const { Sender } = ws as unknown as {
  Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean },
    ): Buffer[];
  };
};

/**
 * Sockets written per event-loop turn. Between chunks the instance serves its HTTP requests,
 * and events arriving meanwhile join the next batch, so under load batches grow and system
 * calls per event fall: in the fan-out benchmark at 5,000 clients, against one pass over all
 * sockets, p99 fell from 408 to 270 ms and the HTTP write p50 from 231 to 18 ms; at 1,000
 * clients the two were within run-to-run noise.
 */
const FLUSH_CHUNK = 100;
/** A final, unmasked (server to client), uncompressed text frame. */
const TEXT_FRAME = { fin: true, opcode: 0x01, mask: false, readOnly: false, rsv1: false };

/** Who a socket authenticated as, and with which token. */
export interface LiveIdentity {
  userId: number;
  sessionId: string;
  /** The access token's expiry, in seconds since the epoch. */
  expiresAt: number;
  accessToken: string;
}

/** The parts of a ws WebSocket the hub uses. */
export type LiveSocket = Pick<
  WebSocket,
  "readyState" | "bufferedAmount" | "extensions" | "send" | "close" | "on"
>;

/**
 * The byte stream under a live socket (its `net.Socket`): the hub writes ready-made frames to
 * it, corked, so a socket costs one system call per batch of events, not one per message.
 */
export interface LiveTransport {
  write(data: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

interface Client extends LiveIdentity {
  socket: LiveSocket;
  /** Absent when frames must go through ws (permessage-deflate, or no raw socket at hand). */
  transport: LiveTransport | undefined;
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
  /** A send that failed for one client; delivery to the others, and of later events, goes on. */
  onDeliveryError: (error: unknown) => void = () => {},
) {
  const clients = new Set<Client>();

  function remove(client: Client) {
    clients.delete(client);
  }

  function unauthorize(client: Client, reason: string) {
    remove(client);
    client.socket.close(CLOSE_UNAUTHORIZED, reason);
  }

  // One event goes to every client: serialize and frame it once, not once per socket.
  const encoded = new WeakMap<LiveEvent, { payload: Buffer; frame: Buffer }>();
  const encode = (event: LiveEvent) => {
    let message = encoded.get(event);
    if (message === undefined) {
      const payload = Buffer.from(JSON.stringify({ id: event.id, type: event.type, data: event.data }));
      // The whole frame (header and payload) in one buffer: one write per socket, no framing.
      const frame = Buffer.concat(Sender.frame(payload, TEXT_FRAME));
      message = { payload, frame };
      encoded.set(event, message);
    }
    return message;
  };

  /**
   * Sends the client, in the given (id) order, the events it may see and has not had. Direct
   * writes happen inside one cork, so the socket's batch leaves in one system call.
   */
  function send(client: Client, events: readonly LiveEvent[]) {
    const { socket, transport } = client;
    let corked = false;
    try {
      for (const event of events) {
        if (event.id <= client.lastSentId || !visibleTo(event, client.userId)) continue;
        // A socket that began closing (4401, 1013, 1001) gets nothing more: a frame written
        // after ws's close frame would break the protocol.
        if (socket.readyState !== WebSocket.OPEN) return;
        // bufferedAmount counts the raw socket's unsent bytes, the direct writes among them,
        // and also this batch's frames held by the cork, which the kernel was not offered yet:
        // a client that reads would be taken for slow once a batch passed 1 MiB (a few long
        // posts). Past the limit, the corked frames go out first; what then stays unsent is
        // what the client left unread, as when every event was written on its own.
        let unsent = socket.bufferedAmount;
        if (corked && unsent > MAX_BUFFERED_BYTES) {
          transport?.uncork();
          corked = false;
          unsent = socket.bufferedAmount;
        }
        if (unsent > MAX_BUFFERED_BYTES) {
          socket.close(CLOSE_SLOW_CONSUMER, "slow consumer");
          remove(client);
          metrics.liveSlowConsumerCloses.inc({});
          return;
        }
        client.lastSentId = event.id;
        if (transport) {
          if (!corked) transport.cork();
          corked = true;
          transport.write(encode(event).frame);
        } else {
          socket.send(encode(event).payload, { binary: false });
        }
        metrics.liveMessagesSent.inc({});
      }
    } finally {
      if (corked) transport?.uncork();
    }
  }

  // Events that arrive in one event-loop turn (a relay round reaches pub/sub as a burst), or
  // while a flush is under way, are sent together: one system call per socket for the batch,
  // not one per event. A flush sends one batch to the clients there were when it began.
  let queued: LiveEvent[] = [];
  let flushing = false;
  function flush() {
    const batch = queued;
    queued = [];
    const targets = [...clients];
    let next = 0;
    const step = () => {
      const end = Math.min(next + FLUSH_CHUNK, targets.length);
      for (; next < end; next++) {
        const client = targets[next] as Client;
        if (!clients.has(client)) continue; // it left meanwhile
        // The flush runs outside the pub/sub handler that caught errors when sends were
        // synchronous: an escaping throw would leave `flushing` set and stop all delivery.
        try {
          if (client.pending) for (const event of batch) client.pending.push(event);
          else send(client, batch);
        } catch (error) {
          onDeliveryError(error);
        }
      }
      if (next < targets.length) setImmediate(step);
      else if (queued.length > 0) setImmediate(flush);
      else flushing = false;
    };
    step();
  }

  return {
    get size() {
      return clients.size;
    },

    /**
     * Adds an authenticated client. Live events are held while `catchUp` loads what it
     * missed; then both are sent in id order, each once. With a `transport` (the raw socket
     * under `socket`) frames are written to it directly, unless the socket compresses
     * (permessage-deflate): ws then queues messages while it compresses, and only its own
     * sends keep their order.
     */
    join(
      socket: LiveSocket,
      transport: LiveTransport | undefined,
      identity: LiveIdentity,
      since: number | undefined,
      catchUp: () => Promise<LiveEvent[]>,
    ): { caughtUp: Promise<void> } {
      const client: Client = {
        ...identity,
        socket,
        transport: socket.extensions === "" ? transport : undefined,
        lastSentId: since ?? 0,
        pending: [],
      };
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
        send(
          client,
          [...missed, ...held].sort((a, b) => a.id - b.id),
        );
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

    /** Queues the event; the queue is sent on the next turn of the event loop. */
    deliver(event: LiveEvent) {
      queued.push(event);
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
