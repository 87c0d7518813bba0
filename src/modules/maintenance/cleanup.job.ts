import type { OutboxRepository } from "../../platform/events/outbox.js";
import type { JobHandler } from "../../platform/jobs/index.js";

export const CLEANUP_JOB = "maintenance.cleanup";
export const CLEANUP_INTERVAL_MS = 60 * 60 * 1000;
/** Published events stay available for catch-up after a reconnect at least this long. */
export const EVENT_RETENTION_MS = 48 * 60 * 60 * 1000;

export interface CleanupResult {
  refreshTokens: number;
  accountTokens: number;
  idempotencyKeys: number;
  events: number;
  securityEvents: number;
}

/**
 * Deletes what has expired: refresh tokens, idempotency keys (kept 24 h), published events
 * past their retention, and stored security events past their age or count. Idempotent by nature, so a repeated run only finds less.
 */
export function cleanupHandler(deps: {
  deleteExpiredRefreshTokens: (now: Date) => Promise<number>;
  deleteExpiredAccountTokens?: (now: Date) => Promise<number>;
  deleteExpiredIdempotencyKeys: () => Promise<number>;
  deleteExpiredSecurityEvents: (now: Date) => Promise<number>;
  outbox: Pick<OutboxRepository, "deletePublishedBefore">;
  onDone?: (result: CleanupResult) => void;
}): JobHandler {
  return async () => {
    const [refreshTokens, accountTokens, idempotencyKeys, events, securityEvents] = await Promise.all([
      deps.deleteExpiredRefreshTokens(new Date()),
      deps.deleteExpiredAccountTokens?.(new Date()) ?? 0,
      deps.deleteExpiredIdempotencyKeys(),
      deps.outbox.deletePublishedBefore(new Date(Date.now() - EVENT_RETENTION_MS)),
      deps.deleteExpiredSecurityEvents(new Date()),
    ]);
    deps.onDone?.({ refreshTokens, accountTokens, idempotencyKeys, events, securityEvents });
  };
}
