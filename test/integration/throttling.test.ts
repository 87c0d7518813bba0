import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({
    LOGIN_MAX_FAILURES_PER_ACCOUNT: "3",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "8",
    LOGIN_LOCKOUT_SECONDS: "30",
  });
});
afterAll(() => t.close());

const signUp = async () => {
  const user = newUser();
  await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
  return user;
};
const loginFrom = (address: string, username: string, password: string) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    remoteAddress: address,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ username, password }).toString(),
  });

describe("failed-login throttling", () => {
  it("blocks an account after its threshold with 429 + Retry-After, doubling the wait", async () => {
    const user = await signUp();
    for (let i = 0; i < 3; i++)
      expect((await loginFrom(`10.0.1.${i}`, user.email, "wrong-pass")).statusCode).toBe(401);
    const blocked = await loginFrom("10.0.1.9", user.email, user.password);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe("too_many_attempts");
    const first = Number(blocked.headers["retry-after"]);
    expect(first).toBeGreaterThan(25);
    expect(first).toBeLessThanOrEqual(30);
    // The same account by username is the same account.
    expect((await loginFrom("10.0.1.10", user.username, user.password)).statusCode).toBe(429);
  });

  it("backs off exponentially with further failures", async () => {
    const cache = t.app.cache;
    const user = await signUp();
    for (let i = 0; i < 3; i++) await loginFrom(`10.0.2.${i}`, user.email, "wrong-pass");
    // Clear the block (as if it expired) and fail once more: the next block is twice as long.
    const userId = (
      await t.db.database.db.query.users.findFirst({ where: (u, { eq }) => eq(u.email, user.email) })
    )?.id;
    await cache.delete(`login:acct:user:${userId}:blocked`);
    expect((await loginFrom("10.0.2.9", user.email, "wrong-pass")).statusCode).toBe(401);
    const blocked = await loginFrom("10.0.2.10", user.email, user.password);
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(55);
  });

  it("a success resets the account's count", async () => {
    const user = await signUp();
    for (let round = 0; round < 3; round++) {
      expect((await loginFrom("10.0.3.1", user.email, "wrong-pass")).statusCode).toBe(401);
      expect((await loginFrom("10.0.3.1", user.email, "wrong-pass")).statusCode).toBe(401);
      expect((await loginFrom("10.0.3.1", user.email, user.password)).statusCode).toBe(200);
    }
  });

  it("blocks a client address spraying many accounts, while others still log in", async () => {
    const victim = await signUp();
    for (let i = 0; i < 8; i++) await loginFrom("10.0.4.1", `nobody-${i}@example.com`, "wrong-pass");
    const sprayer = await loginFrom("10.0.4.1", victim.email, victim.password);
    expect(sprayer.statusCode).toBe(429);
    expect(Number(sprayer.headers["retry-after"])).toBeGreaterThan(0);
    expect((await loginFrom("10.0.4.2", victim.email, victim.password)).statusCode).toBe(200);
  });

  it("applies to unknown accounts too, without revealing that they are unknown", async () => {
    for (let i = 0; i < 3; i++) await loginFrom("10.0.5.1", "ghost@example.com", "wrong-pass");
    expect((await loginFrom("10.0.5.2", "ghost@example.com", "wrong-pass")).statusCode).toBe(429);
  });
});

describe("global per-client rate limit", () => {
  it("answers 429 with Retry-After past RATE_LIMIT_PER_MINUTE, sparing health probes", async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: "5" });
    try {
      const statuses = [];
      for (let i = 0; i < 7; i++)
        statuses.push((await limited.app.inject({ url: "/api/v1/posts" })).statusCode);
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.slice(5)).toEqual([429, 429]);
      const res = await limited.app.inject({ url: "/api/v1/posts" });
      expect(res.json().code).toBe("rate_limited");
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect((await limited.app.inject({ url: "/health/live" })).statusCode).toBe(200);
      expect((await limited.app.inject({ url: "/api/v1/posts", remoteAddress: "10.9.9.9" })).statusCode).toBe(
        200,
      );
    } finally {
      await limited.close();
    }
  });
});
