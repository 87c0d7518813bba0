import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { createSecurityEventWriter } from "./security-event-writer.js";
import { createSecurityEventsRepository } from "./security-events.repository.js";
import { securityEventsRoutes } from "./security-events.routes.js";

export interface SecurityEventsModuleDeps extends Pick<Platform, "config" | "logger" | "database"> {}

/** Security events kept in the database for admins: the writer, the admin view, the retention. */
export function createSecurityEventsModule(deps: SecurityEventsModuleDeps) {
  const repository = createSecurityEventsRepository(deps.database.db);
  const writer = createSecurityEventWriter({ repository, logger: deps.logger });
  const { retentionDays, maxRows } = deps.config.securityEvents;
  return {
    routes: async (api) => {
      await api.register(securityEventsRoutes, { repository });
    },
    services: {
      writer,
      /** For the hourly cleanup. */
      deleteExpired: (now: Date) =>
        repository.deleteExpired(new Date(now.getTime() - retentionDays * 86_400_000), maxRows),
    },
  } satisfies FeatureModule<object>;
}
