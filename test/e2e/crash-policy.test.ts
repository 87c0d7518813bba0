import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../helpers/process.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

// A real process with a planted fault: an error that escapes every handler is logged at fatal
// with the request id, the graceful shutdown runs, and the process exits 1 for its supervisor.
const FAULTY_SERVER = fileURLToPath(new URL("../fixtures/faulty-server.ts", import.meta.url));
let testDb: TestDatabase | undefined;

beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb?.drop();
});

const jsonLines = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("the process-level error policy", { timeout: 180_000 }, () => {
  it.each([
    ["an 'error' event nobody listens for", "/test/unhandled-error", "uncaughtException"],
    ["a rejected promise nobody handles", "/test/unhandled-rejection", "unhandledRejection"],
  ])(
    "%s: logs it at fatal with the request id, shuts down gracefully and exits 1",
    async (_what, path, origin) => {
      const server = await startServer(
        {
          ...(testDb
            ? { DATABASE_URL: testDb.url as string }
            : { DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-crash-")) }),
          LOG_LEVEL: "info",
          SHUTDOWN_DRAIN_SECONDS: "0",
        },
        ["--import", "tsx", FAULTY_SERVER],
      );
      try {
        const requestId = `planted-${origin}`;
        const res = await fetch(`${server.baseUrl}${path}`, { headers: { "x-request-id": requestId } });
        expect(res.status).toBe(200);
        expect(await server.exited).toBe(1);
        const lines = jsonLines(server.output());
        const fatal = lines.find((line) => line.event === "process.crashed");
        expect(fatal, server.output()).toMatchObject({ level: 60, origin, request_id: requestId });
        expect(JSON.stringify(fatal)).toContain("planted");
        const events = lines.map((line) => line.event);
        expect(events.indexOf("shutdown.started")).toBeGreaterThan(events.indexOf("process.crashed"));
        expect(events).toContain("shutdown.completed");
      } finally {
        if (server.child.exitCode === null) server.child.kill("SIGKILL");
      }
    },
  );
});
