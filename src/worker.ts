import { createModules } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { startMetricsServer } from "./http/metrics-endpoint.js";
import { jobsOf } from "./modules/feature-module.js";
import { createMemoryCache } from "./platform/cache/memory-cache.js";
import { databaseEngine, openDatabase } from "./platform/database/index.js";
import { startJobProcessing } from "./platform/jobs/processing.js";
import { createLogger } from "./platform/logger.js";
import { noMetrics } from "./platform/metrics/metrics.js";
import { createMetrics } from "./platform/metrics/prometheus.js";
import { openPlatform } from "./platform/platform.js";
import { installCrashPolicy } from "./platform/process/crash-policy.js";
import { createMemoryPubSub } from "./platform/pubsub/memory-pubsub.js";
import { flushTelemetry } from "./platform/telemetry/telemetry.js";

/**
 * `kaira worker`: runs the jobs of a PostgreSQL deployment (BullMQ with REDIS_URL, the
 * queue in PostgreSQL without it). On SIGTERM it stops taking jobs, gives running ones
 * WORKER_SHUTDOWN_SECONDS to finish, and exits 0; a job cut off runs again elsewhere.
 */
export async function runWorker(config: Config = loadConfig()): Promise<void> {
  if (databaseEngine(config) === "pglite") {
    throw new ConfigError(
      "DATABASE_URL",
      "is required by `kaira worker` on PGlite (EMBEDDED_ENGINE=pglite): PGlite belongs to one process, and `kaira serve` runs its jobs itself",
    );
  }
  const logger = createLogger(config);
  const database = await openDatabase(config);
  await database.migrate();
  const metrics =
    config.metrics.enabled && config.metrics.workerPort !== undefined ? createMetrics() : noMetrics;
  // Workers on other machines need the API's file storage: DATA_DIR/files on shared storage.
  // A worker answers no requests: its modules get cache and pub/sub in this process's memory,
  // which no job uses.
  const opened = openPlatform(config, database, {
    logger,
    metrics,
    cache: createMemoryCache(),
    pubsub: createMemoryPubSub(),
  });
  const queue = opened.platform.jobs;
  queue.startRelay((error) =>
    logger.warn({ err: error, event: "jobs.relay_failed" }, "job relay failed; will retry"),
  );
  const modules = await createModules(opened.platform);
  startJobProcessing(queue, {
    ...jobsOf(Object.values(modules)),
    logger,
    concurrency: config.jobs.concurrency,
    metrics,
  });
  const metricsServer =
    metrics !== noMetrics && config.metrics.workerPort !== undefined
      ? await startMetricsServer({
          host: config.host,
          port: config.metrics.workerPort,
          metrics,
          token: config.metrics.token,
          onError: (error) => logger.warn({ err: error, event: "metrics.failed" }, "metrics listener error"),
        })
      : undefined;

  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { event: "worker.stopping", signal, grace_seconds: config.jobs.shutdownSeconds },
      "worker stopping",
    );
    // The queue first, giving running jobs their grace; then mail.
    await opened.close(config.jobs.shutdownSeconds * 1000);
    await metricsServer?.close();
    await database.close();
    await flushTelemetry();
    logger.info({ event: "worker.stopped" }, "worker stopped");
    logger.flush();
    // A job cut off at the grace period may still hold a socket or timer: exit anyway (it runs
    // again elsewhere once its lease lapses).
    setTimeout(() => process.exit(exitCode), 100).unref();
    process.exitCode = exitCode;
  };
  // `on`, not `once`: a repeated signal (npm forwards Ctrl-C's SIGINT again) must not kill
  // the process mid-stop; stop() ignores repeats.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  installCrashPolicy({ logger, shutdown: stop });
  logger.info(
    {
      event: "worker.started",
      queue: queue.engine,
      concurrency: config.jobs.concurrency,
      metrics_port: metricsServer?.port,
    },
    `Kaira worker running (${queue.engine === "bullmq" ? "BullMQ on Redis" : "jobs queued in the database"})`,
  );
}
