import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import { openCache } from "../../src/platform/cache/index.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export interface TestApp {
  app: FastifyInstance;
  db: TestDatabase;
  config: Config;
  close(): Promise<void>;
}

/** The real app on a fresh database of its own; `env` overrides settings like a user would. */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    RATE_LIMIT_PER_MINUTE: "0",
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...env,
  });
  const db = await createTestDatabase();
  // Each test file gets its own key space, so counters and caches never leak between files.
  const cache = openCache(config, `kaira-test:${randomBytes(6).toString("hex")}:`);
  const app = await buildApp(config, { database: db.database, cache });
  app.addHook("onClose", async () => cache.close());
  await app.ready();
  return {
    app,
    db,
    config,
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

let counter = 0;
/** Unique sign-up data so tests never collide, whatever order they run in. */
export function newUser(overrides: Partial<{ email: string; username: string; password: string }> = {}) {
  counter += 1;
  const suffix = `${process.pid}_${counter}_${Math.random().toString(36).slice(2, 7)}`;
  return {
    email: `user_${suffix}@example.com`,
    username: `u_${suffix}`.slice(0, 32),
    password: "SecurePass123",
    ...overrides,
  };
}
