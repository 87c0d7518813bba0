import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { EVENTS_CHANNEL } from "../../src/platform/events/outbox-relay.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";
import { onPostgres } from "../helpers/test-database.js";

// Every search takes this long on purpose: on PostgreSQL a pg_sleep inside its statement, so
// each one holds a real pooled connection; on the embedded database the same time is spent
// beside the statement (a statement there would stop the whole process; see embedded.ts).
const SEARCH_DELAY_MS = 6_000;
// Other routes must answer before the first search could finish: they never wait behind one.
// (Generous on purpose: the machines that run these tests are shared and often loaded.)
const OTHER_ROUTE_BOUND_MS = SEARCH_DELAY_MS / 2;

type Problem = { status: number; code: string; request_id: string };

describe("search isolation", () => {
  let t: TestApp;
  let alice: Session;

  beforeAll(async () => {
    t = await createTestApp(
      {
        SEARCH_CONCURRENCY: "2",
        SEARCH_CONCURRENCY_PER_CLIENT: "1",
        SEARCH_TIMEOUT_MS: "20000",
        // Profiles come from the database, not the read cache.
        CACHE_TTL_SECONDS: "0",
      },
      { searchDelayMs: SEARCH_DELAY_MS },
    );
    alice = await signUpAndLogin(t.app);
  });
  afterAll(() => t.close());

  const searchFrom = (address: string) =>
    t.app.inject({ url: "/api/v1/search/posts?q=anything", remoteAddress: address });

  async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
    const started = performance.now();
    const value = await run();
    return { value, ms: performance.now() - started };
  }

  it("keeps profiles, logins, writes, the outbox relay and jobs working while searches fill their limit; the surplus gets 503 at once", async () => {
    const events: { type: string; data: { id: number } }[] = [];
    const unsubscribe = await t.pubsub.subscribe(EVENTS_CHANNEL, (message) =>
      events.push(JSON.parse(message)),
    );
    try {
      const started = performance.now();
      // Six clients search at once: two run, two wait in the queue, two are refused.
      const searches = Array.from({ length: 6 }, (_, i) =>
        searchFrom(`10.17.0.${i + 1}`).then((res) => ({ res, at: performance.now() - started })),
      );

      const profile = await timed(() => t.app.inject({ url: `/api/v1/users/${alice.id}` }));
      expect(profile.value.statusCode).toBe(200);
      const token = await timed(() => login(t.app, alice.email, alice.password));
      expect(token.value.statusCode).toBe(200);
      const write = await timed(() =>
        t.app.inject({
          method: "POST",
          url: "/api/v1/posts",
          headers: bearer(alice.access),
          payload: { title: "Written during searches", content: "Still fine." },
        }),
      );
      expect(write.value.statusCode).toBe(201);
      const postId = write.value.json().id;
      const newcomer = newUser();
      const signUp = await timed(() =>
        t.app.inject({ method: "POST", url: "/api/v1/users", payload: newcomer }),
      );
      expect(signUp.value.statusCode).toBe(201);
      for (const call of [profile, token, write, signUp]) expect(call.ms).toBeLessThan(OTHER_ROUTE_BOUND_MS);
      const othersDoneAt = performance.now() - started;

      // The outbox relay publishes the post and the job runner sends the welcome message
      // while the first searches still hold their slots.
      await waitFor(
        async () => events.some((event) => event.type === "post.created" && event.data.id === postId),
        SEARCH_DELAY_MS,
        "post.created from the outbox relay",
      );
      await waitFor(
        async () =>
          (await readdir(t.config.mail.dir).catch(() => [])).some(
            (name) => name.startsWith(`welcome-${signUp.value.json().id}-`) && name.endsWith(".eml"),
          ),
        SEARCH_DELAY_MS,
        "the welcome message from the job runner",
      );
      const sideEffectsDoneAt = performance.now() - started;

      const results = await Promise.all(searches);
      const firstSearchDoneAt = Math.min(...results.filter((r) => r.res.statusCode === 200).map((r) => r.at));
      expect(othersDoneAt).toBeLessThan(firstSearchDoneAt);
      expect(sideEffectsDoneAt).toBeLessThan(firstSearchDoneAt);

      const statuses = results.map((r) => r.res.statusCode).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 503, 503]);
      for (const { res, at } of results.filter((r) => r.res.statusCode === 503)) {
        expect(at).toBeLessThan(OTHER_ROUTE_BOUND_MS); // refused at once, not after a wait
        expect(res.headers["content-type"]).toContain("application/problem+json");
        expect(res.headers["retry-after"]).toBe("1");
        expect(res.json<Problem>()).toMatchObject({ status: 503, code: "search_busy" });
      }
      // The queued two ran after the first two, each for the whole delay.
      const finished = results.filter((r) => r.res.statusCode === 200).map((r) => r.at);
      expect(Math.max(...finished)).toBeGreaterThanOrEqual(2 * SEARCH_DELAY_MS * 0.95);
    } finally {
      await unsubscribe();
    }
  });

  it("lets one client run SEARCH_CONCURRENCY_PER_CLIENT searches at a time; more get 429 with Retry-After", async () => {
    const [first, second, third] = await Promise.all([
      t.app.inject({ url: "/api/v1/search/posts?q=one", headers: bearer(alice.access) }),
      t.app.inject({ url: "/api/v1/search/suggest?q=two", headers: bearer(alice.access) }),
      t.app.inject({ url: "/api/v1/search/posts?q=three", headers: bearer(alice.access) }),
    ]);
    const statuses = [first, second, third].map((res) => res.statusCode);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    for (const res of [first, second, third].filter((r) => r.statusCode !== 200)) {
      expect(res.statusCode).toBe(429);
      expect(res.headers["retry-after"]).toBe("1");
      expect(res.json<Problem>()).toMatchObject({ status: 429, code: "too_many_searches" });
    }
  });
});

describe.runIf(onPostgres())("statement timeouts and pool waits (PostgreSQL)", () => {
  let t: TestApp;
  const TIMEOUT_MS = 500;
  const postgresUrl = () => {
    if (!t.db.url) throw new Error("PostgreSQL mode has a URL");
    return t.db.url;
  };

  beforeAll(async () => {
    t = await createTestApp(
      { SEARCH_TIMEOUT_MS: String(TIMEOUT_MS), CACHE_TTL_SECONDS: "0" },
      { searchDelayMs: 5_000 },
    );
  });
  afterAll(() => t.close());

  it("stops a search at SEARCH_TIMEOUT_MS with 503 search_timeout and Retry-After", async () => {
    const started = performance.now();
    const res = await t.app.inject({ url: "/api/v1/search/posts?q=slow" });
    const elapsed = performance.now() - started;
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.json<Problem>()).toMatchObject({ status: 503, code: "search_timeout" });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS * 0.9);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1_000);
    // The connection went back to the pool with the general timeout: other reads work.
    expect((await t.app.inject({ url: "/api/v1/posts" })).statusCode).toBe(200);
  });

  it("answers 503 database_busy, never 500, when no pooled connection comes free in time", async () => {
    // An instance with one connection that waits 2 s for it, while a transaction holds it.
    // (The wait also bounds opening the connection, which takes a while on a loaded machine.)
    const database = await openPostgresDatabase({ url: postgresUrl(), poolSize: 1, poolWaitMs: 2_000 });
    const app = await buildApp(t.config, { database, cache: t.app.cache, pubsub: t.pubsub, jobs: t.jobs });
    try {
      let release: (() => void) | undefined;
      const holding = database.db.transaction(
        () =>
          new Promise<void>((resolve) => {
            release = resolve;
          }),
      );
      await waitFor(async () => release !== undefined, 10_000, "the held connection");
      const res = await app.inject({ url: "/api/v1/users/1" });
      release?.();
      await holding;
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(res.json<Problem>()).toMatchObject({ status: 503, code: "database_busy" });
      expect(res.body).not.toMatch(/timeout exceeded|pool|select/i);
    } finally {
      await app.close();
      await database.close();
    }
  });

  it("runs a search in one backend: no parallel workers inside its transaction, the session's own settings after it", async () => {
    const { sql } = await import("drizzle-orm");
    const workers = async () => {
      const result = await t.db.database.db.execute(
        sql`select current_setting('max_parallel_workers_per_gather') as workers`,
      );
      return (result as unknown as { rows: { workers: string }[] }).rows[0]?.workers;
    };
    const before = await workers();
    const statements: string[] = [];
    const stop = t.db.database.onQuery((q) => {
      if (!/outbox|"jobs"|pg_advisory/i.test(q.sql)) statements.push(q.sql);
    });
    // The test hook's sleep makes this search time out: settings must be undone then too.
    const res = await t.app.inject({ url: "/api/v1/search/posts?q=slow" });
    stop();
    expect(res.statusCode).toBe(503);
    const begin = statements.findIndex((text) => /^begin$/i.test(text));
    const setting = statements.findIndex((text) =>
      /set_config\('max_parallel_workers_per_gather', '0', true\)/.test(text),
    );
    const search = statements.findIndex((text) => /websearch_to_tsquery/.test(text));
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(setting).toBeGreaterThan(begin);
    expect(search).toBeGreaterThan(setting);
    expect(await workers()).toBe(before);
  });

  it("cancels any statement past DATABASE_STATEMENT_TIMEOUT_MS on every pooled session", async () => {
    const database = await openPostgresDatabase({ url: postgresUrl(), poolSize: 2, statementTimeoutMs: 200 });
    try {
      const { databaseOverloadOf } = await import("../../src/platform/database/index.js");
      const { sql } = await import("drizzle-orm");
      const failure = await database.db.execute(sql`select pg_sleep(2)`).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(databaseOverloadOf(failure)).toBe("statement_timeout");
      // Migrations run without it, and the session gets it back afterwards.
      await database.migrate();
      await expect(database.db.execute(sql`select pg_sleep(1)`)).rejects.toThrow();
    } finally {
      await database.close();
    }
  });
});
