import { afterAll, beforeAll, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createRedisCache } from "../../src/platform/cache/redis-cache.js";
import { bearer, signUpAndLogin } from "../helpers/auth.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

// Redis configured but unreachable (nothing listens on port 1): the API keeps working —
// auth state comes from the database, counters from process memory — and readiness says so.
let db: TestDatabase;
let app: Awaited<ReturnType<typeof buildApp>>;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    REDIS_URL: "redis://127.0.0.1:1/0",
    RATE_LIMIT_PER_MINUTE: "100",
  });
  app = await buildApp(config, { database: db.database, cache: createRedisCache("redis://127.0.0.1:1/0") });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

it("signs up, logs in, authenticates and rate-limits without Redis; readiness reports it", async () => {
  const session = await signUpAndLogin(app);
  const me = await app.inject({ url: "/api/v1/users/me", headers: bearer(session.access) });
  expect(me.statusCode).toBe(200);
  expect(me.headers["x-ratelimit-limit"]).toBe("100");
  const ready = await app.inject({ url: "/health/ready" });
  expect(ready.statusCode).toBe(503);
  expect(ready.json().checks).toMatchObject({ database: { status: "pass" }, redis: { status: "fail" } });
});
