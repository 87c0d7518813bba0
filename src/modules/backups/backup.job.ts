import { join } from "node:path";
import type { Logger } from "pino";
import type { BackupsConfig } from "../../config.js";
import type { JobHandler } from "../../platform/jobs/index.js";
import { type BackupDeps, backupFileName, createBackup, pruneBackups } from "./backup.service.js";

export const BACKUP_JOB = "backup.create";

/**
 * Writes a backup into BACKUP_DIR, then keeps only the newest BACKUP_KEEP archives. The file
 * name comes with the job when an admin started it (so the 202 response can name it), or
 * from the time it runs when the schedule did. A failure is logged at error and fails the
 * attempt; the queue retries it with back-off and keeps it as failed after the last one.
 */
export function backupHandler(deps: BackupDeps & { config: BackupsConfig; logger: Logger }): JobHandler {
  return async (data, context) => {
    const name = typeof data.file === "string" ? data.file : backupFileName(new Date());
    const target = join(deps.config.dir, name);
    const started = performance.now();
    try {
      const manifest = await createBackup(deps, target);
      const removed = await pruneBackups(deps.config.dir, deps.config.keep);
      deps.logger.info(
        {
          event: "backup.completed",
          file: target,
          tables: manifest.database.tables.length,
          rows: manifest.database.tables.reduce((sum, table) => sum + table.rows, 0),
          files: manifest.files.count,
          duration_ms: Math.round(performance.now() - started),
          pruned: removed,
        },
        "backup written",
      );
    } catch (error) {
      deps.logger.error(
        { event: "backup.failed", file: target, job_id: context.jobId, attempt: context.attempt, err: error },
        "backup failed",
      );
      throw error;
    }
  };
}
