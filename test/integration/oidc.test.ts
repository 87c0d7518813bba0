import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { OAuth2Server } from "oauth2-mock-server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { refreshTokens } from "../../src/platform/database/schema.js";
import { bearer, login, signUpAndLogin } from "../helpers/auth.js";
import { freePort } from "../helpers/process.js";
import { createSecondInstance, createTestApp, newUser, type TestApp } from "../helpers/test-app.js";
import { codeFor } from "../helpers/totp.js";

// OpenID Connect sign-in against a real provider (oauth2-mock-server) listening on its own
// port: the whole redirect dance over HTTP, as a browser follows it, and its failures.
const RETURN_URL = "http://app.example.test/signed-in";
const provider = new OAuth2Server();
/** How long the one-time sign-in code lives on the instance `shortLived`. */
const SHORT_CODE_TTL_MS = 1_500;
let t: TestApp;
/** Another instance on the same database and cache (Redis when REDIS_URL is set). */
let second: FastifyInstance;
/** Another instance whose one-time sign-in codes live SHORT_CODE_TTL_MS. */
let shortLived: FastifyInstance;
let base: string;
type Claims = Record<string, unknown>;
let claims: Claims = {};
let tamper: ((payload: Claims) => void) | undefined;
let refuseCode = false;

beforeAll(async () => {
  await provider.issuer.keys.generate("RS256");
  await provider.start(0, "127.0.0.1");
  provider.service.on("beforeTokenSigning", (token: { payload: Claims }) => {
    Object.assign(token.payload, claims);
    tamper?.(token.payload);
  });
  provider.service.on(
    "beforeResponse",
    (response: { statusCode: number; body: unknown }, req: { body?: { grant_type?: string } }) => {
      if (refuseCode && req.body?.grant_type === "authorization_code") {
        response.statusCode = 400;
        response.body = { error: "invalid_grant", error_description: "code expired" };
      }
    },
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  t = await createTestApp({
    OIDC_PROVIDERS: "mock",
    OIDC_MOCK_ISSUER: provider.issuer.url as string,
    OIDC_MOCK_CLIENT_ID: "kaira-test",
    OIDC_MOCK_CLIENT_SECRET: "kaira-test-secret",
    OIDC_RETURN_URL: RETURN_URL,
    OIDC_CALLBACK_BASE_URL: base,
  });
  await t.app.listen({ port, host: "127.0.0.1" });
  second = await createSecondInstance(t);
  shortLived = await createSecondInstance(t, { testHooks: { oidcSignInCodeTtlMs: SHORT_CODE_TTL_MS } });
});
afterAll(async () => {
  await shortLived.close();
  await second.close();
  await t.close();
  await provider.stop();
});
afterEach(() => {
  claims = {};
  tamper = undefined;
  refuseCode = false;
});

const get = (url: string, cookie?: string) =>
  fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });

/** Where a flow begins: the browser's cookie and the provider's authorization URL. */
interface Started {
  cookie: string;
  authorize: URL;
}

/** A sign-in flow: GET /start redirects the browser to the provider. */
async function startSignIn(): Promise<Started> {
  const start = await get(`${base}/api/v1/auth/oidc/mock/start`);
  expect(start.status).toBe(302);
  expect(start.headers.get("set-cookie")).toContain("HttpOnly");
  return {
    cookie: (start.headers.get("set-cookie") ?? "").split(";")[0] as string,
    authorize: new URL(start.headers.get("location") as string),
  };
}

/** A signed-in user's explicit link: POST /link answers the URL to send the browser to. */
async function startLink(accessToken: string): Promise<Started> {
  const res = await fetch(`${base}/api/v1/auth/oidc/mock/link`, {
    method: "POST",
    headers: bearer(accessToken),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("set-cookie")).toContain("HttpOnly");
  return {
    cookie: (res.headers.get("set-cookie") ?? "").split(";")[0] as string,
    authorize: new URL(((await res.json()) as { authorization_url: string }).authorization_url),
  };
}

/** The callback delivered to another instance than the one the browser started on. */
async function callbackOn(app: FastifyInstance, url: URL, cookie: string | undefined) {
  const res = await app.inject({
    url: `${url.pathname}${url.search}`,
    headers: cookie ? { cookie } : {},
  });
  return new Response(null, { status: res.statusCode, headers: { location: String(res.headers.location) } });
}

/** A browser's trip: start → provider → callback; returns where it lands on the client. */
async function dance(
  options: {
    alterCallback?: (url: URL) => void;
    dropCookie?: boolean;
    start?: () => Promise<Started>;
    /** The instance that takes the callback (the listening one unless said). */
    callbackTo?: FastifyInstance;
  } = {},
) {
  const { cookie, authorize } = await (options.start ?? startSignIn)();
  expect(authorize.origin).toBe(new URL(provider.issuer.url as string).origin);
  expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
  expect(authorize.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const atProvider = await get(authorize.toString());
  expect(atProvider.status).toBe(302);
  const callback = new URL(atProvider.headers.get("location") as string);
  expect(callback.origin).toBe(base);
  options.alterCallback?.(callback);
  const sentCookie = options.dropCookie ? undefined : cookie;
  const back = options.callbackTo
    ? await callbackOn(options.callbackTo, callback, sentCookie)
    : await get(callback.toString(), sentCookie);
  expect(back.status).toBe(302);
  const landed = new URL(back.headers.get("location") as string);
  expect(`${landed.origin}${landed.pathname}`).toBe(RETURN_URL);
  expect(landed.searchParams.has("access_token")).toBe(false);
  return { code: landed.searchParams.get("code"), error: landed.searchParams.get("error") };
}

const exchange = (code: string) =>
  fetch(`${base}/api/v1/auth/oidc/exchange`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
const exchangeOn = (app: FastifyInstance, code: string) =>
  app.inject({ method: "POST", url: "/api/v1/auth/oidc/exchange", payload: { code } });
const unlinkOn = (app: FastifyInstance, token: string, id: number) =>
  app.inject({ method: "DELETE", url: `/api/v1/users/me/identities/${id}`, headers: bearer(token) });

const identitiesOf = async (token: string) =>
  (await t.app.inject({ url: "/api/v1/users/me/identities", headers: bearer(token) })).json().items;

describe("the redirect dance", () => {
  it("creates an account for a new verified email, and signs the same person in again", async () => {
    const email = newUser().email;
    claims = { sub: `sub-${email}`, email, email_verified: true };
    const { code, error } = await dance();
    expect(error).toBeNull();
    const res = await exchange(code as string);
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as { access_token: string };
    const me = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(tokens.access_token) });
    expect(me.json().email).toBe(email);
    // The provider verified it: no verification mail is needed before using the account.
    expect(me.json().email_verified).toBe(true);
    expect(await identitiesOf(tokens.access_token)).toMatchObject([{ provider: "mock", email }]);
    // The one-time code is spent.
    expect((await exchange(code as string)).status).toBe(401);
    // Again: the same account, found by (provider, sub).
    const again = await exchange((await dance()).code as string);
    const meAgain = await t.app.inject({
      url: "/api/v1/users/me",
      headers: bearer(((await again.json()) as { access_token: string }).access_token),
    });
    expect(meAgain.json().id).toBe(me.json().id);
    // No password: the only way in cannot be unlinked.
    const [identity] = await identitiesOf(tokens.access_token);
    const unlink = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/users/me/identities/${identity.id}`,
      headers: bearer(tokens.access_token),
    });
    expect(unlink.statusCode).toBe(409);
  });

  it("links an existing account by email only when the provider verified it", async () => {
    const s = await signUpAndLogin(t.app);
    claims = { sub: `unverified-${s.id}`, email: s.email, email_verified: false };
    expect(await dance()).toEqual({ code: null, error: "account_exists_link_required" });
    expect(await identitiesOf(s.access)).toEqual([]);
    claims = { sub: `verified-${s.id}`, email: s.email.toUpperCase(), email_verified: true };
    const tokens = (await (await exchange((await dance()).code as string)).json()) as {
      access_token: string;
    };
    const me = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(tokens.access_token) });
    expect(me.json().id).toBe(s.id);
    // With a password left, unlinking is allowed.
    const [identity] = await identitiesOf(s.access);
    const unlink = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/users/me/identities/${identity.id}`,
      headers: bearer(s.access),
    });
    expect(unlink.statusCode).toBe(204);
  });

  it("still asks a user with MFA for a code after the provider", async () => {
    const s = await signUpAndLogin(t.app);
    const setup = (
      await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/mfa/totp/setup",
        headers: bearer(s.access),
        payload: { current_password: s.password },
      })
    ).json();
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/mfa/totp/confirm",
      headers: bearer(s.access),
      payload: { code: codeFor(setup.secret) },
    });
    claims = { sub: `mfa-${s.id}`, email: s.email, email_verified: true };
    const res = await exchange((await dance()).code as string);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: string; mfa_token: string };
    expect(body.error).toBe("mfa_required");
    const verified = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/mfa/verify",
      payload: { mfa_token: body.mfa_token, code: codeFor(setup.secret, 1) },
    });
    expect(verified.statusCode).toBe(200);
  });

  it("puts the refresh token in the HttpOnly cookie for a browser app that asks", async () => {
    claims = { sub: `cookie-${Date.now()}`, email: newUser().email, email_verified: true };
    const { code } = await dance();
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/oidc/exchange",
      headers: { "x-refresh-token-delivery": "cookie" },
      payload: { code },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().access_token).toEqual(expect.any(String));
    expect(res.json().refresh_token).toBeUndefined();
    const cookies = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
    const refresh = cookies.find((c) => c.startsWith("kaira_refresh="));
    const csrf = cookies.find((c) => c.startsWith("kaira_csrf="));
    expect(refresh).toContain("HttpOnly");
    // The cookie refreshes like one from the token endpoint.
    const again = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      headers: {
        cookie: `${refresh?.split(";")[0]}; ${csrf?.split(";")[0]}`,
        "x-csrf-token": csrf?.split(";")[0]?.slice("kaira_csrf=".length) ?? "",
        "x-refresh-token-delivery": "cookie",
      },
      payload: {},
    });
    expect(again.statusCode).toBe(200);
  });
});

describe("refusals", () => {
  it("a tampered state, or a callback in another browser, is invalid_state", async () => {
    claims = { sub: "state-test", email: newUser().email, email_verified: true };
    expect(
      (await dance({ alterCallback: (url) => url.searchParams.set("state", "A".repeat(43)) })).error,
    ).toBe("invalid_state");
    expect((await dance({ dropCookie: true })).error).toBe("invalid_state");
  });

  it("an ID token with another nonce is refused", async () => {
    claims = { sub: "nonce-test", email: newUser().email, email_verified: true };
    tamper = (payload) => {
      payload.nonce = "not-the-nonce-we-sent";
    };
    expect(await dance()).toEqual({ code: null, error: "provider_error" });
  });

  it("an ID token from a foreign issuer, or for another client, is refused", async () => {
    claims = { sub: "issuer-test", email: newUser().email, email_verified: true };
    tamper = (payload) => {
      payload.iss = "https://evil.example";
    };
    expect((await dance()).error).toBe("provider_error");
    tamper = (payload) => {
      payload.aud = "someone-else";
    };
    expect((await dance()).error).toBe("provider_error");
    tamper = (payload) => {
      payload.exp = Math.floor(Date.now() / 1000) - 3600;
    };
    expect((await dance()).error).toBe("provider_error");
  });

  it("an authorization code the provider refuses (expired) and an unknown sign-in code fail cleanly", async () => {
    claims = { sub: "expired-test", email: newUser().email, email_verified: true };
    refuseCode = true;
    expect((await dance()).error).toBe("provider_error");
    const res = await exchange("B".repeat(43));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_grant");
  });

  it("an unverified email of nobody creates no account", async () => {
    const email = newUser().email;
    claims = { sub: "unverified-new", email, email_verified: false };
    expect((await dance()).error).toBe("verified_email_required");
    expect((await login(t.app, email, "whatever-password")).statusCode).toBe(401);
  });

  it("an unknown provider is 404", async () => {
    expect((await get(`${base}/api/v1/auth/oidc/nope/start`)).status).toBe(404);
  });
});

describe("linking explicitly", () => {
  it("links a provider account with an unverified email to the signed-in user, listed at /users/me/identities", async () => {
    const s = await signUpAndLogin(t.app);
    // Unverified, and even another address: the signed-in user vouches for the link, not the email.
    const providerEmail = newUser().email;
    claims = { sub: `link-${s.id}`, email: providerEmail, email_verified: false };
    const { code, error } = await dance({ start: () => startLink(s.access) });
    expect(error).toBeNull();
    expect(await identitiesOf(s.access)).toMatchObject([{ provider: "mock", email: providerEmail }]);
    // The callback also signed the user in: the code is theirs.
    const tokens = (await (await exchange(code as string)).json()) as { access_token: string };
    const me = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(tokens.access_token) });
    expect(me.json()).toMatchObject({ id: s.id, email: s.email });
    // From now on that provider account signs in to this user, whatever its email says.
    const again = (await (await exchange((await dance()).code as string)).json()) as { access_token: string };
    expect(
      (await t.app.inject({ url: "/api/v1/users/me", headers: bearer(again.access_token) })).json().id,
    ).toBe(s.id);
  });

  it("refuses to link a provider account already linked to another user", async () => {
    const owner = await signUpAndLogin(t.app);
    claims = { sub: `taken-${owner.id}`, email: owner.email, email_verified: false };
    expect((await dance({ start: () => startLink(owner.access) })).error).toBeNull();
    const other = await signUpAndLogin(t.app);
    expect(await dance({ start: () => startLink(other.access) })).toEqual({
      code: null,
      error: "identity_linked_elsewhere",
    });
    expect(await identitiesOf(other.access)).toEqual([]);
    expect(await identitiesOf(owner.access)).toHaveLength(1);
  });

  it("needs a signed-in user", async () => {
    const res = await fetch(`${base}/api/v1/auth/oidc/mock/link`, { method: "POST" });
    expect(res.status).toBe(401);
  });
});

describe("the one-time sign-in code", () => {
  it("expires: a code not exchanged within its life is refused", async () => {
    claims = { sub: `ttl-${newUser().email}`, email: newUser().email, email_verified: true };
    // Within its life it works (the callback taken by the instance with short-lived codes)...
    const fresh = await dance({ callbackTo: shortLived });
    expect((await exchange(fresh.code as string)).status).toBe(200);
    // ...and past it, it is refused like an unknown code.
    const stale = await dance({ callbackTo: shortLived });
    await new Promise((resolve) => setTimeout(resolve, SHORT_CODE_TTL_MS + 300));
    const res = await exchange(stale.code as string);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "invalid_sign_in_code", error: "invalid_grant" });
  });

  it("is spent once across instances: issued on one, exchanged on another, replayed anywhere", async () => {
    claims = { sub: `twice-${newUser().email}`, email: newUser().email, email_verified: true };
    // Issued by the instance that took the callback, exchanged on another one; with Redis the
    // two share nothing but Redis. (Without REDIS_URL the code lives in the process's memory:
    // the embedded mode runs one instance, which issues and exchanges it.)
    const { code } = await dance();
    const onSecond = await exchangeOn(second, code as string);
    expect(onSecond.statusCode).toBe(200);
    expect((await exchangeOn(t.app, code as string)).statusCode).toBe(401);
    expect((await exchangeOn(second, code as string)).statusCode).toBe(401);
    // Two exchanges racing on two instances: one wins.
    const raced = (await dance()).code as string;
    const results = await Promise.all([exchangeOn(t.app, raced), exchangeOn(second, raced)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });
});

describe("unlinking", () => {
  it("of the last two links of an account without a password, racing, leaves one", async () => {
    // A few rounds: the race only bites when both requests check before either deletes.
    for (let round = 0; round < 4; round += 1) {
      const email = newUser().email;
      claims = { sub: `race-a-${email}`, email, email_verified: true };
      const created = (await (await exchange((await dance()).code as string)).json()) as {
        access_token: string;
      };
      const token = created.access_token;
      claims = { sub: `race-b-${email}`, email, email_verified: true };
      expect((await dance({ start: () => startLink(token) })).error).toBeNull();
      const linked = (await identitiesOf(token)) as { id: number }[];
      expect(linked).toHaveLength(2);
      const [a, b] = linked.map((identity) => identity.id) as [number, number];
      const results = await Promise.all([unlinkOn(t.app, token, a), unlinkOn(second, token, b)]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([204, 409]);
      expect(results.find((r) => r.statusCode === 409)?.json().code).toBe("last_sign_in_method");
      const left = (await identitiesOf(token)) as { id: number }[];
      expect(left).toHaveLength(1);
      // The one left still signs in.
      claims = {
        sub: left[0]?.id === a ? `race-a-${email}` : `race-b-${email}`,
        email,
        email_verified: true,
      };
      expect((await exchange((await dance()).code as string)).status).toBe(200);
    }
  });

  it("never unlinks another user's identity (404)", async () => {
    const owner = await signUpAndLogin(t.app);
    claims = { sub: `mine-${owner.id}`, email: owner.email, email_verified: false };
    expect((await dance({ start: () => startLink(owner.access) })).error).toBeNull();
    const [identity] = (await identitiesOf(owner.access)) as { id: number }[];
    const stranger = await signUpAndLogin(t.app);
    const res = await unlinkOn(t.app, stranger.access, (identity as { id: number }).id);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("identity_not_found");
    expect(await identitiesOf(owner.access)).toHaveLength(1);
  });
});

describe("deleting an account made by a provider sign-in (no password)", () => {
  const del = (token: string, payload: object) =>
    t.app.inject({ method: "DELETE", url: "/api/v1/users/me", headers: bearer(token), payload });

  async function providerAccount() {
    const email = newUser().email;
    claims = { sub: `delete-${email}`, email, email_verified: true };
    const tokens = (await (await exchange((await dance()).code as string)).json()) as {
      access_token: string;
    };
    return { email, token: tokens.access_token };
  }

  it("with MFA: a code from the app, never a password", async () => {
    const { token } = await providerAccount();
    const setup = (
      await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/mfa/totp/setup",
        headers: bearer(token),
        payload: {},
      })
    ).json();
    const confirm = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/mfa/totp/confirm",
      headers: bearer(token),
      payload: { code: codeFor(setup.secret) },
    });
    expect(confirm.statusCode).toBe(200);
    expect((await del(token, {})).json().code).toBe("mfa_code_required");
    expect((await del(token, { current_password: "anything-at-all" })).json().code).toBe(
      "invalid_current_password",
    );
    expect((await del(token, { code: codeFor(setup.secret, 1) })).statusCode).toBe(204);
    expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(token) })).statusCode).toBe(401);
    // The provider account no longer signs in to anything: a new sign-in makes a new account.
  });

  it("without MFA: a session signed in with the provider within 10 minutes, not an older one", async () => {
    const stale = await providerAccount();
    const me = (await t.app.inject({ url: "/api/v1/users/me", headers: bearer(stale.token) })).json();
    // The session signed in 11 minutes ago.
    await t.db.database.db
      .update(refreshTokens)
      .set({ createdAt: sql`now() - interval '11 minutes'` })
      .where(eq(refreshTokens.userId, me.id));
    const refused = await del(stale.token, {});
    expect(refused.statusCode).toBe(400);
    expect(refused.json().code).toBe("fresh_sign_in_required");
    expect((await del(stale.token, { code: "123456" })).json().code).toBe("mfa_not_enabled");
    // Signing in again with the provider makes a fresh session, which may delete the account.
    claims = { sub: `delete-${stale.email}`, email: stale.email, email_verified: true };
    const fresh = (await (await exchange((await dance()).code as string)).json()) as { access_token: string };
    expect((await del(fresh.access_token, {})).statusCode).toBe(204);
    expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(stale.token) })).statusCode).toBe(
      401,
    );
  });
});
