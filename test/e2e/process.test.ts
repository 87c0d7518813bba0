import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKaira, startServer, stopEmbeddedServer, waitFor } from "../helpers/process.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";

// Real `kaira` processes over real HTTP: on the embedded database by default, and on the
// test run's PostgreSQL when DATABASE_URL is set.
let testDb: TestDatabase | undefined;
let databaseEnv: Record<string, string>;
const dataDir = mkdtempSync(join(tmpdir(), "kaira-e2e-"));

beforeAll(async () => {
  if (onPostgres()) {
    testDb = await createTestDatabase();
    databaseEnv = { DATABASE_URL: testDb.url as string };
  } else {
    databaseEnv = { DATA_DIR: dataDir };
  }
});
afterAll(async () => {
  await testDb?.drop();
  await stopEmbeddedServer(dataDir);
});

const json = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("kaira serve", { timeout: 120_000 }, () => {
  it("serves the seed's sign-up cases, logs each request to LOG_FILE, and drains on SIGTERM", async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), "kaira-log-")), "kaira.log");
    const server = await startServer({ ...databaseEnv, LOG_FILE: logFile, SHUTDOWN_DRAIN_SECONDS: "1" });

    const body = { username: "john", email: "john@example.com", password: "SecurePass123" };
    const created = await fetch(`${server.baseUrl}/api/v1/users/`, json(body));
    expect(created.status).toBe(201);
    expect(((await created.json()) as { email: string }).email).toBe("john@example.com");
    const again = await fetch(`${server.baseUrl}/api/v1/users`, json({ ...body, username: "john2" }));
    expect(again.status).toBe(400);
    expect(((await again.json()) as { detail: string }).detail).toContain("already registered");

    if (!onPostgres()) {
      // The embedded default runs its jobs in the API process: the welcome message is written
      // as a file under DATA_DIR/mail.
      const { id } = (await created.json().catch(() => ({}))) as { id?: number };
      await waitFor(
        async () => readdirSync(join(dataDir, "mail")).some((name) => name.startsWith("welcome-")),
        10_000,
        `the welcome message for user ${id ?? "?"}`,
      );
    }

    const docs = await fetch(`${server.baseUrl}/docs`);
    expect(docs.status).toBe(200);
    const openapi = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { openapi: string };
    expect(openapi.openapi).toBe("3.1.0");

    // A sign-up in flight when SIGTERM arrives still completes; readiness turns 503 first.
    const inFlight = fetch(
      `${server.baseUrl}/api/v1/users`,
      json({ ...body, email: "late@example.com", username: "late" }),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    server.child.kill("SIGTERM");
    await waitFor(
      async () => (await fetch(`${server.baseUrl}/health/ready`)).status === 503,
      2_000,
      "not-ready",
    );
    expect((await inFlight).status).toBe(201);
    expect(await server.exited).toBe(0);

    const activeLog = join(logFile, "..", "current.log"); // pino-roll links the file it writes
    const lines = readFileSync(activeLog, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const access = lines.find(
      (l) => l.msg === "request completed" && l.route === "/api/v1/users" && l.status === 201,
    );
    expect(access).toMatchObject({
      method: "POST",
      request_id: expect.any(String),
      duration_ms: expect.any(Number),
    });
    expect(readFileSync(activeLog, "utf8")).not.toContain("SecurePass123");
  });

  it.skipIf(onPostgres())(
    "runs CLI commands beside the server on its embedded PostgreSQL, which stops with the last process",
    async () => {
      const server = await startServer(databaseEnv);
      try {
        const admin = runKaira(
          ["create-admin", "--email", "beside@example.com", "--password", "SecurePass123"],
          databaseEnv,
        );
        expect(await admin.exited).toBe(0);
        const url = runKaira(["db", "url"], databaseEnv);
        expect(await url.exited).toBe(0);
        expect(url.output().trim()).toMatch(/^postgres:\/\/kaira:[^@]+@127\.0\.0\.1:\d+\/kaira$/);
        // The user the CLI created is there for the API: both use the one server.
        const login = await fetch(`${server.baseUrl}/api/v1/auth/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "username=beside%40example.com&password=SecurePass123",
        });
        expect(login.status).toBe(200);
        const worker = runKaira(["worker"], databaseEnv);
        await waitFor(async () => worker.output().includes("Kaira worker running"), 60_000, "the worker");
        worker.child.kill("SIGTERM");
        expect(await worker.exited).toBe(0);
        // The worker's exit left the server to the API, which still answers from it.
        expect((await fetch(`${server.baseUrl}/health/ready`)).status).toBe(200);
      } finally {
        server.child.kill("SIGTERM");
        expect(await server.exited).toBe(0);
      }
      const status = runKaira(["db", "status"], databaseEnv);
      expect(await status.exited).toBe(0);
      expect(status.output()).toMatch(/not running/);
    },
  );

  it.skipIf(onPostgres())(
    "after kill -9 of the API, the next start reuses the orphaned server and every acknowledged write is there",
    async () => {
      const first = await startServer(databaseEnv);
      const created = await fetch(
        `${first.baseUrl}/api/v1/users`,
        json({ email: "acked@example.com", username: "acked", password: "SecurePass123" }),
      );
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      const postmasterPid = () =>
        Number.parseInt(readFileSync(join(dataDir, "postgres", "pgdata", "postmaster.pid"), "utf8"), 10);
      const orphan = postmasterPid();
      first.child.kill("SIGKILL");
      await first.exited;
      const second = await startServer(databaseEnv);
      try {
        expect(postmasterPid()).toBe(orphan);
        expect((await fetch(`${second.baseUrl}/api/v1/users/${id}`)).status).toBe(200);
      } finally {
        second.child.kill("SIGTERM");
        expect(await second.exited).toBe(0);
      }
      // The last process out stopped the server it had inherited.
      await waitFor(
        async () => !existsSync(join(dataDir, "postgres", "pgdata", "postmaster.pid")),
        10_000,
        "the server to stop",
      );
    },
  );

  it.runIf(onPostgres())("runs two instances side by side on PostgreSQL", async () => {
    const [a, b] = await Promise.all([startServer(databaseEnv), startServer(databaseEnv)]);
    try {
      const res = await fetch(
        `${a.baseUrl}/api/v1/users`,
        json({ email: "two@example.com", username: "two", password: "SecurePass123" }),
      );
      const { id } = (await res.json()) as { id: number };
      expect((await fetch(`${b.baseUrl}/api/v1/users/${id}`)).status).toBe(200);
    } finally {
      a.child.kill("SIGTERM");
      b.child.kill("SIGTERM");
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
    }
  });

  it("shuts down cleanly on Ctrl-C under npm, which delivers SIGINT twice", async () => {
    // Its own data directory: on the embedded default the database server must stop with it.
    const ownDir = mkdtempSync(join(tmpdir(), "kaira-e2e-sigint-"));
    const server = await startServer(onPostgres() ? databaseEnv : { DATA_DIR: ownDir });
    try {
      server.child.kill("SIGINT");
      await new Promise((resolve) => setTimeout(resolve, 5));
      server.child.kill("SIGINT");
      expect(await server.exited).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');
      if (!onPostgres()) {
        // The embedded server stopped too: nothing is left holding the data directory.
        expect(existsSync(join(ownDir, "postgres", "pgdata", "postmaster.pid"))).toBe(false);
      }
    } finally {
      server.child.kill("SIGKILL");
      await stopEmbeddedServer(ownDir);
    }
  });

  it("stops at start-up with a message naming a bad variable", async () => {
    const run = runKaira(["serve"], { ...databaseEnv, PORT: "not-a-port" });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("PORT");
  });
});

describe("kaira CLI", { timeout: 120_000 }, () => {
  it("migrates idempotently, also when run concurrently", async () => {
    const runs = [runKaira(["migrate"], databaseEnv), runKaira(["migrate"], databaseEnv)];
    for (const run of runs) expect(await run.exited).toBe(0);
    const again = runKaira(["migrate"], databaseEnv);
    expect(await again.exited).toBe(0);
    expect(again.output()).toContain("Migrations applied");
  });

  it("seeds demo data that the API then serves", async () => {
    const seed = runKaira(["seed", "--users", "5", "--posts", "45"], databaseEnv);
    expect(await seed.exited).toBe(0);
    expect(seed.output()).toMatch(/Seeded 5 users and 45 posts/);
    const server = await startServer(databaseEnv);
    try {
      const page = (await (await fetch(`${server.baseUrl}/api/v1/posts?limit=50`)).json()) as {
        items: unknown[];
      };
      expect(page.items.length).toBeGreaterThanOrEqual(45);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });

  it("rejects bad seed arguments and unknown commands", async () => {
    const bad = runKaira(["seed", "--users", "many"], databaseEnv);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain("--users");
    const unknown = runKaira(["frobnicate"], databaseEnv);
    expect(await unknown.exited).toBe(2);
    expect(unknown.output()).toContain("Usage: kaira");
    // PGlite belongs to the API process, which runs its jobs itself.
    const worker = runKaira(["worker"], { DATA_DIR: dataDir, EMBEDDED_ENGINE: "pglite" });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain("DATABASE_URL is required by `kaira worker`");
  });

  it("creates an admin from the command line, once", async () => {
    const args = ["create-admin", "--email", "cli-admin@example.com", "--password", "Root-Pass-Cli-9"];
    const first = runKaira(args, databaseEnv);
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/Admin cli-admin@example\.com \(id \d+, username cli-admin\) created/);
    const again = runKaira(args, databaseEnv);
    expect(await again.exited).toBe(0);
    expect(again.output()).toContain("already an admin; nothing changed");
    const missing = runKaira(["create-admin"], databaseEnv);
    expect(await missing.exited).toBe(2);
    expect(missing.output()).toContain("--email");
    // A password the policy refuses (it holds the email's local part) is one line, exit 2.
    const weak = runKaira(
      ["create-admin", "--email", "ops@example.com", "--password", "Ops-Pass-1234"],
      databaseEnv,
    );
    expect(await weak.exited).toBe(2);
    expect(weak.output()).toMatch(/^The admin password is refused: .*--password\)\.\n$/m);
    expect(weak.output()).not.toMatch(/\n\s+at /);
  });

  it("refuses to start in production without a strong SECRET_KEY", async () => {
    const run = runKaira(["serve"], { ...databaseEnv, NODE_ENV: "production" });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("SECRET_KEY is required in production");
  });

  it("prints the OpenAPI document", async () => {
    const run = runKaira(["openapi"], {});
    expect(await run.exited).toBe(0);
    const doc = JSON.parse(run.output());
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/api/v1/posts"]).toBeDefined();
  });

  it("stops quietly when the reader of the document goes away (`kaira openapi | head`)", async () => {
    const run = runKaira(["openapi"], {});
    run.child.stdout?.destroy(); // the reader is gone before the document is written
    expect(await run.exited).toBe(0);
    expect(run.output()).not.toMatch(/EPIPE|\n\s+at /);
  });
});
