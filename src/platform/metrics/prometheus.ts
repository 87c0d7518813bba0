import client from "prom-client";
import { withTimeout } from "../../shared/timeouts.js";
import type { MetricSources, Metrics } from "./metrics.js";

/** Request and query latencies: 1 ms to 10 s, dense where APIs usually live. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Jobs run longer: 10 ms to 5 min. */
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** A scrape must answer even when Redis or the database does not: sources get this long. */
const SOURCE_TIMEOUT_MS = 2_000;

/**
 * The Prometheus adapter of the metrics port (prom-client), with a registry of its own so
 * several apps in one process (tests) never share series. Gauges that describe state
 * elsewhere (pool, queue, outbox) are read from their sources when Prometheus scrapes.
 */
export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new client.Registry();
  if (options.processMetrics !== false) {
    client.collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which `promtool check metrics` rejects; the same numbers
    // remain, by type, in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total",
    ])
      registry.removeSingleMetric(name);
  }
  const registers = [registry];
  const sources: MetricSources = {};

  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new client.Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
    new client.Histogram<L>({ name, help, labelNames, buckets, registers });
  const read = async <T>(source: (() => Promise<T>) | undefined): Promise<T | undefined> => {
    if (!source) return undefined;
    try {
      return await withTimeout(source(), SOURCE_TIMEOUT_MS, () => new Error("metric source timed out"));
    } catch {
      sourceErrors.inc();
      return undefined;
    }
  };

  const sourceErrors = counter(
    "kaira_metrics_source_errors_total",
    "Scrape-time reads (queue, outbox) that failed or timed out; their series were left out",
  );
  const inFlight = new client.Gauge({
    name: "kaira_http_requests_in_flight",
    help: "HTTP requests being handled now",
    registers,
  });

  const pool = (
    name: string,
    help: string,
    pick: (stats: NonNullable<ReturnType<NonNullable<MetricSources["databasePool"]>>>) => number,
  ) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        const stats = sources.databasePool?.();
        if (stats) this.set(pick(stats));
      },
    });
  pool("kaira_db_pool_connections", "Database connections open", (s) => s.total);
  pool("kaira_db_pool_max_connections", "The most database connections the pool opens", (s) => s.max);
  pool(
    "kaira_db_pool_in_use",
    "Database connections running a query or holding a transaction",
    (s) => s.inUse,
  );
  pool("kaira_db_pool_waiting", "Callers waiting for a database connection", (s) => s.waiting);

  new client.Gauge<"state">({
    name: "kaira_jobs_queue_depth",
    help: "Background jobs by state",
    labelNames: ["state"],
    registers,
    async collect() {
      const counts = await read(sources.jobCounts);
      this.reset();
      if (!counts) return;
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  new client.Gauge({
    name: "kaira_jobs_oldest_waiting_age_seconds",
    help: "Age of the oldest job due to run and not yet started (0 when none waits)",
    registers,
    async collect() {
      const age = await read(sources.oldestWaitingJobAgeSeconds);
      this.reset();
      if (sources.oldestWaitingJobAgeSeconds && age !== undefined) this.set(age);
    },
  });
  new client.Gauge({
    name: "kaira_live_connections",
    help: "WebSocket connections open on this instance",
    registers,
    collect() {
      if (sources.openWebSockets) this.set(sources.openWebSockets());
    },
  });
  new client.Gauge({
    name: "kaira_outbox_lag_seconds",
    help: "Age of the oldest live event not yet published (0 when none is pending)",
    registers,
    async collect() {
      const lag = await read(sources.outboxLagSeconds);
      this.reset();
      if (lag !== undefined) this.set(lag);
    },
  });

  return {
    httpRequestDuration: histogram(
      "kaira_http_request_duration_seconds",
      "HTTP request duration by method, route template and status class",
      ["method", "route", "status_class"],
      LATENCY_BUCKETS,
    ),
    httpRequestsInFlight: inFlight,
    dbQueryDuration: histogram(
      "kaira_db_query_duration_seconds",
      "Database statement duration by operation",
      ["operation"],
      LATENCY_BUCKETS,
    ),
    cacheHits: counter("kaira_cache_hits_total", "Cache lookups that found a value", ["cache"]),
    cacheMisses: counter("kaira_cache_misses_total", "Cache lookups that found nothing", ["cache"]),
    cacheErrors: counter(
      "kaira_cache_errors_total",
      "Cache calls that failed (reads fell back to the database)",
      ["cache"],
    ),
    jobRuns: counter(
      "kaira_job_runs_total",
      "Job attempts by job name and outcome (completed, retried, failed)",
      ["job", "outcome"],
    ),
    jobRunDuration: histogram(
      "kaira_job_run_duration_seconds",
      "Job attempt duration by job name",
      ["job"],
      JOB_BUCKETS,
    ),
    liveMessagesSent: counter("kaira_live_messages_sent_total", "Live events sent to WebSocket clients"),
    liveSlowConsumerCloses: counter(
      "kaira_live_slow_consumer_closes_total",
      "WebSocket clients disconnected for reading too slowly",
    ),
    authLogins: counter(
      "kaira_auth_logins_total",
      "Password logins by outcome (succeeded, failed, throttled)",
      ["outcome"],
    ),
    authThrottledRequests: counter(
      "kaira_auth_throttled_requests_total",
      "Requests refused with 429 by limit (login: failed-login throttle, rate_limit: the per-client limit)",
      ["limit"],
    ),
    authRefreshReuse: counter(
      "kaira_auth_refresh_reuse_total",
      "Spent refresh tokens presented again (their session family was revoked)",
    ),
    transfers: counter("kaira_transfers_total", "Credit transfer requests by outcome", ["outcome"]),
    observe(more) {
      Object.assign(sources, more);
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
