import type { Logger } from "pino";
import { type Metrics, noMetrics } from "../metrics/metrics.js";
import { reportError } from "../telemetry/telemetry.js";
import type { JobEvent, JobHandler, JobQueue, JobSchedule } from "./jobs.js";

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

/** Starts processing these jobs in this process (logged, and counted in `metrics`) and keeps the schedules enqueued. */
export function startJobProcessing(
  queue: JobQueue,
  options: {
    handlers: Record<string, JobHandler>;
    schedules: JobSchedule[];
    logger: Logger;
    concurrency: number;
    metrics?: Metrics;
  },
): void {
  const log = logJobEvents(options.logger);
  const count = countJobEvents(options.metrics ?? noMetrics, Object.keys(options.handlers));
  queue.work({
    handlers: options.handlers,
    schedules: options.schedules,
    concurrency: options.concurrency,
    onEvent: (event) => {
      log(event);
      count(event);
      if (event.type === "failed" && event.final)
        reportError(event.error, { job: { id: event.jobId, name: event.name, attempt: event.attempt } });
    },
  });
}
