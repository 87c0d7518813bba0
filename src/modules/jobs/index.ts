import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { jobsRoutes } from "./jobs.routes.js";
import { watchWorkerPresence } from "./worker-presence.js";

export interface JobsModuleDeps extends Pick<Platform, "config" | "logger" | "jobs"> {
  /** How soon a missing `kaira worker` is reported (tests shorten the minute). */
  workerPresence?: { missingAfterMs: number; checkEveryMs: number } | undefined;
}

/** Background jobs for admins (list, retry), and watching that workers run them. */
export function createJobsModule(deps: JobsModuleDeps) {
  const { config, logger, jobs } = deps;
  // With workers running the jobs, the API watches that at least one is there.
  const watchWorkers = jobs.seesOtherProcessesWorkers && !config.jobs.inProcess;
  const workerPresence = watchWorkers
    ? watchWorkerPresence({
        jobs,
        missingAfterMs: deps.workerPresence?.missingAfterMs ?? 60_000,
        checkEveryMs: deps.workerPresence?.checkEveryMs ?? 15_000,
        onMissing: (message) => logger.warn({ event: "jobs.no_worker" }, message),
        onBack: () => logger.info({ event: "jobs.worker_seen" }, "a kaira worker is running again"),
      })
    : undefined;
  return {
    routes: async (api) => {
      await api.register(jobsRoutes, { jobs });
    },
    services: { workerPresence },
  } satisfies FeatureModule<object>;
}
