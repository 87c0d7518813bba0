import { Writable } from "node:stream";
import { eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userMfa } from "../../src/platform/database/schema.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";
import { codeFor } from "../helpers/totp.js";

// TOTP two-factor authentication, with codes computed by the test's own RFC 6238 code:
// enrolment, the second step of sign-in on either instance, replay, throttling, recovery
// codes, disabling it, and an admin's audited reset.
const ADMIN = { email: "mfa-admin@example.com", password: "AdminPass-123456" };
const events: Record<string, unknown>[] = [];
let t: TestApp;
let second: FastifyInstance;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      const line = JSON.parse(chunk.toString());
      if (line.event) events.push(line);
      done();
    },
  });
  t = await createTestApp(
    { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: "info" },
    undefined,
    { logger: pino({ level: "info" }, sink) },
  );
  second = await createSecondInstance(t);
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const post = (app: FastifyInstance, url: string, payload: object, token?: string) =>
  app.inject({ method: "POST", url, payload, ...(token ? { headers: bearer(token) } : {}) });

/** Enrols `s` and returns the secret and the recovery codes. */
async function enrol(s: Session) {
  const setup = await post(t.app, "/api/v1/auth/mfa/totp/setup", { current_password: s.password }, s.access);
  expect(setup.statusCode).toBe(200);
  const { secret, otpauth_uri } = setup.json();
  expect(new URL(otpauth_uri).searchParams.get("secret")).toBe(secret);
  const confirmed = await post(t.app, "/api/v1/auth/mfa/totp/confirm", { code: codeFor(secret) }, s.access);
  expect(confirmed.statusCode).toBe(200);
  return { secret: secret as string, recoveryCodes: confirmed.json().recovery_codes as string[] };
}

async function mfaToken(app: FastifyInstance, s: Session): Promise<string> {
  const res = await login(app, s.email, s.password);
  expect(res.statusCode).toBe(403);
  return res.json().mfa_token;
}

const verify = (app: FastifyInstance, token: string, code: string) =>
  post(app, "/api/v1/auth/mfa/verify", { mfa_token: token, code });

describe("enrolment", () => {
  it("needs the current password, shows the secret once and stores it encrypted", async () => {
    const s = await signUpAndLogin(t.app);
    expect((await post(t.app, "/api/v1/auth/mfa/totp/setup", {}, s.access)).json().code).toBe(
      "current_password_required",
    );
    const wrong = await post(
      t.app,
      "/api/v1/auth/mfa/totp/setup",
      { current_password: "nope-nope" },
      s.access,
    );
    expect(wrong.json().code).toBe("invalid_current_password");

    const { secret, recoveryCodes } = await enrol(s);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-7]{6}(-[a-z2-7]{6}){3}$/);
    const status = await t.app.inject({ url: "/api/v1/auth/mfa", headers: bearer(s.access) });
    expect(status.json()).toEqual({ enabled: true, pending: false, recovery_codes_left: 10 });
    expect(status.body).not.toContain(secret);
    const [row] = await t.db.database.db.select().from(userMfa).where(eq(userMfa.userId, s.id));
    expect(row?.totpSecret).not.toContain(secret);
    // On: starting again is refused rather than replacing the authenticator.
    const again = await post(
      t.app,
      "/api/v1/auth/mfa/totp/setup",
      { current_password: s.password },
      s.access,
    );
    expect(again.statusCode).toBe(409);
  });

  it("refuses a wrong first code and stays off", async () => {
    const s = await signUpAndLogin(t.app);
    const setup = (
      await post(t.app, "/api/v1/auth/mfa/totp/setup", { current_password: s.password }, s.access)
    ).json();
    const wrongCode = codeFor(setup.secret, 3);
    const res = await post(t.app, "/api/v1/auth/mfa/totp/confirm", { code: wrongCode }, s.access);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("invalid_mfa_code");
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(200);
  });
});

describe("signing in with a second factor", () => {
  it("password login answers 403 mfa_required, and verify on the other instance gives the pair", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const res = await login(t.app, s.email, s.password);
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    const body = res.json();
    expect(body).toMatchObject({ error: "mfa_required", code: "mfa_required", expires_in: 300 });
    expect(body.access_token).toBeUndefined();
    // The confirm spent this step's code: the app's next code (one step ahead) is accepted.
    const ok = await verify(second, body.mfa_token, codeFor(secret, 1));
    expect(ok.statusCode).toBe(200);
    expect(ok.headers["cache-control"]).toBe("no-store");
    const tokens = ok.json();
    expect(tokens).toMatchObject({ token_type: "bearer", scope: "posts:write files:write transfers:write" });
    expect(
      (await t.app.inject({ url: "/api/v1/users/me", headers: bearer(tokens.access_token) })).statusCode,
    ).toBe(200);
    // The mfa_token was single use.
    const reused = await verify(t.app, body.mfa_token, codeFor(secret, 1));
    expect(reused.statusCode).toBe(401);
    expect(reused.json()).toMatchObject({ code: "invalid_mfa_token", error: "invalid_grant" });
  });

  it("never accepts a code twice, nor an older one, even when two requests race", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const code = codeFor(secret, 1);
    const [a, b] = await Promise.all([mfaToken(t.app, s), mfaToken(t.app, s)]);
    const results = await Promise.all([verify(t.app, a, code), verify(second, b, code)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const replay = await verify(t.app, await mfaToken(t.app, s), code);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe("invalid_mfa_code");
    // The current step is before the accepted one: refused as well.
    expect((await verify(t.app, await mfaToken(t.app, s), codeFor(secret, 0))).statusCode).toBe(401);
  });

  it("takes each recovery code once, typed in any case and grouping", async () => {
    const s = await signUpAndLogin(t.app);
    const { recoveryCodes } = await enrol(s);
    const code = recoveryCodes[0] as string;
    const typed = code.replace(/-/g, " ").toUpperCase();
    const ok = await verify(t.app, await mfaToken(t.app, s), typed);
    expect(ok.statusCode).toBe(200);
    expect((await verify(second, await mfaToken(second, s), code)).statusCode).toBe(401);
    const status = await t.app.inject({ url: "/api/v1/auth/mfa", headers: bearer(ok.json().access_token) });
    expect(status.json().recovery_codes_left).toBe(9);
    expect((await verify(t.app, await mfaToken(t.app, s), recoveryCodes[1] as string)).statusCode).toBe(200);
  });

  it("throttles wrong codes like passwords (429 with Retry-After) and voids an mfa_token after 5", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const token = await mfaToken(t.app, s);
    const statuses = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await verify(t.app, token, "000000")).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    // Throttled on every instance, even with a right code and a fresh mfa_token.
    const throttled = await verify(second, await mfaToken(second, s), codeFor(secret, 1));
    expect(throttled.statusCode).toBe(429);
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0);
    expect(throttled.json().error).toBe("invalid_request");
    // The mfa_token that took 5 wrong codes is void, whatever comes next.
    expect((await verify(t.app, token, codeFor(secret, 1))).statusCode).toBe(401);
  });

  it("a password change after the password step voids the pending sign-in", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const token = await mfaToken(t.app, s);
    const changed = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(s.access),
      payload: { password: "Another-Pass-97531", current_password: s.password },
    });
    expect(changed.statusCode).toBe(200);
    const res = await verify(t.app, token, codeFor(secret, 1));
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe("invalid_mfa_token");
  });

  it("leaves the password grant unchanged for users without MFA", async () => {
    const s = await signUpAndLogin(t.app);
    const res = await login(t.app, s.email, s.password);
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json()).sort()).toEqual([
      "access_token",
      "expires_in",
      "refresh_token",
      "scope",
      "token_type",
    ]);
  });
});

describe("turning it off", () => {
  it("needs the password and a code; then the password alone signs in", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const noPassword = await post(t.app, "/api/v1/auth/mfa/disable", { code: codeFor(secret, 1) }, s.access);
    expect(noPassword.json().code).toBe("current_password_required");
    const noCode = await post(t.app, "/api/v1/auth/mfa/disable", { current_password: s.password }, s.access);
    expect(noCode.statusCode).toBe(422);
    const wrongCode = await post(
      t.app,
      "/api/v1/auth/mfa/disable",
      { current_password: s.password, code: "123456" === codeFor(secret, 1) ? "654321" : "123456" },
      s.access,
    );
    expect(wrongCode.json().code).toBe("invalid_mfa_code");
    const ok = await post(
      t.app,
      "/api/v1/auth/mfa/disable",
      { current_password: s.password, code: codeFor(secret, 1) },
      s.access,
    );
    expect(ok.statusCode).toBe(204);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(200);
  });

  it("an admin resets a user's MFA; the reset is a security event; users cannot", async () => {
    const s = await signUpAndLogin(t.app);
    await enrol(s);
    const other = await signUpAndLogin(t.app);
    const denied = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/admin/users/${s.id}/mfa`,
      headers: bearer(other.access),
    });
    expect(denied.statusCode).toBe(403);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(403);

    const adminToken = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
    const reset = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/admin/users/${s.id}/mfa`,
      headers: bearer(adminToken),
    });
    expect(reset.statusCode).toBe(204);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(200);
    const audit = events.filter((e) => e.event === "mfa.admin_reset" && e.user_id === s.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ had_mfa: true, route: "/api/v1/admin/users/:id/mfa" });
    expect(typeof audit[0]?.actor_id).toBe("number");
    const unknown = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/admin/users/99999999/mfa",
      headers: bearer(adminToken),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it("never logs a secret, a code or a token", () => {
    const text = JSON.stringify(events);
    expect(text).not.toMatch(/"(secret|code|mfa_token|recovery_codes)":/);
  });
});

describe("deleting the account with a code", () => {
  const del = (app: FastifyInstance, s: Session, payload: object, remoteAddress = "127.0.0.1") =>
    app.inject({
      method: "DELETE",
      url: "/api/v1/users/me",
      headers: bearer(s.access),
      payload,
      remoteAddress,
    });

  it("takes a code from the app instead of the password, on any instance, and ends the account", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    // Nothing at all: the account has a password, so that is what is asked for.
    expect((await del(t.app, s, {})).json().code).toBe("current_password_required");
    const wrong = await del(t.app, s, { code: "123456" === codeFor(secret, 1) ? "654321" : "123456" });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().code).toBe("invalid_mfa_code");
    expect((await del(second, s, { code: codeFor(secret, 1) })).statusCode).toBe(204);
    expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(s.access) })).statusCode).toBe(401);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(401);
  });

  it("never accepts a code already used; a recovery code works, once", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret, recoveryCodes } = await enrol(s);
    const code = codeFor(secret, 1);
    // The code signs a session in: it is spent, and deleting with it again is refused.
    const signedIn = await verify(t.app, await mfaToken(t.app, s), code);
    expect(signedIn.statusCode).toBe(200);
    const replay = await del(t.app, s, { code });
    expect(replay.statusCode).toBe(400);
    expect(replay.json().code).toBe("invalid_mfa_code");
    // An older step too.
    expect((await del(t.app, s, { code: codeFor(secret, 0) })).json().code).toBe("invalid_mfa_code");
    const recovery = recoveryCodes[0] as string;
    expect((await del(t.app, s, { code: recovery })).statusCode).toBe(204);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(401);
  });

  it("throttles wrong codes like at sign-in (429 with Retry-After), and a code needs MFA on", async () => {
    const s = await signUpAndLogin(t.app);
    const withoutMfa = await del(t.app, s, { code: "123456" }, "10.9.8.7");
    expect(withoutMfa.statusCode).toBe(400);
    expect(withoutMfa.json().code).toBe("mfa_not_enabled");
    const { secret } = await enrol(s);
    const wrong = "123456" === codeFor(secret, 1) ? "654321" : "123456";
    const statuses = [];
    for (let i = 0; i < 5; i += 1)
      statuses.push((await del(t.app, s, { code: wrong }, "10.9.8.7")).statusCode);
    expect(statuses).toEqual([400, 400, 400, 400, 400]);
    const throttled = await del(second, s, { code: codeFor(secret, 1) }, "10.9.8.7");
    expect(throttled.statusCode).toBe(429);
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0);
    // The right code was not spent by the refused request: the account is still there.
    expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(s.access) })).statusCode).toBe(200);
  });
});
