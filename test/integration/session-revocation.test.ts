import { createHash, randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createAccessTokens } from "../../src/modules/auth/access-tokens.js";
import { loadSigningKeys } from "../../src/modules/auth/signing-keys.js";
import { refreshTokens } from "../../src/platform/database/schema.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";

// Revocation must end a session's authority at once on every instance: its access tokens
// (HTTP) and the live sockets opened with them. Two instances on one database share the
// cache and pub/sub ports (in process, or Redis when REDIS_URL is set).
const ADMIN = { email: "revocation-admin@example.com", password: "AdminPass-123456" };
const ALLOWED_ORIGIN = "https://app.example.com";
let t: TestApp;
let second: FastifyInstance;
let urlA: string;
let urlB: string;

beforeAll(async () => {
  t = await createTestApp({
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    CORS_ORIGINS: ALLOWED_ORIGIN,
    WS_MAX_SOCKETS_PER_USER: "3",
  });
  second = await createSecondInstance(t);
  urlA = `${(await t.app.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
  urlB = `${(await second.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const meOn = (app: FastifyInstance, token: string) =>
  app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
const refreshOn = (app: FastifyInstance, token: string) =>
  app.inject({ method: "POST", url: "/api/v1/auth/refresh", payload: { refresh_token: token } });
const logoutOn = (app: FastifyInstance, token: string) =>
  app.inject({ method: "POST", url: "/api/v1/auth/logout", payload: { refresh_token: token } });
const adminToken = async () =>
  (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token as string;

describe("access tokens end with their session, on every instance", () => {
  it("logout through one instance: that session's access token gets 401 on both at once", async () => {
    const s = await signUpAndLogin(t.app);
    const otherDevice = (await login(t.app, s.email, s.password)).json();
    // Verified (and so remembered) by both instances first.
    expect((await meOn(t.app, s.access)).statusCode).toBe(200);
    expect((await meOn(second, s.access)).statusCode).toBe(200);

    expect((await logoutOn(second, s.refresh)).statusCode).toBe(204);
    for (const app of [t.app, second]) {
      const res = await meOn(app, s.access);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe("invalid_token");
    }
    // Only that session ended: the user's other session keeps working.
    expect((await meOn(second, otherDevice.access_token)).statusCode).toBe(200);
  });

  it("refresh-token reuse revokes the family's current access token everywhere", async () => {
    const s = await signUpAndLogin(t.app);
    const rotated = (await refreshOn(t.app, s.refresh)).json();
    expect((await meOn(second, rotated.access_token)).statusCode).toBe(200);
    // The spent token comes back past the double-refresh leeway (a thief replaying it): the
    // whole family ends.
    await t.db.database.db
      .update(refreshTokens)
      .set({ usedAt: sql`now() - interval '1 minute'` })
      .where(eq(refreshTokens.tokenHash, createHash("sha256").update(s.refresh).digest("hex")));
    expect((await refreshOn(second, s.refresh)).statusCode).toBe(401);
    expect((await meOn(t.app, rotated.access_token)).statusCode).toBe(401);
    expect((await meOn(second, rotated.access_token)).statusCode).toBe(401);
    expect((await meOn(second, s.access)).statusCode).toBe(401);
  });

  it("deactivation and a password change end access on the other instance at once", async () => {
    const victim = await signUpAndLogin(t.app);
    const changer = await signUpAndLogin(t.app);
    expect((await meOn(second, victim.access)).statusCode).toBe(200);
    expect((await meOn(second, changer.access)).statusCode).toBe(200);
    const deactivated = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${victim.id}`,
      headers: bearer(await adminToken()),
      payload: { is_active: false },
    });
    expect(deactivated.statusCode).toBe(200);
    expect((await meOn(second, victim.access)).statusCode).toBe(401);
    expect((await refreshOn(second, victim.refresh)).statusCode).toBe(401);

    const changed = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(changer.access),
      payload: { password: "Brand-New-Pass-4711", current_password: changer.password },
    });
    expect(changed.statusCode).toBe(200);
    expect((await meOn(second, changer.access)).statusCode).toBe(401);
  });
});

interface Feed {
  socket: WebSocket;
  messages: { type: string; data?: Record<string, unknown> }[];
  closed: Promise<{ code: number; reason: string }>;
}

function openFeed(
  url: string,
  token: string | undefined,
  headers: Record<string, string> = {},
): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const messages: Feed["messages"] = [];
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      socket.on("close", (code, reason) => done({ code, reason: reason.toString() })),
    );
    socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
    socket.on("error", reject);
    socket.on("unexpected-response", (_request, response) =>
      reject(
        Object.assign(new Error(`handshake answered ${response.statusCode}`), {
          status: response.statusCode,
        }),
      ),
    );
    socket.on("open", () => {
      if (token !== undefined) socket.send(JSON.stringify({ type: "auth", access_token: token }));
      resolve({ socket, messages, closed });
    });
  });
}

async function readyFeed(url: string, token: string, headers: Record<string, string> = {}) {
  const feed = await openFeed(url, token, headers);
  await Promise.race([
    waitFor(async () => feed.messages.some((m) => m.type === "ready"), 5_000, "ready"),
    feed.closed.then(({ code }) => {
      throw new Error(`closed ${code} before ready`);
    }),
  ]);
  return feed;
}

/** Within a deadline: a close that never comes fails the test instead of hanging it. */
async function closeCode(feed: Feed, withinMs = 5_000): Promise<number> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`socket still open after ${withinMs} ms`)), withinMs).unref(),
  );
  return (await Promise.race([feed.closed, timeout])).code;
}

describe("live sockets end with the authority they were opened with", () => {
  it("logout through instance B closes the session's socket on instance A with 4401", async () => {
    const s = await signUpAndLogin(t.app);
    const otherSession = (await login(t.app, s.email, s.password)).json();
    const feed = await readyFeed(urlA, s.access);
    const untouched = await readyFeed(urlA, otherSession.access_token);
    expect((await logoutOn(second, s.refresh)).statusCode).toBe(204);
    expect(await closeCode(feed)).toBe(4401);
    // The user's other session keeps its socket.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(untouched.socket.readyState).toBe(WebSocket.OPEN);
    untouched.socket.close();
  });

  it("a password change closes every socket of the user on every instance", async () => {
    const s = await signUpAndLogin(t.app);
    const feeds = [await readyFeed(urlA, s.access), await readyFeed(urlB, s.access)];
    const changed = await second.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(s.access),
      payload: { password: "Changed-Pass-8642", current_password: s.password },
    });
    expect(changed.statusCode).toBe(200);
    for (const feed of feeds) expect(await closeCode(feed)).toBe(4401);
  });

  it("deactivation closes the user's sockets and the old token cannot reconnect", async () => {
    const s: Session = await signUpAndLogin(t.app);
    const feed = await readyFeed(urlB, s.access);
    const deactivated = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${s.id}`,
      headers: bearer(await adminToken()),
      payload: { is_active: false },
    });
    expect(deactivated.statusCode).toBe(200);
    expect(await closeCode(feed)).toBe(4401);
    // Reconnecting with the old token is refused.
    const again = await openFeed(urlA, s.access);
    expect(await closeCode(again)).toBe(4401);
  });

  it("closes a socket with 4401 when its access token expires", async () => {
    const s = await signUpAndLogin(t.app);
    // A token of this user that lives 2 s, signed with the instances' own key.
    const shortLived = createAccessTokens(loadSigningKeys(t.config), {
      ...t.config.auth,
      accessTokenTtlSeconds: 2,
    });
    const token = await shortLived.issue({
      userId: s.id,
      scopes: ["posts:write"],
      version: 0,
      sessionId: randomUUID(),
    });
    const feed = await readyFeed(urlA, token);
    const opened = Date.now();
    expect(await closeCode(feed, 6_000)).toBe(4401);
    expect(Date.now() - opened).toBeLessThan(4_000);
  });

  it("accepts only CORS_ORIGINS, the server's own origin, and clients that send no Origin", async () => {
    const s = await signUpAndLogin(t.app);
    await expect(openFeed(urlA, s.access, { origin: "http://evil.example" })).rejects.toMatchObject({
      status: 403,
    });
    const allowed = await readyFeed(urlA, s.access, { origin: ALLOWED_ORIGIN });
    const noOrigin = await readyFeed(urlB, s.access);
    // The server's own pages (the web app, the console): the Origin is the address served.
    const sameOrigin = await readyFeed(urlA, s.access, {
      origin: new URL(urlA).origin.replace("ws", "http"),
    });
    // A look-alike host is another origin.
    const host = new URL(urlA).host;
    await expect(openFeed(urlA, s.access, { origin: `http://${host}.evil.example` })).rejects.toMatchObject({
      status: 403,
    });
    allowed.socket.close();
    noOrigin.socket.close();
    sameOrigin.socket.close();
  });

  it("caps sockets per user across instances: the one over WS_MAX_SOCKETS_PER_USER is closed with 1008", async () => {
    const s = await signUpAndLogin(t.app);
    // Two sockets on A and one on B fill the user's three places: the cap is the user's,
    // not each instance's, so a fourth is refused on either instance.
    const feeds = [
      await readyFeed(urlA, s.access),
      await readyFeed(urlA, s.access),
      await readyFeed(urlB, s.access),
    ];
    for (const url of [urlB, urlA]) {
      const over = await openFeed(url, s.access);
      expect(await closeCode(over)).toBe(1008);
      expect(over.messages.some((m) => m.type === "ready")).toBe(false);
    }
    // Another user is not affected, and a closed socket frees its place.
    const other = await readyFeed(urlA, (await signUpAndLogin(t.app)).access);
    feeds[0]?.socket.close();
    await feeds[0]?.closed;
    await waitFor(
      async () => {
        const next = await openFeed(urlB, s.access);
        const result = await Promise.race([
          waitFor(async () => next.messages.some((m) => m.type === "ready"), 2_000, "ready").then(
            () => "ready",
          ),
          next.closed.then(() => "closed"),
        ]);
        next.socket.close();
        return result === "ready";
      },
      5_000,
      "a freed place",
    );
    for (const feed of [...feeds, other]) feed.socket.close();
  });
});
