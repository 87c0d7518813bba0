import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { healthRoutes, type ReadinessWarning } from "./health.routes.js";

export interface HealthModuleDeps extends Pick<Platform, "database" | "cache"> {
  warnings: ReadinessWarning[];
  isDraining: () => boolean;
}

/** Liveness and readiness probes (at the root, not under /api/v1). */
export function createHealthModule(deps: HealthModuleDeps) {
  const { database, cache } = deps;
  return {
    routes: async (app) => {
      await app.register(healthRoutes, {
        ...(deps.warnings.length > 0 ? { warnings: deps.warnings } : {}),
        checks: [
          { name: "database", check: () => database.ping() },
          // A cache shared by the instances is a dependency; one in this process is not.
          ...(cache.shared ? [{ name: cache.engine, check: () => cache.ping() }] : []),
        ],
        isDraining: deps.isDraining,
      });
    },
    services: {},
  } satisfies FeatureModule<object>;
}
