import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/platform/database/index.js";
import { jobs as jobsTable } from "../../src/platform/database/schema.js";
import { createBullmqJobQueue } from "../../src/platform/jobs/bullmq-jobs.js";
import { createEmbeddedJobQueue } from "../../src/platform/jobs/embedded-jobs.js";
import type { JobHandler, JobQueue } from "../../src/platform/jobs/index.js";
import { waitFor } from "../helpers/process.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

type Factory = (db: Db, options: { attempts: number; leaseMs: number }) => JobQueue;

// One contract for both adapters; BullMQ runs whenever REDIS_URL is set.
const adapters: [string, Factory][] = [
  ["embedded", (db, options) => createEmbeddedJobQueue(db, { ...options, pollMs: 50 })],
];
if (process.env.REDIS_URL) {
  const redisUrl = process.env.REDIS_URL;
  const prefix = `kaira-test:${randomBytes(6).toString("hex")}:bull`;
  adapters.push([
    "bullmq",
    (db, options) => createBullmqJobQueue(db, { redisUrl, prefix, ...options, relayPollMs: 50 }),
  ]);
}

describe.each(adapters)("job queue contract: %s", (_name, create) => {
  let testDb: TestDatabase;
  let db: Db;
  const open: JobQueue[] = [];
  const queue = (options: { attempts?: number; leaseMs?: number } = {}) => {
    const created = create(db, { attempts: options.attempts ?? 2, leaseMs: options.leaseMs ?? 5_000 });
    created.startRelay(() => {});
    open.push(created);
    return created;
  };
  const work = (
    q: JobQueue,
    handlers: Record<string, JobHandler>,
    schedules = [] as { name: string; everyMs: number }[],
  ) => q.work({ handlers, schedules, concurrency: 2 });

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = testDb.database.db;
  });
  // Every worker of a queue must know every job; so that each test's workers see only its
  // own jobs, they stop before the next test.
  afterEach(async () => {
    for (const q of open.splice(0)) await q.close(0);
  });
  afterAll(async () => {
    await testDb.drop();
  });

  it("runs a job recorded in a transaction once it commits, and never one whose transaction rolled back", async () => {
    const q = queue();
    const seen: unknown[] = [];
    work(q, { "test.commit": async (data) => void seen.push(data.n) });
    await db.transaction(async (tx) => q.record(tx, { name: "test.commit", data: { n: 1 } }));
    await expect(
      db.transaction(async (tx) => {
        await q.record(tx, { name: "test.commit", data: { n: 2 } });
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await q.record(db, { name: "test.commit", data: { n: 3 } });
    await waitFor(async () => seen.length >= 2, 5_000, "both committed jobs");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.sort()).toEqual([1, 3]);
  });

  it("retries a failing job with back-off, keeps it as failed, and runs it again on retry", async () => {
    const q = queue({ attempts: 2 });
    const attempts: { at: number; attempt: number }[] = [];
    let healed = false;
    work(q, {
      "test.flaky": async (_data, context) => {
        attempts.push({ at: Date.now(), attempt: context.attempt });
        if (!healed) throw new Error("downstream unavailable");
      },
    });
    await q.record(db, { name: "test.flaky", data: { order: 7 } });
    await waitFor(
      async () => (await q.list("failed", 10)).some((job) => job.name === "test.flaky"),
      10_000,
      "failed",
    );
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    // The first retry waits about a second (exponential back-off with jitter).
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(700);

    const [failed] = (await q.list("failed", 10)).filter((job) => job.name === "test.flaky");
    expect(failed).toMatchObject({ state: "failed", attemptsMade: 2, maxAttempts: 2, data: { order: 7 } });
    expect(failed?.error).toContain("downstream unavailable");
    expect((await q.counts()).failed).toBeGreaterThanOrEqual(1);

    healed = true;
    expect(await q.retry(failed?.id ?? "")).toBe(true);
    await waitFor(async () => attempts.length === 3, 5_000, "the retried run");
    await waitFor(
      async () => !(await q.list("failed", 10)).some((job) => job.id === failed?.id),
      5_000,
      "no longer failed",
    );
    expect(await q.retry(failed?.id ?? "")).toBe(false); // not failed any more
    expect(await q.retry("999999")).toBe(false);
    expect(await q.retry("not-a-job")).toBe(false);
  });

  it("keeps a schedule's job enqueued", async () => {
    const q = queue();
    let runs = 0;
    const tick = async () => {
      runs += 1;
    };
    work(q, { "test.tick": tick }, [{ name: "test.tick", everyMs: 500 }]);
    await waitFor(async () => runs >= 2, 8_000, "two scheduled runs");
  });

  it("runs a job again when its worker stopped mid-run, once the lease has expired", async () => {
    const first = queue({ leaseMs: 1_000 });
    let started = false;
    // The first worker never finishes: as if its process had been killed mid-job.
    work(first, {
      "test.long": async () => {
        started = true;
        await new Promise(() => {});
      },
    });
    await first.record(db, { name: "test.long", data: {} });
    await waitFor(async () => started, 5_000, "the first run to start");
    await first.close(0);

    const second = queue({ leaseMs: 1_000 });
    const attemptsSeen: number[] = [];
    work(second, { "test.long": async (_data, context) => void attemptsSeen.push(context.attempt) });
    await waitFor(async () => attemptsSeen.length === 1, 10_000, "the job to run again");
    expect(attemptsSeen[0]).toBeGreaterThanOrEqual(1);
  });

  it("lists jobs by state with what admins need to see", async () => {
    const q = queue();
    const done: number[] = [];
    work(q, { "test.listed": async (data) => void done.push(Number(data.n)) });
    await q.record(db, { name: "test.listed", data: { n: 1 } });
    await waitFor(async () => done.length === 1, 5_000, "the job");
    await waitFor(
      async () => (await q.list("completed", 100)).some((job) => job.name === "test.listed"),
      5_000,
      "listed",
    );
    const infos = await q.list("completed", 100);
    expect(infos.length).toBeGreaterThan(0);
    for (const info of infos) {
      expect(info.state).toBe("completed");
      expect(typeof info.id).toBe("string");
      expect(info.finishedAt).toBeInstanceOf(Date);
    }
  });
});

describe("embedded job runner", () => {
  it("keeps a job as failed when the worker of its last attempt died, instead of retrying forever", async () => {
    const testDb = await createTestDatabase();
    const db = testDb.database.db;
    const first = createEmbeddedJobQueue(db, { attempts: 1, leaseMs: 1_000, pollMs: 50 });
    let started = false;
    first.work({
      handlers: {
        "test.doomed": async () => {
          started = true;
          await new Promise(() => {});
        },
      },
      schedules: [],
      concurrency: 1,
    });
    await first.record(db, { name: "test.doomed", data: {} });
    await waitFor(async () => started, 5_000, "the only attempt to start");
    await first.close(0);
    const second = createEmbeddedJobQueue(db, { attempts: 1, leaseMs: 1_000, pollMs: 50 });
    let reran = false;
    const rerun = async () => {
      reran = true;
    };
    second.work({
      handlers: { "test.doomed": rerun },
      schedules: [],
      concurrency: 1,
    });
    const [failed] = await waitFor(
      async () => {
        const list = await second.list("failed", 10);
        return list.length > 0 ? list : undefined;
      },
      10_000,
      "the job to be kept as failed",
    );
    expect(failed?.error).toContain("stopped before finishing");
    expect(reran).toBe(false);
    await second.close(0);
    await testDb.drop();
  });

  it("stores jobs in the database it was given", async () => {
    const testDb = await createTestDatabase();
    try {
      const q = createEmbeddedJobQueue(testDb.database.db, { attempts: 1, leaseMs: 1_000 });
      await q.record(testDb.database.db, { name: "test.stored", data: { a: 1 } });
      const rows = await testDb.database.db.select().from(jobsTable);
      expect(rows).toMatchObject([{ name: "test.stored", data: { a: 1 }, state: "waiting", maxAttempts: 1 }]);
      await q.close(0);
    } finally {
      await testDb.drop();
    }
  });
});
