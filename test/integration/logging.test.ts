import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { createLogger } from "../../src/platform/logger.js";
import { waitFor } from "../helpers/process.js";
import { createTestDatabase } from "../helpers/test-database.js";

describe("access log", () => {
  it("writes one JSON line per request with request id, method, route, status and duration", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const logger = pino({ level: "info" }, sink);
    const testDb = await createTestDatabase();
    const app = await buildApp(
      loadConfig({
        NODE_ENV: "test",
        RATE_LIMIT_PER_MINUTE: "0",
        DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-logging-")),
      }),
      {
        database: testDb.database,
        cache: createMemoryCache(),
        logger,
      },
    );
    await app.inject({ url: "/health/live", headers: { "x-request-id": "req-42" } });
    await app.inject({
      method: "POST",
      url: "/api/v1/users",
      payload: { email: "bad", username: "abc", password: "TopSecret999" },
    });
    await app.close();
    await testDb.drop();
    const access = lines.filter((line) => line.msg === "request completed");
    expect(access[0]).toMatchObject({
      request_id: "req-42",
      method: "GET",
      route: "/health/live",
      status: 200,
      duration_ms: expect.any(Number),
    });
    expect(access[1]).toMatchObject({ method: "POST", route: "/api/v1/users", status: 422 });
    expect(JSON.stringify(lines)).not.toContain("TopSecret999");
  });
});

describe("createLogger", () => {
  it("adds a rotating LOG_FILE beside stdout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kaira-logger-"));
    const logger = createLogger({
      logLevel: "info",
      logFile: join(dir, "logs", "kaira.log"),
      logPretty: false,
    });
    logger.info({ event: "test.event" }, "hello file");
    const current = join(dir, "logs", "current.log");
    const line = await waitFor(
      async () =>
        readFileSync(current, "utf8")
          .split("\n")
          .find((l) => l.includes("test.event")),
      10_000,
      "the log line",
    );
    expect(JSON.parse(line)).toMatchObject({ level: 30, event: "test.event", msg: "hello file" });
  });

  it("builds a pretty logger for terminals and a silent one", () => {
    expect(createLogger({ logLevel: "debug", logFile: undefined, logPretty: true }).level).toBe("debug");
    expect(createLogger({ logLevel: "silent", logFile: undefined, logPretty: false }).level).toBe("silent");
  });
});
