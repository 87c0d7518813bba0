import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { createTransfersRepository } from "./transfers.repository.js";
import { transfersRoutes } from "./transfers.routes.js";
import { createTransfersService } from "./transfers.service.js";

export interface TransfersModuleDeps extends Pick<Platform, "logger" | "metrics" | "database"> {
  /** Called once a write committed live events, so they go out at once. */
  afterEventsCommitted(): void;
}

/** Credits: balances, transfers, the ledger. */
export function createTransfersModule(deps: TransfersModuleDeps) {
  const { logger } = deps;
  const transfersRepository = createTransfersRepository(deps.database.db);
  const transfersService = createTransfersService({
    transfersRepository,
    onRetry: (code, attempt) =>
      logger.warn({ event: "transfer.retried", sqlstate: code, attempt }, "transaction retried"),
    afterEventsCommitted: deps.afterEventsCommitted,
    onOutcome: (outcome) => deps.metrics.transfers.inc({ outcome }),
  });
  return {
    routes: async (api) => {
      await api.register(transfersRoutes, { transfersService });
    },
    services: {
      /** Deletes idempotency keys past their retention; returns how many. */
      deleteExpiredIdempotencyKeys: () => transfersRepository.deleteExpiredKeys(),
    },
  } satisfies FeatureModule<object>;
}
