import type { OutboxRepository } from "../../platform/events/outbox.js";
import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { CLEANUP_INTERVAL_MS, CLEANUP_JOB, cleanupHandler } from "./cleanup.job.js";

export interface MaintenanceModuleDeps extends Pick<Platform, "logger"> {
  deleteExpiredRefreshTokens: (now: Date) => Promise<number>;
  deleteExpiredAccountTokens: (now: Date) => Promise<number>;
  deleteExpiredIdempotencyKeys: () => Promise<number>;
  deleteExpiredSecurityEvents: (now: Date) => Promise<number>;
  outbox: Pick<OutboxRepository, "deletePublishedBefore">;
}

/** The hourly cleanup of what has expired. */
export function createMaintenanceModule(deps: MaintenanceModuleDeps) {
  const { logger } = deps;
  return {
    jobs: {
      [CLEANUP_JOB]: cleanupHandler({
        deleteExpiredRefreshTokens: deps.deleteExpiredRefreshTokens,
        deleteExpiredAccountTokens: deps.deleteExpiredAccountTokens,
        deleteExpiredIdempotencyKeys: deps.deleteExpiredIdempotencyKeys,
        deleteExpiredSecurityEvents: deps.deleteExpiredSecurityEvents,
        outbox: deps.outbox,
        onDone: (result) =>
          logger.info(
            {
              event: "cleanup.completed",
              refresh_tokens: result.refreshTokens,
              account_tokens: result.accountTokens,
              idempotency_keys: result.idempotencyKeys,
              events: result.events,
              security_events: result.securityEvents,
            },
            "expired rows deleted",
          ),
      }),
    },
    schedules: [{ name: CLEANUP_JOB, everyMs: CLEANUP_INTERVAL_MS }],
    services: {},
  } satisfies FeatureModule<object>;
}
