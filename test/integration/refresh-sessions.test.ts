import { createHash } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refreshTokens } from "../../src/platform/database/schema.js";
import { bearer, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// Refresh-token rotation: the reuse leeway (REFRESH_REUSE_LEEWAY_SECONDS, default 10) and
// the absolute session lifetime (SESSION_MAX_DAYS, default 90).
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const hashOf = (token: string) => createHash("sha256").update(token).digest("hex");
const refresh = (token: string) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/refresh", payload: { refresh_token: token } });
const me = (token: string) => t.app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
const rowOf = async (token: string) => {
  const [row] = await t.db.database.db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hashOf(token)));
  if (!row) throw new Error("no such refresh token");
  return row;
};
/** As if the token had been spent `seconds` ago. */
const ageSpentToken = (token: string, seconds: number) =>
  t.db.database.db
    .update(refreshTokens)
    .set({ usedAt: sql`now() - make_interval(secs => ${seconds})` })
    .where(eq(refreshTokens.tokenHash, hashOf(token)));

describe("reuse leeway", () => {
  it("a double refresh within the leeway gets a new pair in the same session", async () => {
    const s = await signUpAndLogin(t.app);
    const first = await refresh(s.refresh);
    expect(first.statusCode).toBe(200);
    const again = await refresh(s.refresh);
    expect(again.statusCode).toBe(200);
    expect(again.json().refresh_token).not.toBe(first.json().refresh_token);
    // Same session, nothing revoked: both new pairs work.
    expect((await rowOf(again.json().refresh_token)).familyId).toBe((await rowOf(s.refresh)).familyId);
    expect((await me(first.json().access_token)).statusCode).toBe(200);
    expect((await me(again.json().access_token)).statusCode).toBe(200);
    expect((await refresh(first.json().refresh_token)).statusCode).toBe(200);
  });

  it("concurrent refreshes with one token all succeed and leave the session alive", async () => {
    const s = await signUpAndLogin(t.app);
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(s.refresh)));
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const tokens = new Set(results.map((r) => r.json().refresh_token));
    expect(tokens.size).toBe(5);
    expect((await me(s.access)).statusCode).toBe(200);
    expect((await refresh(results[4]?.json().refresh_token)).statusCode).toBe(200);
  });

  it("after the leeway, presenting a spent token revokes the whole session", async () => {
    const s = await signUpAndLogin(t.app);
    const next = (await refresh(s.refresh)).json();
    await ageSpentToken(s.refresh, 11);
    const replay = await refresh(s.refresh);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe("invalid_refresh_token");
    expect((await refresh(next.refresh_token)).statusCode).toBe(401);
    expect((await me(next.access_token)).statusCode).toBe(401);
  });

  it("only the token spent last is forgiven: an older one revokes the session even within the leeway", async () => {
    const s = await signUpAndLogin(t.app);
    const second = (await refresh(s.refresh)).json();
    const third = (await refresh(second.refresh_token)).json();
    expect((await refresh(s.refresh)).statusCode).toBe(401);
    expect((await refresh(third.refresh_token)).statusCode).toBe(401);
    expect((await me(third.access_token)).statusCode).toBe(401);
  });
});

describe("absolute session lifetime", () => {
  it("starts at login (SESSION_MAX_DAYS, 90 by default) and is carried unchanged by rotations", async () => {
    const before = Date.now();
    const s = await signUpAndLogin(t.app);
    const login = await rowOf(s.refresh);
    const ninetyDays = 90 * 86_400_000;
    expect(login.sessionExpiresAt?.getTime()).toBeGreaterThanOrEqual(before + ninetyDays - 1_000);
    expect(login.sessionExpiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + ninetyDays + 1_000);
    const rotated = await rowOf((await refresh(s.refresh)).json().refresh_token);
    expect(rotated.sessionExpiresAt?.getTime()).toBe(login.sessionExpiresAt?.getTime());
  });

  it("no rotation extends a session past its end: tokens are cut to it, then refused", async () => {
    const s = await signUpAndLogin(t.app);
    // As if the login had been SESSION_MAX_DAYS ago, less 3 seconds.
    const end = new Date(Date.now() + 3_000);
    await t.db.database.db
      .update(refreshTokens)
      .set({ sessionExpiresAt: end })
      .where(eq(refreshTokens.tokenHash, hashOf(s.refresh)));
    const rotated = await refresh(s.refresh);
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().expires_in).toBeLessThanOrEqual(3);
    const row = await rowOf(rotated.json().refresh_token);
    expect(row.expiresAt.getTime()).toBeLessThanOrEqual(end.getTime());
    await waitFor(async () => Date.now() > end.getTime() + 100, 5_000, "the session's end");
    expect((await refresh(rotated.json().refresh_token)).statusCode).toBe(401);
  });
});
