import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { BACKUP_JOB, backupHandler } from "./backup.job.js";
import { backupsRoutes } from "./backups.routes.js";

/** Backups: on demand (admins) and on BACKUP_SCHEDULE. */
export function createBackupsModule(
  deps: Pick<Platform, "config" | "logger" | "database" | "jobs" | "storage">,
) {
  const { config, database, jobs } = deps;
  return {
    routes: async (api) => {
      await api.register(backupsRoutes, { config: config.backups, jobs, db: database.db });
    },
    jobs: {
      [BACKUP_JOB]: backupHandler({
        database,
        storage: deps.storage,
        config: config.backups,
        logger: deps.logger,
      }),
    },
    schedules: config.backups.schedule ? [{ name: BACKUP_JOB, cron: config.backups.schedule }] : [],
    services: {},
  } satisfies FeatureModule<object>;
}
