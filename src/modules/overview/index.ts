import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { overviewRoutes } from "./overview.routes.js";

/** The admin console's overview numbers. */
export function createOverviewModule(deps: Pick<Platform, "database" | "jobs">) {
  return {
    routes: async (api) => {
      await api.register(overviewRoutes, { db: deps.database.db, jobs: deps.jobs });
    },
    services: {},
  } satisfies FeatureModule<object>;
}
