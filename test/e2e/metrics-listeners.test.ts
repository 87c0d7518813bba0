import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, type KairaProcess, runKaira, startServer, waitFor } from "../helpers/process.js";
import { promtoolCheckMetrics } from "../helpers/promtool.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

const token = randomBytes(16).toString("hex");
const scrape = (port: number, withToken = true) =>
  fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: withToken ? { authorization: `Bearer ${token}` } : {},
  });

describe("metrics on listeners of their own", { timeout: 120_000 }, () => {
  const processes: KairaProcess[] = [];
  const dirs: string[] = [];
  let testDb: TestDatabase | undefined;
  afterAll(async () => {
    for (const proc of processes) {
      proc.child.kill("SIGTERM");
      await proc.exited;
    }
    await testDb?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("kaira serve with METRICS_PORT serves /metrics there, token required, and not on the API port", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kaira-metrics-"));
    dirs.push(dataDir);
    const metricsPort = await freePort();
    const server = await startServer({
      DATA_DIR: dataDir,
      METRICS_PORT: String(metricsPort),
      METRICS_TOKEN: token,
    });
    processes.push(server);
    expect((await fetch(`${server.baseUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
    expect((await scrape(metricsPort, false)).status).toBe(401);
    const res = await scrape(metricsPort);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(
      /kaira_http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_class="2xx"\} 1/,
    );
    expect((await promtoolCheckMetrics(body)).code).toBe(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it("kaira worker serves its own /metrics on WORKER_METRICS_PORT", async () => {
    testDb = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), "kaira-worker-metrics-"));
    dirs.push(dataDir);
    const workerPort = await freePort();
    const worker = runKaira(["worker"], {
      DATABASE_URL: testDb.url as string,
      DATA_DIR: dataDir,
      WORKER_METRICS_PORT: String(workerPort),
      METRICS_TOKEN: token,
    });
    processes.push(worker);
    const body = await waitFor(
      async () => {
        const res = await scrape(workerPort);
        return res.status === 200 && (await res.text());
      },
      60_000,
      `the worker's metrics (${worker.output()})`,
    );
    expect((await scrape(workerPort, false)).status).toBe(401);
    expect(body).toMatch(/^kaira_jobs_queue_depth\{state="waiting"\} \d+/m);
    expect(body).toMatch(/^kaira_jobs_oldest_waiting_age_seconds \d/m);
    expect(body).toMatch(/^kaira_db_pool_max_connections \d+/m);
    expect(body).toContain("# TYPE kaira_job_runs_total counter");
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect((await promtoolCheckMetrics(body)).code).toBe(0);
  });
});
