import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMetricsServer } from "../../src/http/metrics-endpoint.js";
import { createMetrics } from "../../src/platform/metrics/prometheus.js";
import { bearer, login, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { promtoolCheckMetrics } from "../helpers/promtool.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

/** Every `name{labels}` series in an exposition, values left out. */
function seriesOf(exposition: string, prefix = "kaira_"): Set<string> {
  return new Set(
    exposition
      .split("\n")
      .filter((line) => line.startsWith(prefix))
      .map((line) => line.slice(0, line.lastIndexOf(" "))),
  );
}

/** The value of one series, or undefined when it is absent. */
function sampleValue(exposition: string, series: string): number | undefined {
  const line = exposition.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", { timeout: 120_000 }, () => {
  let t: TestApp;
  const scrape = async () => {
    const res = await t.app.inject({ url: "/metrics" });
    expect(res.statusCode).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    // No leeway for a just-spent refresh token: the replay below must count as reuse.
    t = await createTestApp({ REFRESH_REUSE_LEEWAY_SECONDS: "0" });
  });
  afterAll(() => t.close());

  it("exposes the instruments an operator needs, and promtool accepts the output", async () => {
    const alice = await signUpAndLogin(t.app);
    const bob = await signUpAndLogin(t.app);
    expect((await login(t.app, alice.email, "wrong-password")).statusCode).toBe(401);
    const created = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(alice.access),
      payload: { title: "Metrics", content: "counted", tags: [] },
    });
    expect(created.statusCode).toBe(201);
    const postId = created.json().id;
    expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(alice.access) })).statusCode).toBe(
      200,
    );
    for (let i = 0; i < 2; i++) {
      expect((await t.app.inject({ url: `/api/v1/posts/${postId}` })).statusCode).toBe(200);
    }
    const reused = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: alice.refresh },
    });
    expect(reused.statusCode).toBe(200);
    const replayed = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: alice.refresh },
    });
    expect(replayed.statusCode).toBe(401);
    const transfer = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(bob.access), "idempotency-key": randomBytes(8).toString("hex") },
      payload: { to_user_id: alice.id, amount: 5 },
    });
    expect(transfer.statusCode).toBe(400); // bob has no credits
    // The welcome mails run as jobs in this process; wait until both are counted.
    const body = await waitFor(
      async () => {
        const text = await scrape();
        const completed = sampleValue(
          text,
          'kaira_job_runs_total{job="users.welcome_email",outcome="completed"}',
        );
        return completed !== undefined && completed >= 2 && text;
      },
      20_000,
      "the welcome jobs to be counted",
    );

    const check = await promtoolCheckMetrics(body);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);

    const series = seriesOf(body);
    const has = (s: string) =>
      expect(
        [...series].some((x) => x.startsWith(s)),
        s,
      ).toBe(true);
    // HTTP: the route template, never the URL.
    has(
      'kaira_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/posts/:id",status_class="2xx"}',
    );
    has(
      'kaira_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/token",status_class="4xx"}',
    );
    expect([...series].some((s) => s.includes(`/api/v1/posts/${postId}`))).toBe(false);
    has("kaira_http_requests_in_flight");
    // Database.
    for (const gauge of ["connections", "max_connections", "in_use", "waiting"])
      has(`kaira_db_pool_${gauge}`);
    expect(sampleValue(body, "kaira_db_pool_max_connections")).toBeGreaterThanOrEqual(1);
    has('kaira_db_query_duration_seconds_count{operation="select"}');
    has('kaira_db_query_duration_seconds_count{operation="insert"}');
    // Cache: the second read of the post was a hit, the first a miss.
    expect(sampleValue(body, 'kaira_cache_hits_total{cache="posts"}')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(body, 'kaira_cache_misses_total{cache="posts"}')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(body, 'kaira_cache_hits_total{cache="auth_state"}')).toBeGreaterThanOrEqual(1);
    expect(body).toContain("# TYPE kaira_cache_errors_total counter");
    // Jobs.
    for (const state of ["waiting", "delayed", "active", "completed", "failed"])
      has(`kaira_jobs_queue_depth{state="${state}"}`);
    has("kaira_jobs_oldest_waiting_age_seconds");
    has('kaira_job_run_duration_seconds_count{job="users.welcome_email"}');
    // Live updates.
    has("kaira_live_connections");
    has("kaira_live_messages_sent_total");
    has("kaira_live_slow_consumer_closes_total");
    expect(sampleValue(body, "kaira_outbox_lag_seconds")).toBeGreaterThanOrEqual(0);
    // Auth and transfers.
    expect(sampleValue(body, 'kaira_auth_logins_total{outcome="succeeded"}')).toBe(2);
    expect(sampleValue(body, 'kaira_auth_logins_total{outcome="failed"}')).toBe(1);
    expect(sampleValue(body, "kaira_auth_refresh_reuse_total")).toBe(1);
    expect(sampleValue(body, 'kaira_transfers_total{outcome="insufficient_funds"}')).toBe(1);
    // The process: default metrics, event-loop lag among them.
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(body).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it("adds no series for 1,000 distinct URLs", { timeout: 120_000 }, async () => {
    // Unknown paths, unknown post ids and unknown user ids: 1,000 URLs in all.
    const url = (i: number) =>
      [`/no-such-page-${i}?q=${i}`, `/api/v1/posts/${900_000 + i}`, `/api/v1/users/${900_000 + i}/`][
        i % 3
      ] as string;
    for (let i = 0; i < 3; i++) await t.app.inject({ url: url(i) }); // each label set exists from here on
    const before = seriesOf(await scrape());
    for (let i = 3; i < 1003; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => t.app.inject({ url: url(i + j) })));
    }
    const after = seriesOf(await scrape());
    expect([...after].filter((s) => !before.has(s))).toEqual([]);
    expect([...after].some((s) => s.includes('route="unmatched"'))).toBe(true);
  });

  it("counts requests refused by the per-client rate limit", async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: "2" });
    try {
      for (let i = 0; i < 3; i++) await limited.app.inject({ url: "/api/v1/posts" });
      // Scraped from another address: the limited one is refused /metrics too.
      const body = (await limited.app.inject({ url: "/metrics", remoteAddress: "10.1.2.3" })).body;
      expect(
        sampleValue(body, 'kaira_auth_throttled_requests_total{limit="rate_limit"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});

describe("metrics access", { timeout: 120_000 }, () => {
  it("requires the bearer token when METRICS_TOKEN is set", async () => {
    const token = randomBytes(16).toString("hex");
    const t = await createTestApp({ METRICS_TOKEN: token });
    try {
      const none = await t.app.inject({ url: "/metrics" });
      expect(none.statusCode).toBe(401);
      expect(none.json().code).toBe("invalid_metrics_token");
      expect(none.body).not.toContain("kaira_");
      expect((await t.app.inject({ url: "/metrics", headers: bearer(`${token}x`) })).statusCode).toBe(401);
      expect((await t.app.inject({ url: "/metrics", headers: { authorization: token } })).statusCode).toBe(
        401,
      );
      const ok = await t.app.inject({ url: "/metrics", headers: bearer(token) });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(ok.body).toContain("kaira_http_request_duration_seconds");
    } finally {
      await t.close();
    }
  });

  it("is off in production unless a token is set", async () => {
    const secret = randomBytes(32).toString("hex");
    const off = await createTestApp({ NODE_ENV: "production", SECRET_KEY: secret });
    try {
      expect((await off.app.inject({ url: "/metrics" })).statusCode).toBe(404);
    } finally {
      await off.close();
    }
    const token = randomBytes(16).toString("hex");
    const on = await createTestApp({ NODE_ENV: "production", SECRET_KEY: secret, METRICS_TOKEN: token });
    try {
      expect((await on.app.inject({ url: "/metrics" })).statusCode).toBe(401);
      expect((await on.app.inject({ url: "/metrics", headers: bearer(token) })).statusCode).toBe(200);
    } finally {
      await on.close();
    }
  });

  it("serves only GET /metrics on the listener of its own, behind the token", async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.transfers.inc({ outcome: "completed" });
    const server = await startMetricsServer({ host: "127.0.0.1", port: 0, metrics, token: "scrape-me" });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const denied = await fetch(`${base}/metrics`);
      expect(denied.status).toBe(401);
      expect(denied.headers.get("www-authenticate")).toBe('Bearer realm="kaira"');
      expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(
        401,
      );
      const scraped = await fetch(`${base}/metrics?x=1`, { headers: { authorization: "Bearer scrape-me" } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/kaira_transfers_total\{outcome="completed"\} 1/);
      expect((await fetch(`${base}/`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("leaves the API's port when METRICS_PORT moves metrics to a listener of their own", async () => {
    const t = await createTestApp({ METRICS_PORT: "9799" });
    try {
      expect((await t.app.inject({ url: "/metrics" })).statusCode).toBe(404);
    } finally {
      await t.close();
    }
  });
});
