import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createRedisCache } from "../../src/platform/cache/redis-cache.js";
import { jobOutbox } from "../../src/platform/database/schema.js";
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
    // Keys, files and mail of this test stay in a directory of its own.
    DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-outage-")),
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

it("serves cached reads from the database and keeps every job of a committed write", async () => {
  const session = await signUpAndLogin(app);
  const created = await app.inject({
    method: "POST",
    url: "/api/v1/posts",
    headers: bearer(session.access),
    payload: { title: "Written while Redis is down", content: "still here" },
  });
  expect(created.statusCode).toBe(201);
  const id = created.json().id;
  for (let i = 0; i < 2; i++) {
    expect((await app.inject({ url: `/api/v1/posts/${id}` })).json().title).toBe(
      "Written while Redis is down",
    );
    expect((await app.inject({ url: "/api/v1/posts" })).json().items[0].id).toBe(id);
    expect((await app.inject({ url: `/api/v1/users/${session.id}` })).json().username).toBe(session.username);
  }
  const renamed = await app.inject({
    method: "PATCH",
    url: `/api/v1/posts/${id}`,
    headers: bearer(session.access),
    payload: { title: "Edited while Redis is down" },
  });
  expect(renamed.statusCode).toBe(200);
  expect((await app.inject({ url: `/api/v1/posts/${id}` })).json().title).toBe("Edited while Redis is down");
  // The welcome job waits in the job outbox until the queue is reachable again.
  const outbox = await db.database.db.select().from(jobOutbox);
  expect(
    outbox.some(
      (row) => row.name === "users.welcome_email" && (row.data as { user_id: number }).user_id === session.id,
    ),
  ).toBe(true);
});

it("a logout ends the session's access token even while Redis is down (the database has the record)", async () => {
  const session = await signUpAndLogin(app);
  const me = () => app.inject({ url: "/api/v1/users/me", headers: bearer(session.access) });
  expect((await me()).statusCode).toBe(200);
  const out = await app.inject({
    method: "POST",
    url: "/api/v1/auth/logout",
    payload: { refresh_token: session.refresh },
  });
  expect(out.statusCode).toBe(204);
  expect((await me()).statusCode).toBe(401);
});
