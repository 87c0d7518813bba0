import type { JobQueue } from "../../platform/jobs/index.js";

export const WORKER_MISSING_WARNING =
  "No `kaira worker` has reported for a minute: background jobs (welcome mail, thumbnails, " +
  "cleanup) wait in the queue until one runs. Start `kaira worker`, or set JOBS_IN_PROCESS=true " +
  "to run jobs in the API.";

export interface WorkerPresenceOptions {
  jobs: Pick<JobQueue, "lastWorkerSeen">;
  /** No heartbeat for this long (and not since start) means no worker runs. */
  missingAfterMs: number;
  checkEveryMs: number;
  onMissing: (message: string) => void;
  onBack: () => void;
}

/**
 * Watches the workers' heartbeat when this API leaves its jobs to `kaira worker`, so a
 * deployment without one is noticed (a log line, and a warning in /health/ready) instead of
 * jobs silently piling up. A failed read (Redis down) keeps the last verdict: readiness
 * already reports Redis itself. Nothing is checked until `start()`.
 */
export function watchWorkerPresence(options: WorkerPresenceOptions) {
  let started = Date.now();
  let warning: string | undefined;
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const seen = (await options.jobs.lastWorkerSeen())?.getTime() ?? 0;
      const missing = Date.now() - Math.max(seen, started) > options.missingAfterMs;
      if (missing && warning === undefined) {
        warning = WORKER_MISSING_WARNING;
        options.onMissing(warning);
      } else if (!missing && warning !== undefined) {
        warning = undefined;
        options.onBack();
      }
    } catch {
      // keep the last verdict
    } finally {
      checking = false;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    /** Starts checking (the missing-after period counts from here). */
    start() {
      started = Date.now();
      timer ??= setInterval(() => void check(), options.checkEveryMs);
      timer.unref();
    },
    /** The current warning for readiness, if any. */
    warning: () => warning,
    stop: () => clearInterval(timer),
  };
}
