/**
 * The metrics port: the instruments Kaira records, as small interfaces, so services and
 * adapters count things without importing a metrics library. `createMetrics` (prom-client)
 * is the one adapter; tests and code paths without metrics use `noMetrics`.
 *
 * Every label takes values from a fixed, small set (route templates, job names, outcomes),
 * never from user input, so the number of series stays bounded whatever clients send.
 */
export interface Counter<Label extends string = never> {
  /** Adds 1; a counter without labels takes `{}`. */
  inc(labels: Record<Label, string>): void;
}

export interface Histogram<Label extends string = never> {
  /** Records one observation in seconds. */
  observe(labels: Record<Label, string>, seconds: number): void;
}

export interface UpDownGauge {
  inc(): void;
  dec(): void;
}

export interface PoolStats {
  /** Connections open now. */
  total: number;
  /** The most connections the pool opens. */
  max: number;
  /** Connections running a query or held by a transaction. */
  inUse: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

export type JobStateCounts = Record<"waiting" | "delayed" | "active" | "completed" | "failed", number>;

/** Read at scrape time; each returns undefined when it cannot tell (and the series is left out). */
export interface MetricSources {
  databasePool?: () => PoolStats;
  jobCounts?: () => Promise<JobStateCounts>;
  oldestWaitingJobAgeSeconds?: () => Promise<number | undefined>;
  openWebSockets?: () => number;
  outboxLagSeconds?: () => Promise<number>;
}

export type LoginOutcome = "succeeded" | "failed" | "throttled";
export type JobOutcome = "completed" | "retried" | "failed";

export interface Metrics {
  readonly httpRequestDuration: Histogram<"method" | "route" | "status_class">;
  readonly httpRequestsInFlight: UpDownGauge;
  readonly dbQueryDuration: Histogram<"operation">;
  readonly cacheHits: Counter<"cache">;
  readonly cacheMisses: Counter<"cache">;
  readonly cacheErrors: Counter<"cache">;
  readonly jobRuns: Counter<"job" | "outcome">;
  readonly jobRunDuration: Histogram<"job">;
  readonly liveMessagesSent: Counter;
  readonly liveSlowConsumerCloses: Counter;
  readonly authLogins: Counter<"outcome">;
  readonly authThrottledRequests: Counter<"limit">;
  readonly authRefreshReuse: Counter;
  readonly transfers: Counter<"outcome">;
  /** Adds sources read at scrape time; later calls add to (or replace) earlier ones. */
  observe(sources: MetricSources): void;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
}

const noop = () => {};
const counter = { inc: noop };
const histogram = { observe: noop } as Histogram<string>;

/** Records nothing: for code built without a metrics registry (unit tests, CLI commands). */
export const noMetrics: Metrics = {
  httpRequestDuration: histogram,
  httpRequestsInFlight: { inc: noop, dec: noop },
  dbQueryDuration: histogram,
  cacheHits: counter,
  cacheMisses: counter,
  cacheErrors: counter,
  jobRuns: counter,
  jobRunDuration: histogram,
  liveMessagesSent: counter,
  liveSlowConsumerCloses: counter,
  authLogins: counter,
  authThrottledRequests: counter,
  authRefreshReuse: counter,
  transfers: counter,
  observe: noop,
  render: async () => "",
  contentType: "text/plain; version=0.0.4; charset=utf-8",
};

const SQL_OPERATIONS = new Set(["select", "insert", "update", "delete"]);
const TRANSACTION_CONTROL = new Set(["begin", "commit", "rollback", "savepoint", "release", "start"]);

/** The operation label of a statement: its first keyword, from a fixed set. */
export function sqlOperation(sql: string): string {
  const match = /^\s*(?:\(\s*)*([a-z]+)/i.exec(sql.slice(0, 64));
  const word = match?.[1]?.toLowerCase() ?? "";
  if (SQL_OPERATIONS.has(word)) return word;
  if (TRANSACTION_CONTROL.has(word)) return "transaction";
  if (word === "with") return "with";
  return "other";
}
