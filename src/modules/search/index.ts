import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { createSearchRepository, useOneBackend } from "./search.repository.js";
import { searchRoutes } from "./search.routes.js";
import { createSearchService } from "./search.service.js";
import { createSearchAdmission } from "./search-admission.js";

export interface SearchModuleDeps extends Pick<Platform, "config" | "logger" | "database"> {
  /** Tests only: every search first takes this long (on PostgreSQL inside its statement, holding its connection). */
  searchDelayMs?: number;
}

/** Full-text search of posts and title suggestions, with its own timeout and admission. */
export function createSearchModule(deps: SearchModuleDeps) {
  const { config, logger, database } = deps;
  const searchRepositoryOptions = {
    rankWindow: config.search.rankWindow,
    // A slow search holds a real connection on PostgreSQL. The embedded database would stop
    // the whole process for a statement's duration, so there the delay is spent beside it.
    ...(deps.searchDelayMs && !database.runsInThisProcess ? { sleepForTestsMs: deps.searchDelayMs } : {}),
  };
  const embeddedSearchDelayMs = database.runsInThisProcess ? (deps.searchDelayMs ?? 0) : 0;
  const searchService = createSearchService({
    runSearch: (timeoutMs, work) =>
      database.withStatementTimeout(timeoutMs, async (tx) => {
        if (!database.runsInThisProcess) await useOneBackend(tx);
        if (embeddedSearchDelayMs) await new Promise((resolve) => setTimeout(resolve, embeddedSearchDelayMs));
        return work(createSearchRepository(tx, searchRepositoryOptions));
      }),
    admission: createSearchAdmission({
      concurrency: config.search.concurrency,
      // A short queue: as many waiting as running, so a burst is smoothed, not stored up.
      queueLength: config.search.concurrency,
      perClient: config.search.concurrencyPerClient,
    }),
    timeoutMs: config.search.timeoutMs,
    onTimeout: (route) =>
      logger.warn(
        { event: "search.timeout", route, timeout_ms: config.search.timeoutMs },
        "search stopped by its timeout",
      ),
  });
  return {
    routes: async (api) => {
      await api.register(searchRoutes, { searchService });
    },
    services: {},
  } satisfies FeatureModule<object>;
}
