import type { Logger } from "pino";
import { type BackupsConfig, type Config, ConfigError, loadConfig } from "./config.js";
import { startMetricsServer } from "./http/metrics-endpoint.js";
import { createRefreshTokensRepository } from "./modules/auth/refresh-tokens.repository.js";
import { BACKUP_JOB, backupHandler } from "./modules/backups/backup.job.js";
import { DELETE_FILE_OBJECTS_JOB, deleteObjectsHandler } from "./modules/files/delete-objects.job.js";
import { createFilesRepository } from "./modules/files/files.repository.js";
import { FILE_THUMBNAIL_JOB, thumbnailHandler } from "./modules/files/thumbnail.job.js";
import { CLEANUP_INTERVAL_MS, CLEANUP_JOB, cleanupHandler } from "./modules/maintenance/cleanup.job.js";
import { createTransfersRepository } from "./modules/transfers/transfers.repository.js";
import { createUsersRepository } from "./modules/users/users.repository.js";
import { WELCOME_EMAIL_JOB, welcomeEmailHandler } from "./modules/users/welcome-email.job.js";
import { type Database, databaseEngine, openDatabase } from "./platform/database/index.js";
import { createOutboxRepository } from "./platform/events/outbox.js";
import type { JobEvent, JobHandler, JobQueue, JobSchedule } from "./platform/jobs/index.js";
import { openJobQueue } from "./platform/jobs/index.js";
import { createLogger } from "./platform/logger.js";
import { type Mailer, openMailer } from "./platform/mailer/index.js";
import { type Metrics, noMetrics, sqlOperation } from "./platform/metrics/metrics.js";
import { createMetrics } from "./platform/metrics/prometheus.js";
import { installCrashPolicy } from "./platform/process/crash-policy.js";
import { type ObjectStorage, openStorage } from "./platform/storage/index.js";
import { flushTelemetry, reportError } from "./platform/telemetry/telemetry.js";

/** Jobs enqueued on a timer, whichever process runs the job processors. */
export function jobSchedules(backups: Pick<BackupsConfig, "schedule">): JobSchedule[] {
  return [
    { name: CLEANUP_JOB, everyMs: CLEANUP_INTERVAL_MS },
    ...(backups.schedule ? [{ name: BACKUP_JOB, cron: backups.schedule }] : []),
  ];
}

/**
 * Every job Kaira runs, by name: the worker's side of the composition root. The API process
 * runs the same handlers when jobs run in-process (the embedded default).
 */
export function createJobHandlers(deps: {
  database: Database;
  mailer: Mailer;
  storage: ObjectStorage;
  jobs: JobQueue;
  logger: Logger;
  backups: BackupsConfig;
}): Record<string, JobHandler> {
  const db = deps.database.db;
  const transfers = createTransfersRepository(db);
  const filesRepository = createFilesRepository(db, (executor, job) => deps.jobs.record(executor, job));
  return {
    [FILE_THUMBNAIL_JOB]: thumbnailHandler({ filesRepository, storage: deps.storage }),
    [DELETE_FILE_OBJECTS_JOB]: deleteObjectsHandler({ storage: deps.storage }),
    [WELCOME_EMAIL_JOB]: welcomeEmailHandler({
      usersRepository: createUsersRepository(db),
      mailer: deps.mailer,
    }),
    [BACKUP_JOB]: backupHandler({
      database: deps.database,
      storage: deps.storage,
      config: deps.backups,
      logger: deps.logger,
    }),
    [CLEANUP_JOB]: cleanupHandler({
      deleteExpiredRefreshTokens: createRefreshTokensRepository(db).deleteExpired,
      deleteExpiredIdempotencyKeys: () => transfers.deleteExpiredKeys(),
      outbox: createOutboxRepository(db),
      onDone: (result) =>
        deps.logger.info(
          {
            event: "cleanup.completed",
            refresh_tokens: result.refreshTokens,
            idempotency_keys: result.idempotencyKeys,
            events: result.events,
          },
          "expired rows deleted",
        ),
    }),
  };
}

/** Logs what workers report: one line per finished job, errors with their cause. */
export function logJobEvents(logger: Logger): (event: JobEvent) => void {
  return (event) => {
    switch (event.type) {
      case "completed":
        logger.info(
          {
            event: "job.completed",
            job_id: event.jobId,
            job: event.name,
            attempt: event.attempt,
            duration_ms: Math.round(event.durationMs),
          },
          "job completed",
        );
        return;
      case "failed":
        logger[event.final ? "error" : "warn"](
          {
            event: event.final ? "job.failed" : "job.retrying",
            job_id: event.jobId,
            job: event.name,
            attempt: event.attempt,
            duration_ms: Math.round(event.durationMs),
            err: event.error,
          },
          event.final ? "job failed; kept for an admin to retry" : "job failed; will retry",
        );
        return;
      case "stalled":
        logger.warn(
          { event: "job.stalled", job_id: event.jobId },
          "job's worker stopped holding it; it runs again",
        );
        return;
      case "error":
        logger.warn({ event: "job.worker_error", err: event.error }, "job worker error");
    }
  };
}

/** Counts finished attempts by job and outcome, with their durations. */
export function countJobEvents(metrics: Metrics, jobNames: string[]): (event: JobEvent) => void {
  const known = new Set(jobNames);
  return (event) => {
    if (event.type !== "completed" && event.type !== "failed") return;
    // Names come from the queue; only Kaira's own become labels.
    const job = known.has(event.name) ? event.name : "unknown";
    const outcome = event.type === "completed" ? "completed" : event.final ? "failed" : "retried";
    metrics.jobRuns.inc({ job, outcome });
    metrics.jobRunDuration.observe({ job }, event.durationMs / 1000);
  };
}

/** Starts processing every job in this process. */
export function startJobProcessing(
  queue: JobQueue,
  deps: {
    database: Database;
    mailer: Mailer;
    storage: ObjectStorage;
    logger: Logger;
    concurrency: number;
    backups: BackupsConfig;
    metrics?: Metrics;
  },
): void {
  const handlers = createJobHandlers({ ...deps, jobs: queue });
  const log = logJobEvents(deps.logger);
  const count = countJobEvents(deps.metrics ?? noMetrics, Object.keys(handlers));
  queue.work({
    handlers,
    schedules: jobSchedules(deps.backups),
    concurrency: deps.concurrency,
    onEvent: (event) => {
      log(event);
      count(event);
      if (event.type === "failed" && event.final)
        reportError(event.error, { job: { id: event.jobId, name: event.name, attempt: event.attempt } });
    },
  });
}

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
  const queue = openJobQueue(config, database.db);
  const metrics =
    config.metrics.enabled && config.metrics.workerPort !== undefined ? createMetrics() : noMetrics;
  database.onQueryTimed((query) =>
    metrics.dbQueryDuration.observe({ operation: sqlOperation(query.sql) }, query.seconds),
  );
  metrics.observe({
    databasePool: () => database.poolStats(),
    jobCounts: () => queue.counts(),
    oldestWaitingJobAgeSeconds: () => queue.oldestWaitingAgeSeconds(),
  });
  const mailer = openMailer(config.mail, (message, path) =>
    logger.info(
      { event: "mail.written", to: message.to, subject: message.subject, path },
      "mail written to file",
    ),
  );
  queue.startRelay((error) =>
    logger.warn({ err: error, event: "jobs.relay_failed" }, "job relay failed; will retry"),
  );
  // Workers on other machines need the API's file storage: DATA_DIR/files on shared storage.
  const storage = openStorage(config);
  startJobProcessing(queue, {
    database,
    mailer,
    storage,
    logger,
    concurrency: config.jobs.concurrency,
    backups: config.backups,
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
    await queue.close(config.jobs.shutdownSeconds * 1000);
    await metricsServer?.close();
    await mailer.close();
    await database.close();
    await flushTelemetry();
    logger.info({ event: "worker.stopped" }, "worker stopped");
    logger.flush();
    // A job cut off at the grace period may still hold a socket or timer: exit anyway (it runs
    // again elsewhere once its lease lapses).
    setTimeout(() => process.exit(exitCode), 100).unref();
    process.exitCode = exitCode;
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  installCrashPolicy({ logger, shutdown: stop });
  logger.info(
    {
      event: "worker.started",
      queue: queue.engine,
      concurrency: config.jobs.concurrency,
      metrics_port: metricsServer?.port,
    },
    `Kaira worker running (${queue.engine} queue)`,
  );
}
