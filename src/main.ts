import { pathToFileURL } from "node:url";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { type Config, loadConfig } from "./config.js";
import { startMetricsServer } from "./http/metrics-endpoint.js";
import { openDatabase } from "./platform/database/index.js";
import { createLogger } from "./platform/logger.js";
import { installCrashPolicy } from "./platform/process/crash-policy.js";
import { explainFailure } from "./platform/process/failures.js";
import { flushTelemetry } from "./platform/telemetry/telemetry.js";

export interface ServeOptions {
  /** Adds to the app before it listens (tests use it to plant faults in a real process). */
  extend?: (app: FastifyInstance) => void | Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Thrown when the listener cannot open; the CLI turns its cause into one line with a hint. */
export class ListenError extends Error {
  override name = "ListenError";
  constructor(
    readonly host: string,
    readonly port: number,
    cause: unknown,
  ) {
    super(`cannot listen on ${host}:${port}: ${(cause as Error).message}`, { cause });
  }
}

/** Where the database is, for people reading the start-up log: never the password. */
function describeDatabase(config: Config): string {
  if (!config.databaseUrl) return `the embedded database in ${config.dataDir}`;
  const url = new URL(config.databaseUrl);
  return `PostgreSQL at ${url.hostname || "localhost"}:${url.port || 5432}${url.pathname}`;
}

/** A URL a person can open: a wildcard address is reachable as localhost. */
function displayUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/**
 * Runs the API: open the database, migrate, build, listen — saying what it does at each
 * step — and on SIGTERM/SIGINT drain: readiness turns 503 at once, the listener stays open
 * for SHUTDOWN_DRAIN_SECONDS so load balancers notice, then closes and in-flight requests
 * finish before the process exits 0. An error that escapes every handler is logged at fatal
 * and takes the same way out, exiting 1.
 */
export async function serve(config: Config = loadConfig(), options: ServeOptions = {}): Promise<void> {
  const logger = createLogger(config);
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  logger.info(
    { event: "server.starting", node_env: config.nodeEnv },
    `Starting Kaira (${config.nodeEnv}); opening ${describeDatabase(config)}`,
  );
  const database = await openDatabase(config, {
    log: (message) => logger.info({ event: "server.database_progress" }, message),
  });
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    await database.migrate();
    logger.info(
      { event: "server.database_ready", database: database.engine },
      `Database ready after ${elapsed()}`,
    );
    app = await buildApp(config, { database, logger });
    await options.extend?.(app);
    await app.ready();
  } catch (error) {
    await app?.close().catch(() => {});
    await database.close().catch(() => {});
    throw error;
  }
  const running = app;

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    running.lifecycle.draining = true;
    logger.info(
      { event: "shutdown.started", signal, drain_seconds: config.shutdownDrainSeconds },
      "shutting down",
    );
    const deadline = setTimeout(
      () => {
        logger.error({ event: "shutdown.timeout" }, "shutdown timed out; exiting");
        process.exit(1);
      },
      (config.shutdownDrainSeconds + config.shutdownTimeoutSeconds) * 1000,
    );
    deadline.unref();
    await sleep(config.shutdownDrainSeconds * 1000);
    await metricsServer?.close();
    await running.close();
    // Last: the app's own close (relays, in-process jobs, cache) still uses the database.
    await database.close();
    await flushTelemetry();
    logger.info({ event: "shutdown.completed" }, "stopped");
    logger.flush();
    process.exitCode = exitCode;
    // Everything is closed; a library's leftover reconnect timer (a Redis client that went
    // down mid-shutdown) must not keep the process alive until the deadline.
    setTimeout(() => process.exit(exitCode), 500).unref();
  };
  const onSigterm = () => void stop("SIGTERM");
  const onSigint = () => void stop("SIGINT");
  // `on`, not `once`: Ctrl-C under `npm start` delivers SIGINT twice (the terminal's, then
  // npm's forwarded copy a few ms later). With `once`, the second would take Node's default
  // action and kill the process mid-shutdown, orphaning the embedded database server; stop()
  // ignores repeats, and the shutdown deadline still bounds how long it takes.
  process.on("SIGTERM", onSigterm);
  process.on("SIGINT", onSigint);
  installCrashPolicy({ logger, shutdown: stop });

  try {
    await running.listen({ host: config.host, port: config.port });
  } catch (error) {
    process.off("SIGTERM", onSigterm);
    process.off("SIGINT", onSigint);
    await running.close().catch(() => {});
    await database.close().catch(() => {});
    throw new ListenError(config.host, config.port, error);
  }
  if (config.metrics.enabled && config.metrics.port !== undefined) {
    metricsServer = await startMetricsServer({
      host: config.host,
      port: config.metrics.port,
      metrics: running.metrics,
      token: config.metrics.token,
      onError: (error) => logger.warn({ err: error, event: "metrics.failed" }, "metrics listener error"),
    });
    logger.info({ event: "metrics.listening", port: metricsServer.port }, "metrics on their own port");
  }
  const address = running.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = displayUrl(config.host, port);
  logger.info(
    {
      event: "server.started",
      database: database.engine,
      data_dir: config.databaseUrl ? undefined : config.dataDir,
      startup_ms: Math.round(performance.now() - started),
    },
    config.docsEnabled ? `Kaira listening on ${url}, docs at ${url}/docs` : `Kaira listening on ${url}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  serve().catch((error: unknown) => {
    const failure = explainFailure(error);
    console.error(failure?.message ?? error);
    process.exit(failure?.exitCode ?? 1);
  });
}
