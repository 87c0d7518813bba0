import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userMfa } from "../../src/platform/database/schema.js";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { linkIn, waitForMail } from "../helpers/mail.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";
import { codeFor } from "../helpers/totp.js";

// Guessing second-factor codes from many client addresses: the per-account count in the
// database bounds it whatever the addresses; mfa_tokens are bound to the address that logged
// in; IPv6 clients are counted per /64.
let t: TestApp;
let second: FastifyInstance;
let counter = 0;
const freshAddress = () => `10.77.${Math.floor(++counter / 250)}.${(counter % 250) + 1}`;

beforeAll(async () => {
  t = await createTestApp({ JOBS_IN_PROCESS: "true", LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: "3" });
  second = await createSecondInstance(t);
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const loginFrom = (remoteAddress: string, username: string, password: string, app = t.app) =>
  app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    remoteAddress,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ username, password }).toString(),
  });
const verifyFrom = (remoteAddress: string, mfaToken: string, code: string, app = t.app) =>
  app.inject({
    method: "POST",
    url: "/api/v1/auth/mfa/verify",
    remoteAddress,
    payload: { mfa_token: mfaToken, code },
  });
const wrongCode = (secret: string) => {
  const right = new Set([codeFor(secret, -1), codeFor(secret), codeFor(secret, 1), codeFor(secret, 2)]);
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, "0");
    if (!right.has(code)) return code;
  }
};

async function enrol(s: Session) {
  const setup = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/mfa/totp/setup",
    headers: bearer(s.access),
    payload: { current_password: s.password },
  });
  const secret = setup.json().secret as string;
  const confirmed = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/mfa/totp/confirm",
    headers: bearer(s.access),
    payload: { code: codeFor(secret) },
  });
  expect(confirmed.statusCode).toBe(200);
  return { secret, recoveryCodes: confirmed.json().recovery_codes as string[] };
}

const failuresOf = async (userId: number) =>
  (await t.db.database.db.select().from(userMfa).where(eq(userMfa.userId, userId)))[0];

describe("guessing codes from rotating addresses", () => {
  it("cannot exceed the per-account limit: from the 5th wrong code in a row the account waits", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    const bad = wrongCode(secret);
    let evaluated = 0;
    let refused = 0;
    // Each guess from a new address, each with a fresh password login (which never clears the count).
    for (let i = 0; i < 12; i++) {
      const address = freshAddress();
      const login = await loginFrom(address, s.email, s.password, i % 2 ? second : t.app);
      expect(login.statusCode).toBe(403);
      const res = await verifyFrom(address, login.json().mfa_token, bad, i % 2 ? t.app : second);
      if (res.statusCode === 401) evaluated++;
      else if (res.statusCode === 429) refused++;
    }
    expect(evaluated).toBe(5);
    expect(refused).toBe(7);
    expect((await failuresOf(s.id))?.failedAttempts).toBe(5);
    // Even the right code waits out the account's lock, from any address.
    const address = freshAddress();
    const login = await loginFrom(address, s.email, s.password);
    const locked = await verifyFrom(address, login.json().mfa_token, codeFor(secret, 1));
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
    // Once the lock has passed, a right code signs in and the count starts over.
    await t.db.database.db.update(userMfa).set({ lockedUntil: sql`now()` }).where(eq(userMfa.userId, s.id));
    const ok = await verifyFrom(address, login.json().mfa_token, codeFor(secret, 1));
    expect(ok.statusCode).toBe(200);
    expect((await failuresOf(s.id))?.failedAttempts).toBe(0);
  });

  it("at 100 wrong codes in a row the factor is locked until a password reset", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret, recoveryCodes } = await enrol(s);
    await t.db.database.db.update(userMfa).set({ failedAttempts: 99 }).where(eq(userMfa.userId, s.id));
    const address = freshAddress();
    const login = await loginFrom(address, s.email, s.password);
    const token = login.json().mfa_token;
    expect((await verifyFrom(address, token, wrongCode(secret))).statusCode).toBe(401);
    await t.db.database.db.update(userMfa).set({ lockedUntil: null }).where(eq(userMfa.userId, s.id));
    // Locked: a pending sign-in is dead even with a right code or a recovery code.
    const again = await loginFrom(address, s.email, s.password);
    const locked = await verifyFrom(address, again.json().mfa_token, recoveryCodes[0] as string);
    expect(locked.statusCode).toBe(403);
    expect(locked.json().code).toBe("mfa_locked");
    expect(locked.json().error).toBe("invalid_grant");

    // The owner proves the mailbox: the count starts over.
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/password-reset",
      remoteAddress: freshAddress(),
      payload: { email: s.email },
    });
    const { token: resetToken } = linkIn(
      await waitForMail(t.config.mail.dir, s.email, "Reset your Kaira password"),
    );
    const reset = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/password-reset/confirm",
      remoteAddress: freshAddress(),
      payload: { token: resetToken, password: "Recovered-Pass-4242" },
    });
    expect(reset.statusCode).toBe(204);
    const after = await loginFrom(address, s.email, "Recovered-Pass-4242");
    expect((await verifyFrom(address, after.json().mfa_token, recoveryCodes[1] as string)).statusCode).toBe(
      200,
    );
  });
});

describe("a locked second factor elsewhere", () => {
  it("account deletion with a code answers 403 mfa_locked, as documented", async () => {
    const s = await signUpAndLogin(t.app);
    const { secret } = await enrol(s);
    await t.db.database.db.update(userMfa).set({ failedAttempts: 100 }).where(eq(userMfa.userId, s.id));
    const res = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/users/me",
      headers: bearer(s.access),
      remoteAddress: freshAddress(),
      payload: { code: codeFor(secret, 1) },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("mfa_locked");
  });
});

describe("an mfa_token is bound to the client that logged in", () => {
  it("is refused from another address, and accepted from the same IPv6 /64", async () => {
    const s = await signUpAndLogin(t.app);
    const { recoveryCodes } = await enrol(s);
    const login = await loginFrom("10.78.0.1", s.email, s.password);
    const elsewhere = await verifyFrom("10.78.0.2", login.json().mfa_token, recoveryCodes[0] as string);
    expect(elsewhere.statusCode).toBe(401);
    expect(elsewhere.json().code).toBe("invalid_mfa_token");

    const v6 = await loginFrom("2001:db8:78:1::10", s.email, s.password);
    const sameNetwork = await verifyFrom(
      "2001:db8:78:1::99",
      v6.json().mfa_token,
      recoveryCodes[1] as string,
    );
    expect(sameNetwork.statusCode).toBe(200);
  });
});

describe("IPv6 clients are counted per /64", () => {
  it("rotating addresses within one /64 meets the (account, address) limit", async () => {
    const s = await signUpAndLogin(t.app);
    for (let i = 1; i <= 3; i++)
      expect((await loginFrom(`2001:db8:79:1::${i}`, s.email, "wrong-password")).statusCode).toBe(401);
    const blocked = await loginFrom("2001:db8:79:1:ffff::4", s.email, s.password);
    expect(blocked.statusCode).toBe(429);
    // Another /64 is another client.
    expect((await loginFrom("2001:db8:79:2::1", s.email, s.password)).statusCode).toBe(200);
  });
});
