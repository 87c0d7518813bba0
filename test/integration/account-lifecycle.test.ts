import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMAIL_CHANGE_EMAILS_JOB } from "../../src/modules/users/account-mail.jobs.js";
import { accountTokens, users } from "../../src/platform/database/schema.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { ledgerInvariants } from "../helpers/ledger.js";
import { linkIn, mailsTo, waitForMail } from "../helpers/mail.js";
import { waitFor } from "../helpers/process.js";
import { createSecondInstance, createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

const PUBLIC_URL = "https://kaira.example.com/community";
const ADMIN = { email: "lifecycle-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let second: FastifyInstance;
let mailDir: string;
let addressCounter = 0;
/** A client address of its own per test, so the per-address limits of one test never reach another. */
const freshAddress = () => `10.20.${Math.floor(++addressCounter / 250)}.${(addressCounter % 250) + 1}`;

beforeAll(async () => {
  t = await createTestApp({
    JOBS_IN_PROCESS: "true",
    PUBLIC_URL,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
  });
  second = await createSecondInstance(t);
  mailDir = t.config.mail.dir;
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const post = (app: FastifyInstance, url: string, payload: unknown, remoteAddress = freshAddress()) =>
  app.inject({ method: "POST", url: `/api/v1${url}`, payload: payload as object, remoteAddress });
const me = (token: string, app: FastifyInstance = t.app) =>
  app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
const welcomeOf = (user: { email: string }) => waitForMail(mailDir, user.email, "Welcome to Kaira");
const tokenRow = async (token: string) => {
  const { hashAccountToken } = await import("../../src/modules/auth/account-tokens.js");
  const [row] = await t.db.database.db
    .select()
    .from(accountTokens)
    .where(eq(accountTokens.tokenHash, hashAccountToken(token)));
  return row;
};

describe("email verification", () => {
  it("mails a verification link at sign-up; following it verifies the address, once", async () => {
    const user = await signUpAndLogin(t.app);
    expect((await me(user.access)).json().email_verified).toBe(false);
    const mail = await welcomeOf(user);
    const { url, token } = linkIn(mail);
    expect(`${url.origin}${url.pathname}`).toBe(`${PUBLIC_URL}/account/verify-email`);
    // Only the hash is stored.
    const row = await tokenRow(token);
    expect(row?.purpose).toBe("email_verification");
    const raw = await t.db.database.db.execute(sql`select token_hash from account_tokens`);
    expect(JSON.stringify(raw)).not.toContain(token);
    expect(mail.html).toContain(`href="${PUBLIC_URL}/account/verify-email#token=`);

    // Used on the second instance: the state is shared.
    expect((await post(second, "/auth/verify-email", { token })).statusCode).toBe(204);
    expect((await me(user.access)).json().email_verified).toBe(true);
    const profile = await t.app.inject({ url: `/api/v1/users/${user.id}`, headers: bearer(user.access) });
    expect(profile.json().email_verified).toBe(true);

    const again = await post(t.app, "/auth/verify-email", { token });
    expect(again.statusCode).toBe(400);
    expect(again.headers["content-type"]).toContain("application/problem+json");
    expect(again.json().code).toBe("invalid_token");
  });

  it("escapes the username in the HTML part", async () => {
    // Usernames are restricted, but the email's local part may hold characters HTML cares about.
    const user = newUser({ email: `o'neil+${randomUUID().slice(0, 8)}@example.com` });
    expect((await post(t.app, "/users", user)).statusCode).toBe(201);
    const mail = await welcomeOf(user);
    expect(mail.text).toContain(`Hello ${user.username},`);
    expect(mail.html).not.toContain("o'neil");
    expect(mail.html).toContain("<a href=");
  });

  it("refuses a token of another purpose, an expired one, and junk, all alike", async () => {
    const user = await signUpAndLogin(t.app);
    const { token } = linkIn(await welcomeOf(user));
    const wrongPurpose = await post(t.app, "/auth/password-reset/confirm", {
      token,
      password: "Another-Pass-991",
    });
    const wrongPurpose2 = await post(t.app, "/auth/email-change/confirm", { token });
    const junk = await post(t.app, "/auth/verify-email", { token: "x".repeat(43) });
    for (const res of [wrongPurpose, wrongPurpose2, junk]) {
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe("invalid_token");
    }
    // Still valid for its own purpose after those attempts… until it expires.
    await t.db.database.db
      .update(accountTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(accountTokens.userId, user.id));
    const expired = await post(t.app, "/auth/verify-email", { token });
    expect(expired.statusCode).toBe(400);
    expect(expired.json().code).toBe("invalid_token");
    expect((await me(user.access)).json().email_verified).toBe(false);
  });

  it("names the field of a bad body and bounds the token", async () => {
    const missing = await post(t.app, "/auth/verify-email", {});
    expect(missing.statusCode).toBe(422);
    expect(missing.json().errors[0].loc).toEqual(["body", "token"]);
    const long = await post(t.app, "/auth/verify-email", { token: "a".repeat(129) });
    expect(long.statusCode).toBe(422);
  });

  it("throttles an address that keeps sending bad tokens", async () => {
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++)
      statuses.push(
        (await post(t.app, "/auth/verify-email", { token: `bad-${i}-${randomUUID()}` }, address)).statusCode,
      );
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses.at(-1)).toBe(429);
  });

  it("resends a link (the newest only works), answering alike for unknown and verified addresses", async () => {
    const user = await signUpAndLogin(t.app);
    const first = await welcomeOf(user);
    const answers = [
      await post(t.app, "/auth/verify-email/resend", { email: user.email.toUpperCase() }),
      await post(t.app, "/auth/verify-email/resend", { email: `nobody-${randomUUID()}@example.com` }),
      await post(t.app, "/auth/verify-email/resend", { email: ADMIN.email }),
    ];
    for (const res of answers) {
      expect(res.statusCode).toBe(202);
      expect(res.body).toBe(answers[0]?.body);
    }
    const resent = await waitForMail(mailDir, user.email, "Confirm your email address");
    // The earlier link was replaced by the new one.
    expect((await post(t.app, "/auth/verify-email", { token: linkIn(first).token })).statusCode).toBe(400);
    expect((await post(t.app, "/auth/verify-email", { token: linkIn(resent).token })).statusCode).toBe(204);
    // The verified admin got nothing.
    expect(await mailsTo(mailDir, ADMIN.email, "Confirm your email address")).toHaveLength(0);
  });

  it("limits resends per account silently and per client address with 429", async () => {
    const user = await signUpAndLogin(t.app);
    for (let i = 0; i < 5; i++) {
      const res = await post(t.app, "/auth/verify-email/resend", { email: user.email });
      expect(res.statusCode).toBe(202);
    }
    // Jobs for the first three (ACCOUNT_MAIL_PER_HOUR_PER_ACCOUNT) only; then nothing more arrives.
    await waitFor(
      async () => (await mailsTo(mailDir, user.email, "Confirm your email address")).length >= 3,
      15_000,
      "three resent mails",
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await mailsTo(mailDir, user.email, "Confirm your email address")).toHaveLength(3);

    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++)
      statuses.push(
        (
          await post(
            t.app,
            "/auth/verify-email/resend",
            { email: `x${i}-${randomUUID()}@example.com` },
            address,
          )
        ).statusCode,
      );
    expect(statuses.slice(0, 20).every((status) => status === 202)).toBe(true);
    expect(statuses[20]).toBe(429);
  });
});

describe("password reset", () => {
  it("mails a link; the new password works, every session ends on every instance, a notice follows", async () => {
    const user = await signUpAndLogin(t.app);
    const otherSession = (await login(t.app, user.email, user.password)).json();
    const res = await post(t.app, "/auth/password-reset", { email: user.email });
    expect(res.statusCode).toBe(202);
    const mail = await waitForMail(mailDir, user.email, "Reset your Kaira password");
    const { url, token } = linkIn(mail);
    expect(url.pathname).toBe("/community/account/reset-password");

    // The policy applies, and the link survives a refused password.
    const weak = await post(second, "/auth/password-reset/confirm", {
      token,
      password: `9${user.username}!`,
    });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().code).toBe("weak_password");
    const done = await post(second, "/auth/password-reset/confirm", { token, password: "Brand-New-Pass-77" });
    expect(done.statusCode).toBe(204);

    // Sessions ended on both instances: access tokens and refresh tokens.
    expect((await me(user.access)).statusCode).toBe(401);
    expect((await me(otherSession.access_token, second)).statusCode).toBe(401);
    const refreshed = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: user.refresh },
    });
    expect(refreshed.statusCode).toBe(401);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
    expect((await login(t.app, user.email, "Brand-New-Pass-77")).statusCode).toBe(200);

    const reused = await post(t.app, "/auth/password-reset/confirm", {
      token,
      password: "Other-New-Pass-88",
    });
    expect(reused.statusCode).toBe(400);
    expect(reused.json().code).toBe("invalid_token");
    const notice = await waitForMail(mailDir, user.email, "Your Kaira password was reset");
    expect(notice.text).toContain("every session was signed out");
  });

  it("spends a token once under concurrent use", async () => {
    const user = await signUpAndLogin(t.app);
    await post(t.app, "/auth/password-reset", { email: user.email });
    const { token } = linkIn(await waitForMail(mailDir, user.email, "Reset your Kaira password"));
    const results = await Promise.all([
      post(t.app, "/auth/password-reset/confirm", { token, password: "Racing-Pass-001" }),
      post(second, "/auth/password-reset/confirm", { token, password: "Racing-Pass-002" }),
      post(t.app, "/auth/password-reset/confirm", { token, password: "Racing-Pass-003" }),
    ]);
    expect(results.map((res) => res.statusCode).sort()).toEqual([204, 400, 400]);
  });

  it("answers an unknown address exactly like a known one: status, body and time", async () => {
    const user = await signUpAndLogin(t.app);
    const known = await post(t.app, "/auth/password-reset", { email: user.email });
    const unknown = await post(t.app, "/auth/password-reset", { email: `ghost-${randomUUID()}@example.com` });
    expect(unknown.statusCode).toBe(known.statusCode);
    expect(unknown.body).toBe(known.body);
    expect(unknown.headers["content-type"]).toBe(known.headers["content-type"]);

    // Interleaved timings, compared by median; every request uses a fresh account address so
    // the per-account limit never makes one branch cheaper.
    const durations = { known: [] as number[], unknown: [] as number[] };
    const registered: string[] = [];
    for (let i = 0; i < 12; i++) {
      const body = newUser();
      await post(t.app, "/users", body);
      registered.push(body.email);
    }
    for (let i = 0; i < 12; i++) {
      for (const kind of ["known", "unknown"] as const) {
        const email = kind === "known" ? (registered[i] as string) : `ghost-${randomUUID()}@example.com`;
        const started = performance.now();
        const res = await post(t.app, "/auth/password-reset", { email });
        durations[kind].push(performance.now() - started);
        expect(res.statusCode).toBe(202);
      }
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const difference = Math.abs(median(durations.known) - median(durations.unknown));
    // The same work either way: two counter increments and one insert. 15 ms absorbs the
    // noise of a shared machine yet is far below a lookup plus a mail.
    expect(difference).toBeLessThan(15);
  });

  it("sends nothing for an unknown address", async () => {
    const ghost = `ghost-${randomUUID()}@example.com`;
    expect((await post(t.app, "/auth/password-reset", { email: ghost })).statusCode).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await mailsTo(mailDir, ghost, "Reset your Kaira password")).toHaveLength(0);
  });
});

describe("REQUIRE_VERIFIED_EMAIL", () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await createTestApp({ JOBS_IN_PROCESS: "true", REQUIRE_VERIFIED_EMAIL: "true" });
  });
  afterAll(() => strict.close());

  it("refuses an unverified user's login with 403 email_not_verified, and lets them in once verified", async () => {
    const user = newUser();
    expect((await post(strict.app, "/users", user)).statusCode).toBe(201);
    const refused = await login(strict.app, user.email, user.password);
    expect(refused.statusCode).toBe(403);
    expect(refused.headers["content-type"]).toContain("application/problem+json");
    expect(refused.json().code).toBe("email_not_verified");
    // A wrong password still gets the plain 401: the 403 comes only after the password proved who asks.
    expect((await login(strict.app, user.email, "wrong-password-1")).statusCode).toBe(401);

    const mail = await waitForMail(strict.config.mail.dir, user.email, "Welcome to Kaira");
    expect((await post(strict.app, "/auth/verify-email", { token: linkIn(mail).token })).statusCode).toBe(
      204,
    );
    expect((await login(strict.app, user.email, user.password)).statusCode).toBe(200);
  });

  it("refuses writes of an unverified user's existing session", async () => {
    const user = newUser();
    const created = await post(strict.app, "/users", user);
    // Verified now to log in, then unverified again as if the setting had been turned on later.
    await strict.db.database.db
      .update(users)
      .set({ emailVerifiedAt: new Date() })
      .where(eq(users.id, created.json().id));
    const session = (await login(strict.app, user.email, user.password)).json();
    await strict.db.database.db
      .update(users)
      .set({ emailVerifiedAt: null })
      .where(eq(users.id, created.json().id));
    // The auth state is cached: publish the change as a verification would (a token-version read miss).
    await strict.app.cache.delete(`auth:user:${created.json().id}`);
    const write = await strict.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(session.access_token),
      payload: { title: "hello", content: "world" },
    });
    expect(write.statusCode).toBe(403);
    expect(write.json().code).toBe("email_not_verified");
    // Reading and managing the account still work.
    expect((await me(session.access_token, strict.app)).statusCode).toBe(200);
  });
});

describe("email change", () => {
  const patchMe = (session: Session, payload: object) =>
    t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(session.access),
      payload,
      remoteAddress: freshAddress(),
    });

  it("needs current_password, confirms through the new address, notifies the old one", async () => {
    const user = await signUpAndLogin(t.app);
    const newEmail = `moved-${randomUUID()}@example.com`;
    const noPassword = await patchMe(user, { email: newEmail });
    expect(noPassword.statusCode).toBe(400);
    expect(noPassword.json().code).toBe("current_password_required");
    const wrong = await patchMe(user, { email: newEmail, current_password: "not-my-password" });
    expect(wrong.json().code).toBe("invalid_current_password");

    const asked = await patchMe(user, { email: newEmail, current_password: user.password });
    expect(asked.statusCode).toBe(200);
    expect(asked.json().email).toBe(user.email); // nothing changed yet
    const confirm = await waitForMail(mailDir, newEmail, "Confirm your new email address");
    const notice = await waitForMail(mailDir, user.email, "Your Kaira email address is being changed");
    expect(notice.text).toContain(newEmail);
    expect(linkIn(notice).url.pathname).toBe("/community/account/cancel-email-change");

    expect(
      (await post(second, "/auth/email-change/confirm", { token: linkIn(confirm).token })).statusCode,
    ).toBe(204);
    const after = (await me(user.access)).json();
    expect(after.email).toBe(newEmail);
    expect(after.email_verified).toBe(true);
    expect((await login(t.app, newEmail, user.password)).statusCode).toBe(200);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
  });

  it("lets the old address undo a confirmed change, ending every session", async () => {
    const user = await signUpAndLogin(t.app);
    const hijacker = `hijack-${randomUUID()}@example.com`;
    await patchMe(user, { email: hijacker, current_password: user.password });
    const confirm = await waitForMail(mailDir, hijacker, "Confirm your new email address");
    const notice = await waitForMail(mailDir, user.email, "Your Kaira email address is being changed");
    expect(
      (await post(t.app, "/auth/email-change/confirm", { token: linkIn(confirm).token })).statusCode,
    ).toBe(204);

    expect((await post(t.app, "/auth/email-change/cancel", { token: linkIn(notice).token })).statusCode).toBe(
      204,
    );
    expect((await me(user.access)).statusCode).toBe(401);
    expect((await me(user.access, second)).statusCode).toBe(401);
    const back = (await login(t.app, user.email, user.password)).json();
    expect((await me(back.access_token)).json().email).toBe(user.email);
    // Spent: a second cancel does nothing.
    expect((await post(t.app, "/auth/email-change/cancel", { token: linkIn(notice).token })).statusCode).toBe(
      400,
    );
  });

  it("cancelling before confirmation voids the confirmation link", async () => {
    const user = await signUpAndLogin(t.app);
    const newEmail = `pending-${randomUUID()}@example.com`;
    await patchMe(user, { email: newEmail, current_password: user.password });
    const confirm = await waitForMail(mailDir, newEmail, "Confirm your new email address");
    const notice = await waitForMail(mailDir, user.email, "Your Kaira email address is being changed");
    expect((await post(t.app, "/auth/email-change/cancel", { token: linkIn(notice).token })).statusCode).toBe(
      204,
    );
    expect(
      (await post(t.app, "/auth/email-change/confirm", { token: linkIn(confirm).token })).statusCode,
    ).toBe(400);
    // Nothing was taken from the owner: the session lives on.
    expect((await me(user.access)).json().email).toBe(user.email);
  });

  it("checks uniqueness on confirmation: 409 if the address is taken by then", async () => {
    const user = await signUpAndLogin(t.app);
    const contested = `contested-${randomUUID()}@example.com`;
    const asked = await patchMe(user, { email: contested, current_password: user.password });
    expect(asked.statusCode).toBe(200);
    const confirm = await waitForMail(mailDir, contested, "Confirm your new email address");
    expect((await post(t.app, "/users", newUser({ email: contested }))).statusCode).toBe(201);
    const res = await post(t.app, "/auth/email-change/confirm", { token: linkIn(confirm).token });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe("email_taken");
    expect((await me(user.access)).json().email).toBe(user.email);
  });
});

describe("pending links after a password change or reset", () => {
  const patchMe = (session: Session, payload: object) =>
    t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(session.access),
      payload,
      remoteAddress: freshAddress(),
    });
  /** Someone who knows the password asks for the account's email to move to their mailbox. */
  const hijackEmail = async (user: Session) => {
    const evil = `evil-${randomUUID()}@example.com`;
    expect((await patchMe(user, { email: evil, current_password: user.password })).statusCode).toBe(200);
    return linkIn(await waitForMail(mailDir, evil, "Confirm your new email address")).token;
  };

  it("a password reset voids an email change asked for before it", async () => {
    const user = await signUpAndLogin(t.app);
    const changeToken = await hijackEmail(user);
    await post(t.app, "/auth/password-reset", { email: user.email });
    const { token } = linkIn(await waitForMail(mailDir, user.email, "Reset your Kaira password"));
    expect(
      (await post(t.app, "/auth/password-reset/confirm", { token, password: "Owner-Recovered-77" }))
        .statusCode,
    ).toBe(204);
    const res = await post(t.app, "/auth/email-change/confirm", { token: changeToken });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("invalid_token");
    const back = (await login(t.app, user.email, "Owner-Recovered-77")).json();
    expect((await me(back.access_token)).json().email).toBe(user.email);
  });

  it("a password change voids pending email changes and verification links", async () => {
    const user = await signUpAndLogin(t.app);
    const verifyToken = linkIn(await welcomeOf(user)).token;
    const changeToken = await hijackEmail(user);
    const changed = await patchMe(user, { password: "Owner-Changed-It-55", current_password: user.password });
    expect(changed.statusCode).toBe(200);
    expect((await post(t.app, "/auth/email-change/confirm", { token: changeToken })).statusCode).toBe(400);
    expect((await post(t.app, "/auth/verify-email", { token: verifyToken })).statusCode).toBe(400);
  });

  it("ending the other sessions voids pending email changes", async () => {
    const user = await signUpAndLogin(t.app);
    const changeToken = await hijackEmail(user);
    const ended = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/sessions/revoke-others",
      headers: bearer(user.access),
    });
    expect(ended.statusCode).toBeLessThan(300);
    expect((await post(t.app, "/auth/email-change/confirm", { token: changeToken })).statusCode).toBe(400);
    expect((await me(user.access)).json().email).toBe(user.email);
  });

  it("refuses an email-change link issued before the last password change, even one that survived", async () => {
    const user = await signUpAndLogin(t.app);
    const changeToken = await hijackEmail(user);
    // As if the change raced the password change: the link outlived the voiding.
    await t.db.database.db.update(users).set({ passwordChangedAt: sql`now()` }).where(eq(users.id, user.id));
    const res = await post(t.app, "/auth/email-change/confirm", { token: changeToken });
    expect(res.statusCode).toBe(400);
    expect((await me(user.access)).json().email).toBe(user.email);
  });

  it("an email change asked for together with a new password still goes through", async () => {
    const user = await signUpAndLogin(t.app);
    const newEmail = `both-${randomUUID()}@example.com`;
    const res = await patchMe(user, {
      email: newEmail,
      password: "Both-At-Once-Pass-9",
      current_password: user.password,
    });
    expect(res.statusCode).toBe(200);
    const { token } = linkIn(await waitForMail(mailDir, newEmail, "Confirm your new email address"));
    expect((await post(t.app, "/auth/email-change/confirm", { token })).statusCode).toBe(204);
    expect((await login(t.app, newEmail, "Both-At-Once-Pass-9")).statusCode).toBe(200);
  });

  it("still goes through when the password change and the request fall in the same millisecond", async () => {
    // What the request above does when the machine is fast: the database stamps the password
    // change to the microsecond, the request's time is taken to the millisecond just after.
    const user = await signUpAndLogin(t.app);
    const newEmail = `same-ms-${randomUUID()}@example.com`;
    const changedAt = "2026-11-30 12:00:00.123456+00";
    await t.db.database.db
      .update(users)
      .set({ passwordChangedAt: sql`${changedAt}::timestamptz` })
      .where(eq(users.email, user.email));
    const [row] = await t.db.database.db
      .select({ id: users.id })
      .from(users)
      .where(eq(users.email, user.email));
    await t.jobs.record(t.db.database.db, {
      name: EMAIL_CHANGE_EMAILS_JOB,
      data: { user_id: row?.id, new_email: newEmail, requested_at: "2026-11-30T12:00:00.123Z" },
    });
    const { token } = linkIn(await waitForMail(mailDir, newEmail, "Confirm your new email address"));
    expect((await post(t.app, "/auth/email-change/confirm", { token })).statusCode).toBe(204);
  });
});

describe("stale reset links", () => {
  const patchMe = (session: Session, payload: object) =>
    t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(session.access),
      payload,
      remoteAddress: freshAddress(),
    });
  const resetLinkOf = async (user: { email: string }) => {
    await post(t.app, "/auth/password-reset", { email: user.email });
    return linkIn(await waitForMail(mailDir, user.email, "Reset your Kaira password")).token;
  };

  it("a reset link from before a password change no longer works", async () => {
    const user = await signUpAndLogin(t.app);
    const link = await resetLinkOf(user);
    expect(
      (await patchMe(user, { password: "Owner-Changed-It-55", current_password: user.password })).statusCode,
    ).toBe(200);
    const res = await post(t.app, "/auth/password-reset/confirm", {
      token: link,
      password: "Old-Link-Holder-66",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("invalid_token");
  });

  it("a reset link mailed to the previous address dies with an email change", async () => {
    const user = await signUpAndLogin(t.app);
    const oldLink = await resetLinkOf(user);
    const newEmail = `moved-${randomUUID()}@example.com`;
    await patchMe(user, { email: newEmail, current_password: user.password });
    const { token } = linkIn(await waitForMail(mailDir, newEmail, "Confirm your new email address"));
    expect((await post(t.app, "/auth/email-change/confirm", { token })).statusCode).toBe(204);
    const res = await post(t.app, "/auth/password-reset/confirm", {
      token: oldLink,
      password: "Old-Mailbox-77",
    });
    expect(res.statusCode).toBe(400);
    expect((await login(t.app, newEmail, "Old-Mailbox-77")).statusCode).toBe(401);
  });

  it("a reset link for another address than the account's is refused, even one that survived", async () => {
    const user = await signUpAndLogin(t.app);
    const link = await resetLinkOf(user);
    // As if the link outlived a change of address: it names an address the account no longer has.
    const { hashAccountToken } = await import("../../src/modules/auth/account-tokens.js");
    await t.db.database.db
      .update(accountTokens)
      .set({ email: `elsewhere-${randomUUID()}@example.com` })
      .where(eq(accountTokens.tokenHash, hashAccountToken(link)));
    const res = await post(t.app, "/auth/password-reset/confirm", {
      token: link,
      password: "Elsewhere-Pass-88",
    });
    expect(res.statusCode).toBe(400);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(200);
  });

  it("accepts a reset link whose address differs from the account's only in case", async () => {
    const user = await signUpAndLogin(t.app);
    const link = await resetLinkOf(user);
    const { hashAccountToken } = await import("../../src/modules/auth/account-tokens.js");
    await t.db.database.db
      .update(accountTokens)
      .set({ email: user.email.toUpperCase() })
      .where(eq(accountTokens.tokenHash, hashAccountToken(link)));
    const res = await post(t.app, "/auth/password-reset/confirm", {
      token: link,
      password: "Case-Blind-Pass-99",
    });
    expect(res.statusCode).toBe(204);
  });
});

describe("account deletion", () => {
  it("needs the current password, anonymises the account, ends its sessions, keeps the ledger", async () => {
    const admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token as string;
    const user = await signUpAndLogin(t.app);
    const friend = await signUpAndLogin(t.app);
    const credit = await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: { ...bearer(admin), "idempotency-key": randomUUID() },
      payload: { user_id: user.id, amount: 500 },
    });
    expect(credit.statusCode).toBe(201);
    const sent = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(user.access), "idempotency-key": randomUUID() },
      payload: { to_user_id: friend.id, amount: 200 },
    });
    expect(sent.statusCode).toBe(201);
    const written = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(user.access),
      payload: { title: "soon gone", content: "bye" },
    });
    expect(written.statusCode).toBe(201);

    const del = (payload: object) =>
      t.app.inject({
        method: "DELETE",
        url: "/api/v1/users/me",
        headers: bearer(user.access),
        payload,
        remoteAddress: freshAddress(),
      });
    expect((await del({})).json().code).toBe("current_password_required");
    expect((await del({ current_password: "wrong-password" })).json().code).toBe("invalid_current_password");
    expect((await del({ current_password: user.password })).statusCode).toBe(204);

    expect((await me(user.access)).statusCode).toBe(401);
    expect((await me(user.access, second)).statusCode).toBe(401);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
    expect((await t.app.inject({ url: `/api/v1/posts/${written.json().id}` })).statusCode).toBe(404);
    const profile = (await t.app.inject({ url: `/api/v1/users/${user.id}` })).json();
    expect(profile.username).toMatch(/^deleted~[A-Za-z0-9_-]{16}$/);
    // The address is free again.
    expect((await post(t.app, "/users", newUser({ email: user.email }))).statusCode).toBe(201);

    // Money history stays: the friend still sees the transfer, and every total still sums.
    const friendTransfers = await t.app.inject({ url: "/api/v1/transfers", headers: bearer(friend.access) });
    expect(
      friendTransfers.json().items.some((item: { from_user_id: number }) => item.from_user_id === user.id),
    ).toBe(true);
    expect(await ledgerInvariants(t.db.database)).toMatchObject({
      usersWhoseBalanceIsNotTheirLedger: 0,
      unbalancedTransfers: 0,
      negativeBalances: 0,
    });
    const [row] = await t.db.database.db.select().from(users).where(eq(users.id, user.id));
    expect(row?.balance).toBe(300);
    expect(row?.deletedAt).not.toBeNull();
  });

  it("cannot be blocked by someone who registered the names a deleted account used to get", async () => {
    const victim = await signUpAndLogin(t.app);
    const victim2 = await signUpAndLogin(t.app);
    // The names deletion used to give (deleted-<id>), taken first by someone else.
    expect((await post(t.app, "/users", newUser({ username: `deleted-${victim.id}` }))).statusCode).toBe(201);
    expect(
      (await post(t.app, "/users", newUser({ email: `deleted-${victim2.id}@deleted.invalid` }))).statusCode,
    ).toBe(201);
    for (const session of [victim, victim2]) {
      const del = await t.app.inject({
        method: "DELETE",
        url: "/api/v1/users/me",
        headers: bearer(session.access),
        payload: { current_password: session.password },
        remoteAddress: freshAddress(),
      });
      expect(del.statusCode).toBe(204);
    }
    // The names deletion gives now cannot be registered at all.
    const [row] = await t.db.database.db.select().from(users).where(eq(users.id, victim.id));
    expect((await post(t.app, "/users", newUser({ username: row?.username }))).statusCode).toBe(422);
    expect((await post(t.app, "/users", newUser({ email: row?.email }))).statusCode).toBe(422);
  });

  it("answers a unique violation while deleting with 409, never 500, and changes nothing", async () => {
    const user = await signUpAndLogin(t.app);
    const db = t.db.database.db;
    // A collision the anonymised names make impossible, forced by a trigger for this one user.
    await db.execute(
      sql.raw(`create or replace function test_collide() returns trigger language plpgsql as $$
        begin
          if new.id = ${user.id} and new.deleted_at is not null then
            raise exception 'duplicate' using errcode = 'unique_violation', constraint = 'users_username_key';
          end if;
          return new;
        end $$`),
    );
    await db.execute(
      sql.raw(
        "create trigger test_collide before update on users for each row execute function test_collide()",
      ),
    );
    try {
      const del = await t.app.inject({
        method: "DELETE",
        url: "/api/v1/users/me",
        headers: bearer(user.access),
        payload: { current_password: user.password },
        remoteAddress: freshAddress(),
      });
      expect(del.statusCode).toBe(409);
      expect(del.json().code).toBe("deletion_conflict");
      expect((await me(user.access)).statusCode).toBe(200);
    } finally {
      await db.execute(sql.raw("drop trigger test_collide on users"));
      await db.execute(sql.raw("drop function test_collide()"));
    }
  });

  it("refuses the last active admin", async () => {
    const session = (await login(t.app, ADMIN.email, ADMIN.password)).json();
    const res = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/users/me",
      headers: bearer(session.access_token),
      payload: { current_password: ADMIN.password },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe("last_admin");
  });
});
