import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../helpers/auth.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({
    LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: "3",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "8",
    LOGIN_MAX_FAILURES_PER_ACCOUNT: "6",
    LOGIN_LOCKOUT_SECONDS: "30",
  });
});
afterAll(() => t.close());

const signUp = async () => {
  const user = newUser();
  const res = await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
  return { ...user, id: res.json().id as number };
};
const loginFrom = (address: string, username: string, password: string, app = t.app) =>
  app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    remoteAddress: address,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ username, password }).toString(),
  });

describe("failed-login throttling", () => {
  it("throttles an (account, address) pair past its threshold with 429 + Retry-After", async () => {
    const user = await signUp();
    for (let i = 0; i < 3; i++)
      expect((await loginFrom("10.0.1.1", user.email, "wrong-pass")).statusCode).toBe(401);
    const blocked = await loginFrom("10.0.1.1", user.email, user.password);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe("too_many_attempts");
    const first = Number(blocked.headers["retry-after"]);
    expect(first).toBeGreaterThan(25);
    expect(first).toBeLessThanOrEqual(30);
    // The same account by username is the same account.
    expect((await loginFrom("10.0.1.1", user.username, user.password)).statusCode).toBe(429);
    // Another address, with no failures, logs in with the right password.
    expect((await loginFrom("10.0.1.2", user.email, user.password)).statusCode).toBe(200);
  });

  it("backs off exponentially with further failures", async () => {
    const user = await signUp();
    for (let i = 0; i < 3; i++) await loginFrom("10.0.2.1", user.email, "wrong-pass");
    // Clear the block (as if it expired) and fail once more: the next block is twice as long.
    await t.app.counters.delete(`login:pair:user:${user.id}|10.0.2.1:blocked`);
    expect((await loginFrom("10.0.2.1", user.email, "wrong-pass")).statusCode).toBe(401);
    const blocked = await loginFrom("10.0.2.1", user.email, user.password);
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(55);
  });

  it("cannot be used to lock the owner out: failures from many addresses only slow guessing", async () => {
    const owner = await signUp();
    // Three addresses fail twice each: the account's threshold, none over the pair threshold.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 2; j++)
        expect((await loginFrom(`10.0.3.${i}`, owner.email, "wrong-pass")).statusCode).toBe(401);
    }
    // Under attack, a new address gets one failure on this account, then waits.
    expect((await loginFrom("10.0.3.100", owner.email, "wrong-pass")).statusCode).toBe(401);
    const slowed = await loginFrom("10.0.3.100", owner.email, "guess-two");
    expect(slowed.statusCode).toBe(429);
    expect(Number(slowed.headers["retry-after"])).toBeGreaterThan(0);
    // The owner, from an address with no failures, is never refused the right password.
    expect((await loginFrom("10.0.3.200", owner.email, owner.password)).statusCode).toBe(200);
  });

  it("a success resets the pair's count", async () => {
    const user = await signUp();
    for (let round = 0; round < 3; round++) {
      expect((await loginFrom("10.0.4.1", user.email, "wrong-pass")).statusCode).toBe(401);
      expect((await loginFrom("10.0.4.1", user.email, "wrong-pass")).statusCode).toBe(401);
      expect((await loginFrom("10.0.4.1", user.email, user.password)).statusCode).toBe(200);
    }
  });

  it("throttles a client address spraying many accounts, while others still log in", async () => {
    const victim = await signUp();
    for (let i = 0; i < 8; i++) await loginFrom("10.0.5.1", `nobody-${i}@example.com`, "wrong-pass");
    const sprayer = await loginFrom("10.0.5.1", victim.email, victim.password);
    expect(sprayer.statusCode).toBe(429);
    expect(Number(sprayer.headers["retry-after"])).toBeGreaterThan(0);
    expect((await loginFrom("10.0.5.2", victim.email, victim.password)).statusCode).toBe(200);
  });

  it("applies to unknown accounts too, without revealing that they are unknown", async () => {
    for (let i = 0; i < 3; i++) await loginFrom("10.0.6.1", "ghost@example.com", "wrong-pass");
    expect((await loginFrom("10.0.6.1", "ghost@example.com", "wrong-pass")).statusCode).toBe(429);
  });
});

describe("throttle state and the read cache", () => {
  it("filling the read cache (reads of many posts and profiles) leaves a throttle block in place", async () => {
    const user = await signUp();
    for (let i = 0; i < 3; i++) await loginFrom("10.0.9.1", user.email, "wrong-pass");
    expect((await loginFrom("10.0.9.1", user.email, user.password)).statusCode).toBe(429);
    // More distinct cached reads than the in-memory read cache holds (100,000 entries).
    const fill = t.config.redisUrl ? 2_000 : 120_000;
    for (let i = 0; i < fill; i++) await t.app.cache.set(`post:fill:${i}`, "{}", 60_000);
    const still = await loginFrom("10.0.9.1", user.email, user.password);
    expect(still.statusCode).toBe(429);
    expect(still.json().code).toBe("too_many_attempts");
  });
});

describe("current_password is throttled like a login", () => {
  it("answers 429 + Retry-After after the pair's threshold, even for the right password", async () => {
    const user = await signUp();
    const access = (await loginFrom("10.0.7.9", user.email, user.password)).json().access_token;
    const change = (currentPassword: string, address: string) =>
      t.app.inject({
        method: "PATCH",
        url: "/api/v1/users/me",
        remoteAddress: address,
        headers: bearer(access),
        payload: { password: "Another-Pass-1357", current_password: currentPassword },
      });
    for (let i = 0; i < 3; i++) {
      const wrong = await change(`guess-${i}`, "10.0.7.1");
      expect(wrong.statusCode).toBe(400);
      expect(wrong.json().code).toBe("invalid_current_password");
    }
    const throttled = await change("guess-4", "10.0.7.1");
    expect(throttled.statusCode).toBe(429);
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(25);
    expect((await change(user.password, "10.0.7.1")).statusCode).toBe(429);
    // One throttle for every check of the secret: the same pair cannot switch to logins.
    expect((await loginFrom("10.0.7.1", user.email, user.password)).statusCode).toBe(429);
    expect((await change(user.password, "10.0.7.2")).statusCode).toBe(200);
  });
});

describe("TRUSTED_PROXIES", () => {
  it("without it, X-Forwarded-For is ignored: a client cannot pick its own address", async () => {
    const user = await signUp();
    const spoofing = (forwardedFor: string, password: string) =>
      t.app.inject({
        method: "POST",
        url: "/api/v1/auth/token",
        remoteAddress: "10.0.8.1",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": forwardedFor },
        payload: new URLSearchParams({ username: user.email, password }).toString(),
      });
    for (let i = 0; i < 3; i++) expect((await spoofing(`203.0.113.${i}`, "wrong-pass")).statusCode).toBe(401);
    expect((await spoofing("203.0.113.99", user.password)).statusCode).toBe(429);
  });

  it("with it, the address a trusted proxy forwards is the client's; others' headers are ignored", async () => {
    const proxied = await createTestApp({
      TRUSTED_PROXIES: "127.0.0.0/8, 192.0.2.0/24",
      LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: "3",
    });
    try {
      const user = newUser();
      await proxied.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
      const via = (remoteAddress: string, forwardedFor: string, password: string) =>
        proxied.app.inject({
          method: "POST",
          url: "/api/v1/auth/token",
          remoteAddress,
          headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": forwardedFor },
          payload: new URLSearchParams({ username: user.email, password }).toString(),
        });
      for (let i = 0; i < 3; i++)
        expect((await via("192.0.2.10", "198.51.100.1", "wrong-pass")).statusCode).toBe(401);
      expect((await via("192.0.2.10", "198.51.100.1", user.password)).statusCode).toBe(429);
      // Another client behind the same balancer is another address.
      expect((await via("192.0.2.10", "198.51.100.2", user.password)).statusCode).toBe(200);
      // A client that is not a trusted proxy cannot forge the header.
      for (let i = 0; i < 3; i++)
        expect((await via("10.0.9.1", `198.51.100.${10 + i}`, "wrong-pass")).statusCode).toBe(401);
      expect((await via("10.0.9.1", "198.51.100.50", user.password)).statusCode).toBe(429);
    } finally {
      await proxied.close();
    }
  }, 120_000);

  it("refuses an entry that is not an address or CIDR, naming the variable", async () => {
    const { loadConfig } = await import("../../src/config.js");
    expect(() => loadConfig({ TRUSTED_PROXIES: "10.0.0.0/33" })).toThrow(/TRUSTED_PROXIES/);
    expect(() => loadConfig({ TRUSTED_PROXIES: "proxy.example.com" })).toThrow(/TRUSTED_PROXIES/);
    expect(loadConfig({ TRUSTED_PROXIES: "10.0.0.0/8,::1" }).trustedProxies).toEqual(["10.0.0.0/8", "::1"]);
  });
});

describe("sign-up throttling", () => {
  it("answers 429 + Retry-After past SIGNUP_PER_HOUR from one address; others still sign up", async () => {
    const limited = await createTestApp({ SIGNUP_PER_HOUR: "3" });
    try {
      const signUpFrom = (address: string) =>
        limited.app.inject({
          method: "POST",
          url: "/api/v1/users",
          remoteAddress: address,
          payload: newUser(),
        });
      for (let i = 0; i < 3; i++) expect((await signUpFrom("10.0.10.1")).statusCode).toBe(201);
      const refused = await signUpFrom("10.0.10.1");
      expect(refused.statusCode).toBe(429);
      expect(refused.json().code).toBe("too_many_signups");
      expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
      expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(3600);
      expect((await signUpFrom("10.0.10.2")).statusCode).toBe(201);
    } finally {
      await limited.close();
    }
  }, 120_000);
});

describe("global per-client rate limit", () => {
  it("answers 429 with Retry-After past RATE_LIMIT_PER_MINUTE, sparing health probes", async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: "5" });
    try {
      // The limit counts in fixed one-minute windows: send the burst well inside one, or a
      // window that ends mid-burst resets the count and lets a sixth request through.
      const intoWindowMs = Date.now() % 60_000;
      if (intoWindowMs > 45_000)
        await new Promise((resolve) => setTimeout(resolve, 60_000 - intoWindowMs + 50));
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
  }, 120_000);
});
