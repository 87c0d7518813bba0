import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { bearer, signUpAndLogin } from "../helpers/auth.js";
import { closeCodeOf, openReadySocket } from "../helpers/live-socket.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";

// A user's sessions: listed with where they came from, ended one by one or all but the
// current one; an ended session's access tokens and sockets stop on every instance at once.
let t: TestApp;
let second: FastifyInstance;
let wsA: string;

beforeAll(async () => {
  t = await createTestApp();
  second = await createSecondInstance(t);
  wsA = `${(await t.app.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const loginAs = async (email: string, password: string, userAgent: string, ip = "127.0.0.1") => {
  const res = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    remoteAddress: ip,
    headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": userAgent },
    payload: new URLSearchParams({ username: email, password }).toString(),
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { access_token: string; refresh_token: string };
};
const listOn = (app: FastifyInstance, token: string) =>
  app.inject({ url: "/api/v1/auth/sessions", headers: bearer(token) });
const meOn = (app: FastifyInstance, token: string) =>
  app.inject({ url: "/api/v1/users/me", headers: bearer(token) });

describe("GET /auth/sessions", () => {
  it("lists each login with its client, newest use first, marking the caller's own", async () => {
    const s = await signUpAndLogin(t.app);
    const phone = await loginAs(s.email, s.password, "KairaPhone/1.0", "198.51.100.7");
    const laptop = await loginAs(s.email, s.password, `Laptop/${"x".repeat(1000)}`, "203.0.113.9");
    // A refresh keeps the session (and its client), and makes it the most recently used.
    const refreshed = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: phone.refresh_token },
    });
    expect(refreshed.statusCode).toBe(200);

    const res = await listOn(second, laptop.access_token);
    expect(res.statusCode).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    const items = res.json().items as Record<string, unknown>[];
    expect(items).toHaveLength(3);
    expect(items[0]).toMatchObject({
      user_agent: "KairaPhone/1.0",
      ip_address: "198.51.100.7",
      current: false,
    });
    const laptopEntry = items.find((item) => item.current === true);
    expect(laptopEntry?.ip_address).toBe("203.0.113.9");
    expect(String(laptopEntry?.user_agent)).toHaveLength(256);
    expect(items.filter((item) => item.current)).toHaveLength(1);
    const phoneEntry = items[0] as { created_at: string; last_used_at: string };
    expect(Date.parse(phoneEntry.last_used_at)).toBeGreaterThanOrEqual(Date.parse(phoneEntry.created_at));
    // Another user sees none of these.
    const other = await signUpAndLogin(t.app);
    expect((await listOn(t.app, other.access)).json().items).toHaveLength(1);
  });

  it("drops sessions that logged out", async () => {
    const s = await signUpAndLogin(t.app);
    const other = await loginAs(s.email, s.password, "Other/1");
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      payload: { refresh_token: other.refresh_token },
    });
    const items = (await listOn(t.app, s.access)).json().items;
    expect(items).toHaveLength(1);
    expect(items[0].current).toBe(true);
  });

  it("needs a token", async () => {
    expect((await t.app.inject({ url: "/api/v1/auth/sessions" })).statusCode).toBe(401);
  });
});

describe("DELETE /auth/sessions/{id}", () => {
  it("ends that session's access token on both instances and its socket at once; others go on", async () => {
    const s = await signUpAndLogin(t.app);
    const tablet = await loginAs(s.email, s.password, "Tablet/2");
    expect((await meOn(second, tablet.access_token)).statusCode).toBe(200);
    const socket = await openReadySocket(wsA, tablet.access_token);
    const kept = await openReadySocket(wsA, s.access);
    const tabletId = (await listOn(t.app, tablet.access_token))
      .json()
      .items.find((item: { current: boolean }) => item.current).id as string;

    const res = await second.inject({
      method: "DELETE",
      url: `/api/v1/auth/sessions/${tabletId}`,
      headers: bearer(s.access),
    });
    expect(res.statusCode).toBe(204);
    expect(await closeCodeOf(socket)).toBe(4401);
    for (const app of [t.app, second]) expect((await meOn(app, tablet.access_token)).statusCode).toBe(401);
    const refresh = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: tablet.refresh_token },
    });
    expect(refresh.statusCode).toBe(401);
    expect((await meOn(t.app, s.access)).statusCode).toBe(200);
    expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    kept.socket.close();
    expect((await listOn(t.app, s.access)).json().items.map((i: { id: string }) => i.id)).not.toContain(
      tabletId,
    );
  });

  it("answers 404 alike for another user's session, an unknown id and a malformed one", async () => {
    const owner = await signUpAndLogin(t.app);
    const attacker = await signUpAndLogin(t.app);
    const ownerSession = (await listOn(t.app, owner.access)).json().items[0].id as string;
    const answers = [];
    for (const id of [ownerSession, "00000000-0000-4000-8000-000000000000", "not-a-session"]) {
      const res = await t.app.inject({
        method: "DELETE",
        url: `/api/v1/auth/sessions/${id}`,
        headers: bearer(attacker.access),
      });
      answers.push(res.statusCode);
      expect(res.json().code).toBe("session_not_found");
    }
    expect(answers).toEqual([404, 404, 404]);
    expect((await meOn(t.app, owner.access)).statusCode).toBe(200);
  });

  it("ending the current session logs the caller out", async () => {
    const s = await signUpAndLogin(t.app);
    const id = (await listOn(t.app, s.access)).json().items[0].id as string;
    expect(
      (
        await t.app.inject({
          method: "DELETE",
          url: `/api/v1/auth/sessions/${id}`,
          headers: bearer(s.access),
        })
      ).statusCode,
    ).toBe(204);
    expect((await meOn(t.app, s.access)).statusCode).toBe(401);
  });
});

describe("POST /auth/sessions/revoke-others", () => {
  it("ends every other session everywhere and keeps the caller's", async () => {
    const s = await signUpAndLogin(t.app);
    const a = await loginAs(s.email, s.password, "A/1");
    const b = await loginAs(s.email, s.password, "B/1");
    const socket = await openReadySocket(wsA, b.access_token);
    const res = await second.inject({
      method: "POST",
      url: "/api/v1/auth/sessions/revoke-others",
      headers: bearer(s.access),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ revoked: 2 });
    expect(await closeCodeOf(socket)).toBe(4401);
    for (const token of [a.access_token, b.access_token]) {
      expect((await meOn(t.app, token)).statusCode).toBe(401);
      expect((await meOn(second, token)).statusCode).toBe(401);
    }
    expect((await meOn(second, s.access)).statusCode).toBe(200);
    expect((await listOn(t.app, s.access)).json().items).toHaveLength(1);
  });
});
