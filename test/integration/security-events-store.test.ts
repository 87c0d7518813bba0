import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createSecurityEventWriter } from "../../src/modules/security-events/security-event-writer.js";
import { createSecurityEventsRepository } from "../../src/modules/security-events/security-events.repository.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// Security events are stored beside the log for the admin view, filtered and keyset-paginated.
const ADMIN = { email: "events-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let admin: string;
let user: Session;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
  user = await signUpAndLogin(t.app);
});
afterAll(() => t.close());

const list = (query: Record<string, string>, token = admin) =>
  t.app.inject({
    url: `/api/v1/admin/security-events?${new URLSearchParams(query)}`,
    headers: bearer(token),
  });

/** Events are written in batches off the request path: wait for them with a deadline. */
const eventually = (query: Record<string, string>, count: number) =>
  waitFor(
    async () => {
      const items = (await list(query)).json().items as Record<string, unknown>[];
      return items.length >= count && items;
    },
    5_000,
    `${count} events matching ${JSON.stringify(query)}`,
  );

describe("GET /api/v1/admin/security-events", () => {
  it("keeps failed logins with the user, the address and the request id, never the password", async () => {
    const wrong = "Wrong-Password-991";
    await login(t.app, user.email, wrong);
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/token",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": "sec-evt-1" },
      payload: new URLSearchParams({ username: user.email, password: wrong }).toString(),
    });
    expect(res.statusCode).toBe(401);
    const items = await eventually({ event: "auth.login.failed", user_id: String(user.id) }, 2);
    expect(items[0]).toMatchObject({
      event: "auth.login.failed",
      user_id: user.id,
      ip: "127.0.0.1",
      request_id: "sec-evt-1",
      details: { reason: "bad_password" },
    });
    expect(JSON.stringify(items)).not.toContain(wrong);
  });

  it("pages newest first with a cursor and filters by time", async () => {
    const first = (await list({ user_id: String(user.id), limit: "1" })).json();
    expect(first.items).toHaveLength(1);
    const second = (await list({ user_id: String(user.id), limit: "1", cursor: first.next_cursor })).json();
    expect(second.items[0].id).toBeLessThan(first.items[0].id);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await list({ from: future })).json().items).toEqual([]);
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect((await list({ to: past })).json().items).toEqual([]);
    expect((await list({ cursor: "not-a-cursor" })).statusCode).toBe(422);
  });

  it("is for admins only", async () => {
    expect((await list({}, user.access)).statusCode).toBe(403);
    expect((await t.app.inject({ url: "/api/v1/admin/security-events" })).statusCode).toBe(401);
  });

  it("records an admin's deletion of another user's post with the reason (moderation)", async () => {
    const post = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(user.access),
      payload: { title: "To moderate", content: "spam" },
    });
    const id = post.json().id;
    const removed = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/posts/${id}?reason=${encodeURIComponent("Spam <b>link</b>")}`,
      headers: bearer(admin),
    });
    expect(removed.statusCode).toBe(204);
    const [event] = await eventually({ event: "post.moderated" }, 1);
    expect(event).toMatchObject({
      user_id: user.id,
      actor_id: expect.any(Number),
      details: { post_id: id, reason: "Spam <b>link</b>" },
    });
    // An author deleting their own post is not moderation.
    const own = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(user.access),
      payload: { title: "Mine", content: "x" },
    });
    await t.app.inject({
      method: "DELETE",
      url: `/api/v1/posts/${own.json().id}`,
      headers: bearer(user.access),
    });
    await eventually({ event: "post.moderated" }, 1);
    expect((await list({ event: "post.moderated" })).json().items).toHaveLength(1);
  });
});

describe("retention", () => {
  it("deletes events past their age, then all but the newest maxRows", async () => {
    const repository = createSecurityEventsRepository(t.db.database.db);
    const day = 86_400_000;
    const row = (event: string, ageMs: number) => ({
      occurredAt: new Date(Date.now() - ageMs),
      event,
      userId: null,
      actorId: null,
      ip: null,
      requestId: null,
      details: {},
    });
    await repository.insertMany([row("test.old", 100 * day), row("test.kept", 0), row("test.kept", 0)]);
    const deleted = await repository.deleteExpired(new Date(Date.now() - 90 * day), 2);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left = await repository.list({}, 100);
    expect(left.map((r) => r.event)).toEqual(["test.kept", "test.kept"]);
  });
});

describe("the writer", () => {
  it("drops events past its buffer and survives a failing insert, warning about both", async () => {
    const insertMany = vi.fn().mockRejectedValueOnce(new Error("database down")).mockResolvedValue(undefined);
    const warn = vi.fn();
    const writer = createSecurityEventWriter({
      repository: { insertMany },
      logger: { warn },
      maxBuffered: 2,
    });
    for (let i = 0; i < 5; i++) writer.record({ event: "test.flood", request_id: `r${i}` });
    await writer.flush();
    expect(insertMany).toHaveBeenCalledTimes(1);
    expect(insertMany.mock.calls[0]?.[0]).toHaveLength(2);
    const warned = warn.mock.calls.map((call) => call[0].event);
    expect(warned).toEqual(["security_events.write_failed", "security_events.dropped"]);
    writer.record({ event: "test.after", request_id: "r9" });
    await writer.close();
    expect(insertMany).toHaveBeenCalledTimes(2);
  });
});
