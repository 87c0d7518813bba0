import { describe, expect, it } from "vitest";
import * as ws from "ws";
import { WebSocket } from "ws";
import {
  CLOSE_SLOW_CONSUMER,
  CLOSE_UNAUTHORIZED,
  createLiveHub,
  type LiveIdentity,
  type LiveSocket,
  type LiveTransport,
  MAX_BUFFERED_BYTES,
} from "../../src/modules/live/live-hub.js";
import type { LiveEvent } from "../../src/platform/events/outbox.js";

// ws's frame parser (exported by ws, not declared by @types/ws): what a real client runs.
const { Receiver } = ws as unknown as {
  Receiver: new (options: {
    isServer: boolean;
  }) => NodeJS.WritableStream & { on(event: "message", listener: (data: Buffer) => void): void };
};

/** A socket and the raw stream under it, recording what the hub does to them. */
function fakeClient(options: { extensions?: string } = {}) {
  const calls: string[] = [];
  const frames: Buffer[] = [];
  const closes: number[] = [];
  const closeListeners: (() => void)[] = [];
  let unsent = 0;
  const socket = {
    readyState: WebSocket.OPEN as number,
    extensions: options.extensions ?? "",
    // As in ws: the raw socket's unsent bytes (the test sets them to play a slow reader).
    get bufferedAmount() {
      return unsent;
    },
    send(data: Buffer) {
      calls.push("send");
      frames.push(Buffer.from(data));
    },
    close(code: number) {
      closes.push(code);
      socket.readyState = WebSocket.CLOSING;
    },
    on(event: string, listener: () => void) {
      if (event === "close") closeListeners.push(listener);
      return socket;
    },
  };
  const transport: LiveTransport = {
    write(data) {
      calls.push("write");
      frames.push(data);
      return true;
    },
    cork: () => calls.push("cork"),
    uncork: () => calls.push("uncork"),
  };
  /** The messages the frames written to the transport carry, decoded as a ws client would. */
  async function received() {
    const receiver = new Receiver({ isServer: false });
    const messages: unknown[] = [];
    receiver.on("message", (data) => messages.push(JSON.parse(data.toString())));
    for (const frame of frames) receiver.write(frame);
    await new Promise((resolve) => setImmediate(resolve));
    return messages;
  }
  return {
    socket: socket as unknown as LiveSocket & { readyState: number },
    transport,
    calls,
    frames,
    closes,
    received,
    setUnsent: (bytes: number) => {
      unsent = bytes;
    },
    emitClose: () => {
      for (const listener of closeListeners) listener();
    },
  };
}

const identity = (userId: number): LiveIdentity => ({
  userId,
  sessionId: `s${userId}`,
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  accessToken: "token",
});

const event = (id: number, userId: number | null = null): LiveEvent => ({
  id,
  type: "post.created",
  userId,
  data: { n: id },
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function countingMetrics() {
  const counts = { sent: 0, slow: 0 };
  return {
    counts,
    metrics: {
      liveMessagesSent: { inc: () => void counts.sent++ },
      liveSlowConsumerCloses: { inc: () => void counts.slow++ },
    },
  };
}

async function joined(hub: ReturnType<typeof createLiveHub>, userId = 1, client = fakeClient()) {
  await hub.join(client.socket, client.transport, identity(userId), undefined, async () => []).caughtUp;
  return client;
}

describe("live hub", () => {
  it("sends a burst of one turn to each socket in one cork, as valid text frames in id order", async () => {
    const { counts, metrics } = countingMetrics();
    const hub = createLiveHub(metrics);
    const a = await joined(hub, 1);
    const b = await joined(hub, 2);
    for (let id = 1; id <= 5; id++) hub.deliver(event(id));
    expect(a.calls).toEqual([]); // nothing before the next turn
    await nextTurn();
    for (const client of [a, b]) {
      expect(client.calls).toEqual(["cork", "write", "write", "write", "write", "write", "uncork"]);
      expect(await client.received()).toEqual(
        [1, 2, 3, 4, 5].map((id) => ({ id, type: "post.created", data: { n: id } })),
      );
    }
    expect(counts.sent).toBe(10);
  });

  it("keeps delivering to the other sockets, and later events, when a send throws for one", async () => {
    const failures: unknown[] = [];
    const hub = createLiveHub(undefined, (error) => failures.push(error));
    const broken = await joined(hub, 1);
    const healthy = await joined(hub, 2);
    broken.transport.write = () => {
      throw new Error("socket gone");
    };
    hub.deliver(event(1));
    await nextTurn();
    hub.deliver(event(2));
    await nextTurn();
    expect(failures).toHaveLength(2);
    expect(await healthy.received()).toEqual(
      [1, 2].map((id) => ({ id, type: "post.created", data: { n: id } })),
    );
  });

  it("flushes many sockets a chunk per turn; events arriving meanwhile make the next batch", async () => {
    const hub = createLiveHub();
    const many = [];
    for (let i = 0; i < 250; i++) many.push(await joined(hub, i));
    hub.deliver(event(1));
    await nextTurn();
    expect(many.filter((c) => c.calls.length > 0).length).toBeGreaterThan(0);
    expect(many.at(-1)?.calls).toEqual([]); // not reached yet: other work runs between chunks
    hub.deliver(event(2));
    hub.deliver(event(3));
    const last = many.at(-1);
    last?.socket.close(1001); // began closing before the flush reached it
    last?.emitClose();
    for (let turn = 0; turn < 10; turn++) await nextTurn();
    for (const client of many.slice(0, -1)) {
      expect(client.calls).toEqual(["cork", "write", "uncork", "cork", "write", "write", "uncork"]);
      expect((await client.received()).map((m) => (m as LiveEvent).id)).toEqual([1, 2, 3]);
    }
    expect(last?.calls).toEqual([]);
  });

  it("sends each event once and in order across batches", async () => {
    const hub = createLiveHub();
    const a = await joined(hub);
    hub.deliver(event(1));
    hub.deliver(event(2));
    await nextTurn();
    hub.deliver(event(2)); // a repeat
    hub.deliver(event(3));
    await nextTurn();
    hub.deliver(event(1)); // an old one
    await nextTurn();
    expect((await a.received()).map((m) => (m as LiveEvent).id)).toEqual([1, 2, 3]);
    expect(a.calls).toEqual(["cork", "write", "write", "uncork", "cork", "write", "uncork"]);
  });

  it("sends a user's own events to that user only", async () => {
    const hub = createLiveHub();
    const a = await joined(hub, 1);
    const b = await joined(hub, 2);
    hub.deliver(event(1, 2));
    hub.deliver(event(2, null));
    hub.deliver(event(3, 1));
    await nextTurn();
    expect((await a.received()).map((m) => (m as LiveEvent).id)).toEqual([2, 3]);
    expect((await b.received()).map((m) => (m as LiveEvent).id)).toEqual([1, 2]);
    const c = await joined(hub, 3);
    hub.deliver(event(4, 1));
    await nextTurn();
    expect(c.calls).toEqual([]); // nothing visible: not even a cork
  });

  it("holds live events while the catch-up runs, then sends both in id order, each once", async () => {
    const hub = createLiveHub();
    const client = fakeClient();
    let finishCatchUp: (events: LiveEvent[]) => void = () => {};
    const { caughtUp } = hub.join(
      client.socket,
      client.transport,
      identity(1),
      2,
      () => new Promise((resolve) => (finishCatchUp = resolve)),
    );
    hub.deliver(event(5));
    hub.deliver(event(6));
    await nextTurn();
    expect(client.calls).toEqual([]);
    finishCatchUp([event(3), event(4), event(5)]);
    await caughtUp;
    hub.deliver(event(7));
    await nextTurn();
    expect((await client.received()).map((m) => (m as LiveEvent).id)).toEqual([3, 4, 5, 6, 7]);
  });

  it("writes nothing to a socket that began closing before or during the batch", async () => {
    const hub = createLiveHub();
    const revoked = await joined(hub, 1);
    const shuttingDown = await joined(hub, 2);
    hub.deliver(event(1));
    hub.endSessions({ userId: 1, allSessions: true, sessionIds: [] });
    shuttingDown.socket.close(1001);
    await nextTurn();
    expect(revoked.closes).toEqual([CLOSE_UNAUTHORIZED]);
    expect(revoked.calls).toEqual([]);
    expect(shuttingDown.calls).toEqual([]);

    // Closed part-way through a batch (its first frame's write finds the peer gone).
    const dropped = await joined(hub, 3);
    const write = dropped.transport.write;
    dropped.transport.write = (data) => {
      write(data);
      dropped.socket.readyState = WebSocket.CLOSING;
      return false;
    };
    hub.deliver(event(2));
    hub.deliver(event(3));
    await nextTurn();
    expect(dropped.calls).toEqual(["cork", "write", "uncork"]);
    shuttingDown.emitClose();
    dropped.emitClose();
    expect(hub.size).toBe(0);
  });

  it("closes a slow consumer with 1013 and sends it nothing more", async () => {
    const { counts, metrics } = countingMetrics();
    const hub = createLiveHub(metrics);
    const slow = await joined(hub, 1);
    const fast = await joined(hub, 2);
    hub.deliver(event(1));
    await nextTurn();
    slow.setUnsent(MAX_BUFFERED_BYTES + 1);
    hub.deliver(event(2));
    hub.deliver(event(3));
    await nextTurn();
    expect(slow.closes).toEqual([CLOSE_SLOW_CONSUMER]);
    expect(slow.calls).toEqual(["cork", "write", "uncork"]);
    expect(counts.slow).toBe(1);
    expect(hub.size).toBe(1);
    hub.deliver(event(4));
    await nextTurn();
    expect(slow.calls).toEqual(["cork", "write", "uncork"]);
    expect((await fast.received()).map((m) => (m as LiveEvent).id)).toEqual([1, 2, 3, 4]);
  });

  it("counts only what a client left unread, not the batch corked for it, against the 1 MiB", async () => {
    // As a net.Socket: bytes written while corked wait in its buffer (ws's bufferedAmount)
    // until uncork; this reader keeps up, so uncork hands all of them to the kernel.
    const { counts, metrics } = countingMetrics();
    const hub = createLiveHub(metrics);
    const closes: number[] = [];
    let corked = 0;
    let waiting = 0;
    let delivered = 0;
    const socket = {
      readyState: WebSocket.OPEN as number,
      extensions: "",
      get bufferedAmount() {
        return waiting;
      },
      send() {},
      close(code: number) {
        closes.push(code);
        socket.readyState = WebSocket.CLOSING;
      },
      on: () => socket,
    };
    const transport: LiveTransport = {
      write(data) {
        if (corked > 0) waiting += data.length;
        else delivered += data.length;
        return true;
      },
      cork: () => void corked++,
      uncork: () => {
        corked--;
        if (corked === 0) {
          delivered += waiting;
          waiting = 0;
        }
      },
    };
    await hub.join(socket as unknown as LiveSocket, transport, identity(1), undefined, async () => [])
      .caughtUp;
    // Five long posts (100,000 characters of 3-byte UTF-8 each) in one relay round.
    for (let id = 1; id <= 5; id++) hub.deliver({ ...event(id), data: { content: "€".repeat(100_000) } });
    await nextTurn();
    expect(closes).toEqual([]);
    expect(counts.slow).toBe(0);
    expect(counts.sent).toBe(5);
    expect(delivered).toBeGreaterThan(5 * 300_000);
  });

  it("sends through ws when the socket compresses (permessage-deflate)", async () => {
    const hub = createLiveHub();
    const client = await joined(hub, 1, fakeClient({ extensions: "permessage-deflate" }));
    hub.deliver(event(1));
    hub.deliver(event(2));
    await nextTurn();
    expect(client.calls).toEqual(["send", "send"]);
    expect(client.frames.map((payload) => JSON.parse(payload.toString()).id)).toEqual([1, 2]);
  });
});
