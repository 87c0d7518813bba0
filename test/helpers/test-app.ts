import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { type AppDependencies, buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { PasswordHasher } from "../../src/modules/auth/password-hasher.js";
import { openCache } from "../../src/platform/cache/index.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { type JobQueue, openJobQueue } from "../../src/platform/jobs/index.js";
import { openPubSub, type PubSub } from "../../src/platform/pubsub/index.js";
import { createTestPasswordHasher } from "./password-hasher.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export interface TestApp {
  app: FastifyInstance;
  /** The cache key prefix: another instance opening a cache with it shares this one's state. */
  cachePrefix: string;
  pubsub: PubSub;
  jobs: JobQueue;
  db: TestDatabase;
  config: Config;
  /** The app's hasher: a second instance on the same database must verify the same hashes. */
  passwordHasher: PasswordHasher;
  close(): Promise<void>;
}

/**
 * The real app on a fresh database of its own; `env` overrides settings like a user would.
 * Passwords are hashed with the cheap test hasher unless `options.passwordHasher` says otherwise.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  testHooks?: AppDependencies["testHooks"],
  options: Pick<AppDependencies, "workerPresence" | "passwordHasher" | "logger"> = {},
): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    RATE_LIMIT_PER_MINUTE: "0",
    // Test files sign up many users from one address; the sign-up limit has its own test.
    SIGNUP_PER_HOUR: "0",
    // Explicit, so a second instance built from the same config verifies the same tokens.
    SECRET_KEY: randomBytes(32).toString("hex"),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    // Welcome messages and other mail land in a directory of this app's own.
    MAIL_DIR: join(tmpdir(), `kaira-test-mail-${randomBytes(6).toString("hex")}`),
    // Uploaded files too: tests never write under ./data.
    DATA_DIR: join(tmpdir(), `kaira-test-data-${randomBytes(6).toString("hex")}`),
    ...env,
  });
  const db = await createTestDatabase();
  // Each test file gets its own key space, so counters and caches never leak between files.
  const cachePrefix = `kaira-test:${randomBytes(6).toString("hex")}:`;
  const cache = openCache(config, cachePrefix);
  // Pub/sub channels get the same per-file prefix, so files never hear each other's events.
  const pubsub = openPubSub(config, cachePrefix);
  const jobs = openJobQueue(config, db.database.db, { redisPrefix: `${cachePrefix}bull` });
  const passwordHasher = options.passwordHasher ?? createTestPasswordHasher();
  const app = await buildApp(config, {
    database: db.database,
    cache,
    pubsub,
    jobs,
    ...(testHooks ? { testHooks } : {}),
    ...options,
    passwordHasher,
  });
  app.addHook("onClose", async () => {
    await jobs.close(1_000);
    await cache.close();
    await pubsub.close();
    await rm(config.mail.dir, { recursive: true, force: true });
    if (!env.DATA_DIR) await rm(config.dataDir, { recursive: true, force: true });
  });
  await app.ready();
  return {
    app,
    cachePrefix,
    pubsub,
    jobs,
    db,
    config,
    passwordHasher,
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

/**
 * A second API instance beside `first`: the same database through a pool of its own (on
 * PostgreSQL), and its own cache connection on the same key space (Redis when REDIS_URL is
 * set), so state really crosses connections as it does between processes. It hashes
 * passwords like `first` unless `options.passwordHasher` says otherwise.
 */
export async function createSecondInstance(
  first: TestApp,
  options: Pick<AppDependencies, "passwordHasher" | "testHooks"> = {},
): Promise<FastifyInstance> {
  const cache = first.config.redisUrl ? openCache(first.config, first.cachePrefix) : first.app.cache;
  const pubsub = first.config.redisUrl ? openPubSub(first.config, first.cachePrefix) : first.pubsub;
  const database = first.db.url
    ? await openPostgresDatabase({ url: first.db.url, poolSize: 5, applicationName: "kaira-test-2" })
    : first.db.database;
  // Both instances record into (and, when in-process, work off) the same queue.
  const jobs = first.config.redisUrl
    ? openJobQueue(first.config, database.db, { redisPrefix: `${first.cachePrefix}bull` })
    : first.jobs;
  // In one process the instances share the in-memory revocation store, as they share the cache.
  const revocationStore = first.config.redisUrl ? cache : first.app.revocationStore;
  // And the counters (throttles, rate limits, pending sign-ins), which in memory are not the cache.
  const counterStore = first.config.redisUrl ? undefined : first.app.counters;
  const passwordHasher = options.passwordHasher ?? first.passwordHasher;
  const app = await buildApp(first.config, {
    database,
    cache,
    pubsub,
    jobs,
    revocationStore,
    ...(counterStore ? { counterStore } : {}),
    passwordHasher,
    ...(options.testHooks ? { testHooks: options.testHooks } : {}),
  });
  if (jobs !== first.jobs) app.addHook("onClose", async () => jobs.close(1_000));
  if (cache !== first.app.cache) app.addHook("onClose", async () => cache.close());
  if (pubsub !== first.pubsub) app.addHook("onClose", async () => pubsub.close());
  if (database !== first.db.database) app.addHook("onClose", async () => database.close());
  await app.ready();
  return app;
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
