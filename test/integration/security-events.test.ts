import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { bearer, login } from "../helpers/auth.js";
import { newUser } from "../helpers/test-app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

// Security events are structured log lines; nothing secret may appear in any line.
const lines: Record<string, unknown>[] = [];
let db: TestDatabase;
let app: Awaited<ReturnType<typeof buildApp>>;

beforeAll(async () => {
  db = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const config = loadConfig({
    NODE_ENV: "test",
    RATE_LIMIT_PER_MINUTE: "0",
    // The immediate replay below must count as reuse, not as a forgiven double refresh.
    REFRESH_REUSE_LEEWAY_SECONDS: "0",
    DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-security-")),
    ADMIN_EMAIL: "sec-admin@example.com",
    ADMIN_PASSWORD: "AdminPass-123456",
  });
  app = await buildApp(config, {
    database: db.database,
    cache: createMemoryCache(),
    logger: pino({ level: "info" }, sink),
  });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

it("logs each auth event once, with who and where, and never a password or token", async () => {
  const user = newUser();
  const created = (await app.inject({ method: "POST", url: "/api/v1/users", payload: user })).json();
  const ok = (await login(app, user.email, user.password)).json();
  await login(app, user.email, "Wrong-Password-1");
  await app.inject({
    method: "POST",
    url: "/api/v1/auth/refresh",
    payload: { refresh_token: ok.refresh_token },
  });
  await app.inject({
    method: "POST",
    url: "/api/v1/auth/refresh",
    payload: { refresh_token: ok.refresh_token },
  });
  const admin = (await login(app, "sec-admin@example.com", "AdminPass-123456")).json();
  // The reuse above ended the session, and with it ok.access_token.
  expect((await app.inject({ url: "/api/v1/users/me", headers: bearer(ok.access_token) })).statusCode).toBe(
    401,
  );
  await app.inject({
    method: "PATCH",
    url: `/api/v1/users/${created.id}`,
    headers: bearer(admin.access_token),
    payload: { role: "admin" },
  });

  const events = (name: string) => lines.filter((line) => line.event === name);
  expect(events("auth.login.succeeded").length).toBe(2);
  expect(events("auth.login.failed")).toEqual([
    expect.objectContaining({
      reason: "bad_password",
      ip: "127.0.0.1",
      request_id: expect.any(String),
      time: expect.any(Number),
    }),
  ]);
  expect(events("auth.refresh.reused")).toHaveLength(1);
  expect(events("user.role_changed")).toEqual([
    expect.objectContaining({ role: "admin", actor_id: expect.any(Number) }),
  ]);

  const everything = JSON.stringify(lines);
  for (const secret of [
    user.password,
    "Wrong-Password-1",
    "AdminPass-123456",
    ok.access_token,
    ok.refresh_token,
    admin.access_token,
  ]) {
    expect(everything).not.toContain(secret);
  }
});

it("keeps a hostile username inside one escaped JSON line", async () => {
  const before = lines.length;
  await login(app, 'evil\n{"level":60,"msg":"forged"}', "whatever-pass");
  for (const line of lines.slice(before)) expect(line.msg).not.toBe("forged");
});
