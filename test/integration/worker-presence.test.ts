import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openJobQueue } from "../../src/platform/jobs/index.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// With REDIS_URL and JOBS_IN_PROCESS off, the API leaves its jobs to `kaira worker`
// processes; when none runs, jobs pile up silently unless the API says so.
describe.runIf(Boolean(process.env.REDIS_URL))("an API whose jobs wait for kaira worker", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ JOBS_IN_PROCESS: "false" }, undefined, {
      workerPresence: { missingAfterMs: 1_000, checkEveryMs: 100 },
    });
  });
  afterAll(() => t.close());

  const workersCheck = async () => {
    const res = await t.app.inject({ url: "/health/ready" });
    return {
      status: res.statusCode,
      workers: res.json().checks.workers as { status: string; message?: string },
    };
  };

  it("warns in readiness (still 200) when no worker was seen, and clears once one runs", async () => {
    const warned = await waitFor(
      async () => {
        const check = await workersCheck();
        return check.workers.status === "warn" && check;
      },
      10_000,
      "the missing-worker warning",
    );
    expect(warned.status).toBe(200);
    expect(warned.workers.message).toContain("kaira worker");

    // A worker elsewhere (its own connections, the same queue) sends its heartbeat through Redis.
    const worker = openJobQueue(t.config, t.db.database.db, { redisPrefix: `${t.cachePrefix}bull` });
    worker.work({ handlers: {}, schedules: [], concurrency: 1 });
    try {
      await waitFor(
        async () => (await workersCheck()).workers.status === "pass",
        20_000,
        "the warning to clear",
      );
      expect(await t.jobs.lastWorkerSeen()).toBeInstanceOf(Date);
    } finally {
      await worker.close(1_000);
    }
  });
});
