import net from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { EVENTS_CHANNEL } from "../../src/platform/events/outbox-relay.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";

// Real WebSockets against listening servers: two instances on one database, fanning out
// through the pub/sub port (in-process, or Redis when REDIS_URL is set).
let t: TestApp;
let second: FastifyInstance;
let urlA: string;
let urlB: string;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: "live-admin@example.com", ADMIN_PASSWORD: "AdminPass-123456" });
  second = await createSecondInstance(t);
  urlA = `${(await t.app.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
  urlB = `${(await second.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
  admin = (await login(t.app, "live-admin@example.com", "AdminPass-123456")).json().access_token;
});
afterAll(async () => {
  await second.close();
  await t.close();
});

interface Feed {
  socket: WebSocket;
  messages: { id?: number; type: string; data: Record<string, unknown>; receivedAt: number }[];
  closed: Promise<number>;
}

function connect(url: string, auth?: object): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages: Feed["messages"] = [];
    const closed = new Promise<number>((done) => socket.on("close", (code) => done(code)));
    socket.on("message", (data) =>
      messages.push({ ...JSON.parse(data.toString()), receivedAt: performance.now() }),
    );
    socket.on("error", reject);
    socket.on("open", () => {
      if (auth) socket.send(JSON.stringify(auth));
      resolve({ socket, messages, closed });
    });
  });
}

async function ready(url: string, session: Session, since?: number) {
  const feed = await connect(url, {
    type: "auth",
    access_token: session.access,
    ...(since !== undefined ? { since } : {}),
  });
  await waitFor(async () => feed.messages.some((m) => m.type === "ready"), 5_000, "ready");
  return feed;
}

const eventsOf = (feed: Feed, type: string) => feed.messages.filter((m) => m.type === type);

describe("GET /api/v1/ws", () => {
  it("delivers a post created through instance B to a client on instance A", async () => {
    const reader = await signUpAndLogin(t.app);
    const writer = await signUpAndLogin(second);
    const feed = await ready(urlA, reader);
    const started = performance.now();
    const created = await second.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(writer.access),
      payload: { title: "Live", content: "across instances" },
    });
    const event = await waitFor(
      async () => eventsOf(feed, "post.created").find((m) => m.data.id === created.json().id),
      5_000,
      "post.created",
    );
    console.log(
      `post.created reached the other instance's client ${Math.round(event.receivedAt - started)} ms after the request was sent`,
    );
    expect(event.id).toEqual(expect.any(Number));
    expect(event.data).toMatchObject({ title: "Live", author: { id: writer.id } });
    feed.socket.close();
  });

  it("sends transfer.received to the recipient only", async () => {
    const sender = await signUpAndLogin(t.app);
    const recipient = await signUpAndLogin(t.app);
    const bystander = await signUpAndLogin(t.app);
    await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: bearer(admin),
      payload: { user_id: sender.id, amount: 50 },
    });
    const [recipientFeed, bystanderFeed] = await Promise.all([
      ready(urlB, recipient),
      ready(urlB, bystander),
    ]);
    const sent = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(sender.access), "idempotency-key": `live-${sender.id}` },
      payload: { to_user_id: recipient.id, amount: 20 },
    });
    expect(sent.statusCode).toBe(201);
    const received = await waitFor(
      async () => eventsOf(recipientFeed, "transfer.received")[0],
      5_000,
      "transfer",
    );
    expect(received.data).toMatchObject({ id: sent.json().id, amount: 20, from_user_id: sender.id });
    // A later public event proves the bystander's feed is flowing, yet it never saw the transfer.
    const post = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(sender.access),
      payload: { title: "after", content: "x" },
    });
    await waitFor(
      async () => eventsOf(bystanderFeed, "post.created").some((m) => m.data.id === post.json().id),
      5_000,
      "bystander's post.created",
    );
    expect(eventsOf(bystanderFeed, "transfer.received")).toEqual([]);
    recipientFeed.socket.close();
    bystanderFeed.socket.close();
  });

  it("delivers a burst published in one turn whole, in order, as JSON text frames", async () => {
    // Events for one fresh user only, so no other test's socket sees these made-up ids. One
    // event is over 64 KiB and one over 125 bytes: every frame-length form of the header.
    const reader = await signUpAndLogin(t.app);
    const feeds = await Promise.all([ready(urlA, reader), ready(urlB, reader)]);
    const burst = Array.from({ length: 50 }, (_, i) => ({
      id: i + 1,
      type: "test.burst",
      userId: reader.id,
      data: { n: i + 1, pad: "x".repeat(i === 10 ? 70_000 : i === 20 ? 200 : 0) },
    }));
    await Promise.all(burst.map((event) => t.pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event))));
    for (const feed of feeds) {
      await waitFor(async () => eventsOf(feed, "test.burst").length >= 50, 5_000, "the burst");
      expect(
        eventsOf(feed, "test.burst").map((m) => [m.id, m.data.n, (m.data.pad as string).length]),
      ).toEqual(burst.map((e) => [e.id, e.data.n, e.data.pad.length]));
      feed.socket.close();
    }
  });

  it("does not close a client that reads as a slow consumer when one batch carries over 1 MiB", async () => {
    // Posts carry their content (up to 100,000 characters, 300 KB of UTF-8): a few long posts
    // in one relay round are a batch of over 1 MiB. Only bytes a client left unread count
    // against it, never the batch being written to it.
    const reader = await signUpAndLogin(t.app);
    const feed = await ready(urlA, reader);
    const burst = Array.from({ length: 5 }, (_, i) => ({
      id: i + 1,
      type: "test.long",
      userId: reader.id,
      data: { n: i + 1, content: "€".repeat(100_000) },
    }));
    await Promise.all(burst.map((event) => t.pubsub.publish(EVENTS_CHANNEL, JSON.stringify(event))));
    await Promise.race([
      waitFor(async () => eventsOf(feed, "test.long").length >= 5, 5_000, "the long posts"),
      feed.closed.then((code) => {
        throw new Error(`closed ${code}`);
      }),
    ]);
    expect(eventsOf(feed, "test.long").map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
    feed.socket.close();
  });

  it("drops a malformed pub/sub message with a warning and keeps delivering", async () => {
    // Delivery runs a turn after the subscriber's message handler, a burst as one batch: a
    // message that is not an event must be refused in the handler, or its throw in the flush
    // loses, for every socket, the good events batched with it.
    const reader = await signUpAndLogin(t.app);
    const feed = await ready(urlA, reader);
    for (const malformed of ["null", "7", '"text"', "[]", '{"type":"x"}'])
      await t.pubsub.publish(EVENTS_CHANNEL, malformed);
    await t.pubsub.publish(
      EVENTS_CHANNEL,
      JSON.stringify({ id: 1, type: "test.after", userId: reader.id, data: {} }),
    );
    await waitFor(async () => eventsOf(feed, "test.after").length === 1, 5_000, "the event after");
    feed.socket.close();
  });

  it("loses nothing across a reconnect while two instances write concurrently, ids only increasing", async () => {
    const reader = await signUpAndLogin(t.app);
    const writers = [await signUpAndLogin(t.app), await signUpAndLogin(second)];
    const first = await ready(urlA, reader);
    const tag = `burst${Date.now().toString(36)}`;
    const writes = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? second : t.app).inject({
        method: "POST",
        url: "/api/v1/posts",
        headers: bearer((writers[i % 2] as Session).access),
        payload: { title: `${tag} ${i}`, content: "x" },
      }),
    );
    const ours = (feed: Feed) =>
      eventsOf(feed, "post.created").filter((m) => String(m.data.title).startsWith(tag));
    // Drop the connection part-way through the burst, then come back with the last id seen.
    await waitFor(async () => ours(first).length >= 8, 10_000, "part of the burst");
    first.socket.close();
    await first.closed;
    const lastSeen = Math.max(...first.messages.filter((m) => m.id !== undefined).map((m) => m.id as number));
    const created = (await Promise.all(writes)).map((res) => res.json().id as number);
    const again = await ready(urlB, reader, lastSeen);
    await waitFor(async () => ours(first).length + ours(again).length >= 40, 10_000, "the rest of the burst");
    await new Promise((resolve) => setTimeout(resolve, 200));

    const received = [...ours(first), ...ours(again)].map((m) => m.data.id as number);
    expect(received.sort((x, y) => x - y)).toEqual(created.sort((x, y) => x - y)); // each once, none missing
    for (const feed of [first, again]) {
      const ids = feed.messages.filter((m) => m.id !== undefined).map((m) => m.id as number);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it("replays exactly the missed events to a client reconnecting with since", async () => {
    const user = await signUpAndLogin(t.app);
    const first = await ready(urlA, user);
    const before = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(user.access),
      payload: { title: "seen", content: "x" },
    });
    const seen = await waitFor(
      async () => eventsOf(first, "post.created").find((m) => m.data.id === before.json().id),
      5_000,
      "seen",
    );
    first.socket.close();
    await first.closed;

    const missedIds: number[] = [];
    for (const title of ["missed 1", "missed 2"]) {
      const res = await t.app.inject({
        method: "POST",
        url: "/api/v1/posts",
        headers: bearer(user.access),
        payload: { title, content: "x" },
      });
      missedIds.push(res.json().id);
    }
    await t.app.inject({
      method: "DELETE",
      url: `/api/v1/posts/${missedIds[0]}`,
      headers: bearer(user.access),
    });
    // Wait until the relay has published them, then reconnect with the last id seen.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const again = await ready(urlB, user, seen.id);
    await waitFor(async () => eventsOf(again, "post.deleted").length > 0, 5_000, "catch-up");
    const replayed = again.messages.filter((m) => m.type !== "ready");
    const mine = replayed.filter((m) => missedIds.includes(m.data.id as number));
    expect(mine.map((m) => m.type)).toEqual(["post.created", "post.created", "post.deleted"]);
    expect(replayed.every((m) => (m.id as number) > (seen.id as number))).toBe(true);
    const ids = replayed.map((m) => m.id as number);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    again.socket.close();
  });

  it("closes 4401 for a bad token and 4408 without an auth message", async () => {
    const bad = await connect(urlA, { type: "auth", access_token: "not-a-token" });
    expect(await bad.closed).toBe(4401);
    const garbage = await connect(urlA, { hello: "world" });
    expect(await garbage.closed).toBe(4401);
    const silent = await connect(urlA);
    expect(await silent.closed).toBe(4408);
  });
});

it("cuts off, at shutdown, a client that never answers the close frame, instead of waiting for it", async () => {
  const extra = await createSecondInstance(t);
  const address = new URL(await extra.listen({ port: 0, host: "127.0.0.1" }));
  // A raw client: it completes the upgrade, then neither reads nor answers anything.
  const raw = net.connect(Number(address.port), address.hostname);
  raw.on("error", () => {});
  const upgraded = new Promise<void>((resolve) => raw.once("data", () => resolve()));
  raw.write(
    "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await upgraded;
  raw.pause();
  const ended = new Promise<void>((resolve) => raw.once("close", () => resolve()));
  const started = Date.now();
  await extra.close();
  // ws alone would wait 30 s for the answer, past the shutdown deadline.
  expect(Date.now() - started).toBeLessThan(10_000);
  // Reading again lets the client see the end of the connection the server dropped.
  raw.resume();
  await ended;
}, 45_000);

it("closes live sockets with 1001 when the server shuts down", async () => {
  const extra = await createSecondInstance(t);
  const url = `${(await extra.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
  const feed = await ready(url, await signUpAndLogin(t.app));
  await extra.close();
  expect(await feed.closed).toBe(1001);
});
