import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";
import { codeFor } from "../helpers/totp.js";

// What a change of second factor does to sessions, an admin's own MFA, and the browser's
// refresh cookie after the second step of a sign-in.
const ADMIN = { email: "mfa-sessions-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let second: FastifyInstance;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  second = await createSecondInstance(t);
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const post = (app: FastifyInstance, url: string, payload: object, token?: string) =>
  app.inject({ method: "POST", url, payload, ...(token ? { headers: bearer(token) } : {}) });
const me = (token: string, app: FastifyInstance = t.app) =>
  app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
const refresh = (refreshToken: string) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/refresh", payload: { refresh_token: refreshToken } });

async function enrol(s: Session) {
  const setup = await post(t.app, "/api/v1/auth/mfa/totp/setup", { current_password: s.password }, s.access);
  expect(setup.statusCode).toBe(200);
  const secret = setup.json().secret as string;
  const confirmed = await post(t.app, "/api/v1/auth/mfa/totp/confirm", { code: codeFor(secret) }, s.access);
  expect(confirmed.statusCode).toBe(200);
  return { secret, recoveryCodes: confirmed.json().recovery_codes as string[] };
}

/** A second session of the same user, signed in with the password alone (before MFA). */
async function otherSession(s: Session) {
  const res = await login(t.app, s.email, s.password);
  expect(res.statusCode).toBe(200);
  return { access: res.json().access_token as string, refresh: res.json().refresh_token as string };
}

describe("a change of second factor ends the other sessions", () => {
  it("turning MFA on ends every other session (on every instance) and keeps the current one", async () => {
    const s = await signUpAndLogin(t.app);
    const other = await otherSession(s);
    await enrol(s);
    expect((await me(other.access)).statusCode).toBe(401);
    expect((await me(other.access, second)).statusCode).toBe(401);
    expect((await refresh(other.refresh)).statusCode).toBe(401);
    expect((await me(s.access)).statusCode).toBe(200);
    expect((await refresh(s.refresh)).statusCode).toBe(200);
  });

  it("turning MFA off ends every other session and keeps the current one", async () => {
    const s = await signUpAndLogin(t.app);
    const { recoveryCodes } = await enrol(s);
    // A second session signed in with a second factor.
    const mfaToken = (await login(t.app, s.email, s.password)).json().mfa_token;
    const verified = await post(t.app, "/api/v1/auth/mfa/verify", {
      mfa_token: mfaToken,
      code: recoveryCodes[0],
    });
    expect(verified.statusCode).toBe(200);
    const off = await post(
      t.app,
      "/api/v1/auth/mfa/disable",
      { current_password: s.password, code: recoveryCodes[1] },
      s.access,
    );
    expect(off.statusCode).toBe(204);
    expect((await me(verified.json().access_token)).statusCode).toBe(401);
    expect((await refresh(verified.json().refresh_token)).statusCode).toBe(401);
    expect((await me(s.access)).statusCode).toBe(200);
  });

  it("an admin reset ends every session of the user", async () => {
    const s = await signUpAndLogin(t.app);
    await enrol(s);
    const adminToken = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
    const reset = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/admin/users/${s.id}/mfa`,
      headers: bearer(adminToken),
    });
    expect(reset.statusCode).toBe(204);
    expect((await me(s.access)).statusCode).toBe(401);
    expect((await me(s.access, second)).statusCode).toBe(401);
    expect((await refresh(s.refresh)).statusCode).toBe(401);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(200);
  });
});

describe("an admin's own second factor", () => {
  it("cannot be removed through the admin route with an access token alone (403 own_mfa_reset)", async () => {
    const admin = await login(t.app, ADMIN.email, ADMIN.password);
    const session: Session = {
      id: (await me(admin.json().access_token)).json().id,
      email: ADMIN.email,
      username: "",
      password: ADMIN.password,
      access: admin.json().access_token,
      refresh: admin.json().refresh_token,
    };
    const { recoveryCodes } = await enrol(session);
    const res = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/admin/users/${session.id}/mfa`,
      headers: bearer(session.access),
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json().code).toBe("own_mfa_reset");
    // Still on: the password alone does not sign in.
    expect((await login(t.app, ADMIN.email, ADMIN.password)).json().code).toBe("mfa_required");
    // The user path (password and code) still works for the admin.
    const off = await post(
      t.app,
      "/api/v1/auth/mfa/disable",
      { current_password: ADMIN.password, code: recoveryCodes[0] },
      session.access,
    );
    expect(off.statusCode).toBe(204);
  });
});

describe("the browser's refresh cookie after the second step", () => {
  it("POST /auth/mfa/verify honours X-Refresh-Token-Delivery: cookie as the token endpoint does", async () => {
    const s = await signUpAndLogin(t.app);
    const { recoveryCodes } = await enrol(s);
    const mfaToken = (await login(t.app, s.email, s.password)).json().mfa_token;
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/mfa/verify",
      headers: { host: "localhost", "x-refresh-token-delivery": "cookie" },
      payload: { mfa_token: mfaToken, code: recoveryCodes[0] },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().refresh_token).toBeUndefined();
    expect(res.json().access_token).toEqual(expect.any(String));
    const cookies = [res.headers["set-cookie"] ?? []].flat();
    const refreshCookie = cookies.find((c) => c.startsWith("kaira_refresh="));
    const csrfCookie = cookies.find((c) => c.startsWith("kaira_csrf="));
    expect(refreshCookie?.toLowerCase()).toContain("httponly");
    expect(refreshCookie?.toLowerCase()).toContain("samesite=strict");
    expect(csrfCookie).toBeDefined();
    const refreshValue = /^kaira_refresh=([^;]+)/.exec(refreshCookie ?? "")?.[1] ?? "";
    const csrfValue = /^kaira_csrf=([^;]+)/.exec(csrfCookie ?? "")?.[1] ?? "";
    const cookie = `kaira_refresh=${refreshValue}; kaira_csrf=${csrfValue}`;
    // The cookie works with the CSRF header, and not without it.
    const noCsrf = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      headers: { host: "localhost", cookie },
      payload: {},
    });
    expect(noCsrf.statusCode).toBe(403);
    const ok = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      headers: { host: "localhost", cookie, "x-csrf-token": csrfValue },
      payload: {},
    });
    expect(ok.statusCode).toBe(200);
  });
});
