import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  createKairaClient,
  KairaError,
  type LiveEvent,
  type Session,
} from "../../clients/typescript/src/index.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";
import { codeFor } from "../helpers/totp.js";

// The TypeScript client against a listening Kaira: real fetch, real WebSockets.
let t: TestApp;
let baseUrl: string;

beforeAll(async () => {
  t = await createTestApp();
  baseUrl = await t.app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(() => t.close());

/** A client whose fetch counts the refreshes it sends. */
function clientFor(session?: Session) {
  const refreshes = { count: 0 };
  const sessions: (Session | null)[] = [];
  const client = createKairaClient({
    baseUrl,
    WebSocket,
    ...(session ? { session } : {}),
    onSession: (next) => sessions.push(next),
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.endsWith("/auth/refresh")) refreshes.count++;
      return fetch(input, init);
    },
  });
  return { client, refreshes, sessions };
}

async function signedUp() {
  const { client, refreshes, sessions } = clientFor();
  const user = newUser();
  const created = await client.api.POST("/api/v1/users", { body: user });
  expect(created.response.status).toBe(201);
  const result = await client.login(user.email, user.password);
  expect(result.mfaRequired).toBe(false);
  return { client, refreshes, sessions, user, id: created.data?.id as number };
}

describe("the TypeScript client", () => {
  it("signs up, logs in and calls typed operations with the token", async () => {
    const { client, user, id } = await signedUp();
    const me = await client.api.GET("/api/v1/users/me");
    expect(me.response.status).toBe(200);
    expect(me.data).toMatchObject({ id, email: user.email, username: user.username });
    const post = await client.api.POST("/api/v1/posts", {
      body: { title: "From the client", content: "typed" },
    });
    expect(post.response.status).toBe(201);
    const read = await client.api.GET("/api/v1/posts/{id}", {
      params: { path: { id: post.data?.id as number } },
    });
    expect(read.data?.title).toBe("From the client");
  });

  it("throws a KairaError with the problem's code when a login fails", async () => {
    const { client } = clientFor();
    const failure = await client.login("nobody@example.com", "Wrong-password-123").catch((error) => error);
    expect(failure).toBeInstanceOf(KairaError);
    expect(failure).toMatchObject({ status: 401, code: "invalid_credentials" });
    expect(client.session).toBeNull();
  });

  it("renews an access token that stopped working, once for many concurrent requests", async () => {
    const { client: first } = await signedUp();
    const stale = { ...(first.session as Session), accessToken: "not-a-valid-token" };
    const { client, refreshes, sessions } = clientFor(stale);
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.api.GET("/api/v1/users/me")));
    expect(answers.map((answer) => answer.response.status)).toEqual([200, 200, 200, 200, 200]);
    expect(refreshes.count).toBe(1);
    expect(sessions).toHaveLength(1);
    expect(client.session?.accessToken).not.toBe("not-a-valid-token");
    expect(client.session?.refreshToken).not.toBe(stale.refreshToken);
  });

  it("hands back the 401 and forgets the session once it has ended", async () => {
    const { client } = await signedUp();
    const ended = { ...(client.session as Session) };
    await client.logout();
    const { client: stale, sessions } = clientFor(ended);
    const me = await stale.api.GET("/api/v1/users/me");
    expect(me.response.status).toBe(401);
    expect(stale.session).toBeNull();
    expect(sessions).toEqual([null]);
  });

  it("finishes a login with the MFA step", async () => {
    const { client, user } = await signedUp();
    const setup = await client.api.POST("/api/v1/auth/mfa/totp/setup", {
      body: { current_password: user.password },
    });
    expect(setup.response.status).toBe(200);
    const confirmed = await client.api.POST("/api/v1/auth/mfa/totp/confirm", {
      body: { code: codeFor(setup.data?.secret as string) },
    });
    const recoveryCodes = confirmed.data?.recovery_codes as string[];
    expect(recoveryCodes).toHaveLength(10);

    const { client: next } = clientFor();
    const step = await next.login(user.email, user.password);
    expect(step.mfaRequired).toBe(true);
    expect(next.session).toBeNull();
    if (!step.mfaRequired) return;
    const wrong = await next.verifyMfa(step.mfaToken, "000000").catch((error) => error);
    expect(wrong).toBeInstanceOf(KairaError);
    expect(wrong.status).toBe(401);
    // The mfa_token may be single-use: a fresh login gives a fresh one.
    const again = await next.login(user.email, user.password);
    if (!again.mfaRequired) throw new Error("expected the MFA step");
    const session = await next.verifyMfa(again.mfaToken, recoveryCodes[0] as string);
    expect(session.accessToken).toEqual(expect.any(String));
    expect((await next.api.GET("/api/v1/users/me")).data?.email).toBe(user.email);
  });

  it("uploads a file as multipart and reads it back", async () => {
    const { client } = await signedUp();
    const text = "notes from the client\n";
    const file = await client.uploadFile(new Blob([text], { type: "text/plain" }), "notes.txt");
    expect(file).toMatchObject({ filename: "notes.txt", size: text.length, content_type: "text/plain" });
    const got = await client.api.GET("/api/v1/files/{id}", {
      params: { path: { id: file.id } },
      parseAs: "text",
    });
    expect(got.data).toBe(text);
  });

  it("follows the live feed across a dropped connection without losing or repeating an event", async () => {
    const { client: reader } = await signedUp();
    const { client: writer } = await signedUp();
    const events: LiveEvent[] = [];
    const closes: { code: number; final: boolean }[] = [];
    let readies = 0;
    const feed = reader.liveFeed({
      onEvent: (event) => events.push(event),
      onReady: () => readies++,
      onClose: (close) => closes.push(close),
    });
    await waitFor(async () => readies === 1, 5_000, "the feed to be ready");
    const write = async (title: string) =>
      (await writer.api.POST("/api/v1/posts", { body: { title, content: "live" } })).data?.id as number;
    const first = await write("before the drop");
    await waitFor(
      async () => events.some((e) => (e.data as { id: number }).id === first),
      5_000,
      "first post",
    );

    // The connection drops (as a network would), and a post is written while it is down.
    for (const socket of t.app.websocketServer.clients) socket.terminate();
    await waitFor(async () => closes.length === 1, 5_000, "the drop to be seen");
    const missed = await write("while disconnected");
    await waitFor(async () => readies === 2, 10_000, "the feed to reconnect");
    const after = await write("after the reconnect");
    await waitFor(
      async () => events.some((e) => (e.data as { id: number }).id === after),
      5_000,
      "last post",
    );

    const created = events.filter((e) => e.type === "post.created").map((e) => (e.data as { id: number }).id);
    expect(created).toEqual([first, missed, after]);
    expect(closes[0]).toMatchObject({ final: false });
    expect(feed.lastEventId).toBe(events.at(-1)?.id);
    feed.close();
  });

  it("stops the live feed for good when its session is revoked", async () => {
    const { client } = await signedUp();
    const closes: { code: number; final: boolean }[] = [];
    let ready = false;
    client.liveFeed({
      onEvent: () => {},
      onReady: () => (ready = true),
      onClose: (close) => closes.push(close),
    });
    await waitFor(async () => ready, 5_000, "the feed to be ready");
    // Logging out elsewhere (another tab) with the same refresh token ends the session.
    await fetch(`${baseUrl}/api/v1/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: client.session?.refreshToken }),
    });
    await waitFor(async () => closes.some((close) => close.final), 5_000, "the feed to stop");
    expect(closes.at(-1)).toMatchObject({ code: 4401, final: true });
    expect(client.session).toBeNull();
  });

  it("keeps the refresh token in the HttpOnly cookie for a browser app, and resumes from it", async () => {
    // A browser's cookie jar, as far as this test needs one.
    const jar = new Map<string, string>();
    const sent: Headers[] = [];
    const browserFetch: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (jar.size)
        request.headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
      sent.push(request.headers);
      const response = await fetch(request);
      for (const line of response.headers.getSetCookie()) {
        const [pair = ""] = line.split(";");
        const [name = "", value = ""] = pair.split("=");
        if (/Max-Age=0/i.test(line) || value === "") jar.delete(name);
        else jar.set(name, value);
      }
      return response;
    };
    const browserClient = (csrfToken = () => jar.get("kaira_csrf")) =>
      createKairaClient({ baseUrl, fetch: browserFetch, refreshTokenDelivery: "cookie", csrfToken });

    const user = newUser();
    const client = browserClient();
    expect((await client.api.POST("/api/v1/users", { body: user })).response.status).toBe(201);
    const result = await client.login(user.email, user.password);
    expect(result.mfaRequired).toBe(false);
    expect(client.session?.refreshToken).toBeUndefined();
    expect(sent.at(-1)?.get("x-refresh-token-delivery")).toBe("cookie");
    expect(jar.has("kaira_refresh")).toBe(true);

    // A page load: a new client with no session resumes from the cookie.
    const reloaded = browserClient();
    expect(reloaded.session).toBeNull();
    const csrf = jar.get("kaira_csrf");
    const resumed = await reloaded.refresh();
    expect(resumed.accessToken).toEqual(expect.any(String));
    expect(sent.at(-1)?.get("x-csrf-token")).toBe(csrf);
    // The refresh rotated the cookie pair.
    expect(jar.get("kaira_csrf")).not.toBe(csrf);
    expect((await reloaded.api.GET("/api/v1/users/me")).data?.email).toBe(user.email);

    // Without the CSRF value there is nothing to send; with a wrong one the server refuses.
    await expect(browserClient(() => undefined).refresh()).rejects.toMatchObject({ code: "not_signed_in" });
    await expect(browserClient(() => "forged").refresh()).rejects.toMatchObject({
      status: 403,
      code: "csrf_failed",
    });

    // Logout ends the session and clears the cookies.
    await reloaded.logout();
    expect(jar.has("kaira_refresh")).toBe(false);
    expect(reloaded.session).toBeNull();
    await expect(browserClient().refresh()).rejects.toBeInstanceOf(KairaError);
  });
});
