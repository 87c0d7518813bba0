import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../helpers/otlp-receiver.js";
import { freePort, type KairaProcess, runKaira, startServer, waitFor } from "../helpers/process.js";
import { type SentryReceiver, startSentryReceiver } from "../helpers/sentry-receiver.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";

// Traces as an operator gets them: `kaira serve` and `kaira worker` on PostgreSQL and a Redis of
// this test's own, exporting OTLP/HTTP (JSON) to a receiver the test runs, and a mail server.
const distributed = onPostgres() && Boolean(process.env.REDIS_URL);

const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;

describe.skipIf(!distributed)(
  "traces across the API, the job queue and the worker",
  { timeout: 120_000 },
  () => {
    let testDb: TestDatabase;
    let redis: ChildProcess;
    let smtp: TestSmtpServer;
    let receiver: OtlpReceiver;
    let errorReports: SentryReceiver;
    let api: Awaited<ReturnType<typeof startServer>>;
    let worker: KairaProcess;

    beforeAll(async () => {
      testDb = await createTestDatabase();
      receiver = await startOtlpReceiver();
      errorReports = await startSentryReceiver();
      const redisPort = await freePort();
      redis = spawn(
        "redis-server",
        ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      const smtpPort = await freePort();
      smtp = await startSmtpServer(smtpPort);
      const env = {
        DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-traces-")),
        DATABASE_URL: testDb.url as string,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        SECRET_KEY: randomBytes(32).toString("hex"),
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        LOG_LEVEL: "info",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        // Spans are sent in batches; a short delay keeps the test short.
        OTEL_BSP_SCHEDULE_DELAY: "100",
        // Error reports on as well, as in production: the two must not get in each other's way.
        SENTRY_DSN: errorReports.dsn,
      };
      worker = runKaira(["worker"], env);
      api = await startServer(env);
    });

    afterAll(async () => {
      for (const proc of [api, worker]) proc?.child.kill("SIGKILL");
      redis?.kill("SIGKILL");
      await smtp?.close();
      await receiver?.close();
      await errorReports?.close();
      await testDb?.drop();
    });

    it("joins a sign-up request, its welcome-mail job in the worker process and the SMTP send in one trace", async () => {
      const email = `traced_${randomBytes(4).toString("hex")}@example.com`;
      const created = await fetch(`${api.baseUrl}/api/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          email,
          username: `traced_${randomBytes(4).toString("hex")}`,
          password: "SecurePass123",
        }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      await waitFor(async () => smtp.received.find((m) => m.to.includes(email)), 30_000, "the welcome mail");

      const request = await waitFor(
        async () => receiver.spans.find((s) => s.service === "kaira" && s.name === "POST /api/v1/users"),
        15_000,
        "the sign-up request's span",
      );
      const smtpSend = await waitFor(
        async () => receiver.spans.find((s) => s.traceId === request.traceId && s.name === "smtp send"),
        15_000,
        "the SMTP send's span in the request's trace",
      );
      const trace = receiver.spans.filter((s) => s.traceId === request.traceId);
      const byId = new Map(trace.map((s) => [s.spanId, s]));
      const ancestors = (span: ReceivedSpan) => {
        const chain: ReceivedSpan[] = [];
        for (
          let at = span.parentSpanId && byId.get(span.parentSpanId);
          at;
          at = at.parentSpanId && byId.get(at.parentSpanId)
        )
          chain.push(at);
        return chain;
      };

      console.log(
        `one trace, ${trace.length} spans:\n${trace
          .map((s) => `  ${s.service} ${"  ".repeat(ancestors(s).length)}${s.name}`)
          .join("\n")}`,
      );

      // The request: a server span named by its route template, with PostgreSQL work under it.
      expect(request.kind).toBe(SERVER);
      expect(request.parentSpanId).toBeUndefined();
      expect(request.attributes["http.route"]).toBe("/api/v1/users");
      expect(
        trace.some(
          (s) =>
            s.service === "kaira" && s.name.startsWith("pg.query:INSERT") && ancestors(s).includes(request),
        ),
      ).toBe(true);

      // The job, run by the worker process, is a child of the request.
      const job = trace.find((s) => s.name === "process users.welcome_email");
      expect(job?.service).toBe("kaira-worker");
      expect(job?.kind).toBe(CONSUMER);
      expect(job?.parentSpanId).toBe(request.spanId);
      // Its own reads are in the trace too, and the mail leaves from it.
      expect(
        trace.some(
          (s) =>
            s.service === "kaira-worker" && s.name.startsWith("pg.query") && s.parentSpanId === job?.spanId,
        ),
      ).toBe(true);
      expect(smtpSend.service).toBe("kaira-worker");
      expect(smtpSend.kind).toBe(CLIENT);
      expect(smtpSend.parentSpanId).toBe(job?.spanId);
      expect(ancestors(smtpSend).at(-1)).toBe(request);

      // No span is named by a raw URL, and nothing but OTLP JSON reached the receiver.
      expect(receiver.spans.filter((s) => /\/\d+(\/|$)/.test(s.name))).toEqual([]);
      expect(receiver.rejected).toEqual([]);
      // Readiness was polled until the API was up: probes leave no traces.
      expect(
        receiver.spans.filter(
          (s) => s.name.includes("/health") || s.attributes["url.path"] === "/health/ready",
        ),
      ).toEqual([]);
      // The API's log lines for the request carry its trace.
      expect(api.output()).toContain(`"trace_id":"${request.traceId}","span_id":"${request.spanId}"`);
      expect(id).toBeGreaterThan(0);
    });

    it("puts the outbox relay's publish of a new post's event in the trace of the request that wrote it", async () => {
      const user = {
        email: `poster_${randomBytes(4).toString("hex")}@example.com`,
        username: `poster_${randomBytes(4).toString("hex")}`,
        password: "SecurePass123",
      };
      const signedUp = await fetch(`${api.baseUrl}/api/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(user),
      });
      expect(signedUp.status).toBe(201);
      const token = (await (
        await fetch(`${api.baseUrl}/api/v1/auth/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ username: user.email, password: user.password }).toString(),
        })
      ).json()) as { access_token: string };
      const posted = await fetch(`${api.baseUrl}/api/v1/posts`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token.access_token}` },
        body: JSON.stringify({ title: "Traced", content: "through the outbox" }),
      });
      expect(posted.status).toBe(201);

      const request = await waitFor(
        async () => receiver.spans.find((s) => s.service === "kaira" && s.name === "POST /api/v1/posts"),
        15_000,
        "the post request's span",
      );
      const publish = await waitFor(
        async () => receiver.spans.find((s) => s.traceId === request.traceId && s.name === "publish events"),
        15_000,
        "the relay's publish in the request's trace",
      );
      expect(publish.parentSpanId).toBe(request.spanId);
      expect(publish.attributes["messaging.batch.message_count"]).toBeGreaterThanOrEqual(1);
      // The publish to Redis happens under it.
      await waitFor(
        async () => receiver.spans.find((s) => s.parentSpanId === publish.spanId && s.name === "publish"),
        15_000,
        "the Redis PUBLISH under the relay's span",
      );
      // The relay's later polls are in no trace: its steps never inherit the waking request's.
      const pollsAfter = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(
        receiver.spans.filter(
          (s) => s.traceId === request.traceId && s.startTimeMs > pollsAfter && s.service === "kaira",
        ),
      ).toEqual([]);

      // A credential in a query string stays out of the span, as out of the access log.
      const withTokenInUrl = await fetch(
        `${api.baseUrl}/api/v1/users/me?access_token=${token.access_token}&page=2`,
        { headers: { authorization: `Bearer ${token.access_token}` } },
      );
      expect(withTokenInUrl.status).toBe(200);
      const me = await waitFor(
        async () => receiver.spans.find((s) => s.service === "kaira" && s.name === "GET /api/v1/users/me"),
        15_000,
        "the /users/me span",
      );
      expect(me.attributes["url.query"]).toBe("access_token=[redacted]&page=2");
      expect(JSON.stringify(receiver.spans)).not.toContain(token.access_token);
    });
  },
);
