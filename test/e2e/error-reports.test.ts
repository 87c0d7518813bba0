import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startServer, waitFor } from "../helpers/process.js";
import { type EnvelopeItem, type SentryReceiver, startSentryReceiver } from "../helpers/sentry-receiver.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";

// Error reports as an operator gets them: a real `kaira serve` process with the real Sentry
// SDK, sending to an endpoint of the test's own that records envelopes.
const REPORTING_SERVER = fileURLToPath(new URL("../fixtures/reporting-server.ts", import.meta.url));

type Event = {
  exception?: { values?: { type?: string; value?: string }[] };
  tags?: Record<string, string>;
  user?: Record<string, unknown>;
  request?: Record<string, unknown>;
  contexts?: Record<string, Record<string, unknown>>;
};

describe("error reports (Sentry)", { timeout: 180_000 }, () => {
  let testDb: TestDatabase | undefined;
  let receiver: SentryReceiver;
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    testDb = onPostgres() ? await createTestDatabase() : undefined;
    receiver = await startSentryReceiver();
    server = await startServer(
      {
        ...(testDb ? { DATABASE_URL: testDb.url as string } : {}),
        DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-sentry-")),
        SECRET_KEY: randomBytes(32).toString("hex"),
        SENTRY_DSN: receiver.dsn,
        // Jobs run in this process (no Redis) against a mail server that is not there, once.
        REDIS_URL: "",
        SMTP_URL: `smtp://127.0.0.1:${await freePort()}`,
        JOB_ATTEMPTS: "1",
        LOG_LEVEL: "info",
        SHUTDOWN_DRAIN_SECONDS: "0",
      },
      ["--import", "tsx", REPORTING_SERVER],
    );
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) server.child.kill("SIGKILL");
    await receiver?.close();
    await testDb?.drop();
  });

  const events = () => receiver.items.filter((item) => item.type === "event");
  const eventWith = (message: string) =>
    waitFor(
      async () =>
        events().find((item) => (item.payload as Event).exception?.values?.some((v) => v.value === message)),
      15_000,
      `an event for "${message}"`,
    );

  it("reports a 500, a job failed for good and an unhandled rejection, with ids and without secrets", async () => {
    const password = `Pw-${randomBytes(6).toString("hex")}`;
    const email = `reported_${randomBytes(4).toString("hex")}@example.com`;
    const created = await fetch(`${server.baseUrl}/api/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, username: `rep_${randomBytes(4).toString("hex")}`, password }),
    });
    expect(created.status).toBe(201);
    const { id: userId } = (await created.json()) as { id: number };
    const token = (await (
      await fetch(`${server.baseUrl}/api/v1/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: email, password }).toString(),
      })
    ).json()) as { access_token: string; refresh_token: string };
    const cookie = `session-${randomBytes(6).toString("hex")}`;
    const bodySecret = `body-${randomBytes(6).toString("hex")}`;

    // A route that fails: 500, reported with the request id, the route template and the user.
    const failed = await fetch(`${server.baseUrl}/test/failing/thing-42?api_key=query-secret`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token.access_token}`,
        cookie: `kaira_session=${cookie}`,
        "content-type": "application/json",
        "x-request-id": "req-reported-500",
      },
      body: JSON.stringify({ password: bodySecret, refresh_token: token.refresh_token }),
    });
    expect(failed.status).toBe(500);
    const report = await eventWith("planted failure");
    const event = report.payload as Event;
    expect(event.tags).toMatchObject({
      request_id: "req-reported-500",
      route: "/test/failing/:thing",
      method: "POST",
      status: "500",
      process: "api",
    });
    expect(event.user).toEqual({ id: String(userId) });
    console.log(
      `500 reported as: ${JSON.stringify({ tags: event.tags, user: event.user, request: event.request })}`,
    );

    // The welcome mail's job fails its only attempt (no mail server): reported with the job.
    const job = await waitFor(
      async () => events().find((item) => (item.payload as Event).tags?.job !== undefined),
      30_000,
      "the failed job's event",
    );
    expect((job.payload as Event).tags).toMatchObject({ job: "users.welcome_email" });
    expect((job.payload as Event).contexts?.job).toMatchObject({ name: "users.welcome_email", attempt: 1 });

    // An error that escapes every handler: reported (with its request) before the process exits.
    const crash = await fetch(`${server.baseUrl}/test/unhandled-rejection`, {
      headers: { "x-request-id": "req-crashed" },
    });
    expect(crash.status).toBe(200);
    expect(await server.exited).toBe(1);
    const crashed = await eventWith("planted rejection");
    expect((crashed.payload as Event).tags).toMatchObject({
      request_id: "req-crashed",
      origin: "unhandledRejection",
    });

    // Nothing secret in any envelope: no password, token, cookie, body or query string.
    const everything = receiver.raw.join("\n");
    for (const secret of [
      password,
      bodySecret,
      token.access_token,
      token.refresh_token,
      cookie,
      "query-secret",
    ])
      expect(everything).not.toContain(secret);
    expect(everything.toLowerCase()).not.toContain("authorization");
    const reported: EnvelopeItem[] = [report, job, crashed];
    for (const item of reported) expect((item.payload as Event).request?.data).toBeUndefined();
  });
});
