import type { Config } from "../../config.js";
import type { Database } from "./database.js";
import { openEmbeddedDatabase } from "./embedded.js";
import { openPostgresDatabase } from "./postgres.js";

export type { Database, Db, ExecutedQuery, Executor } from "./database.js";
export { type DatabaseOverload, databaseOverloadOf } from "./errors.js";

/** Chooses the adapter once from config: PostgreSQL when DATABASE_URL is set, else embedded. */
export function openDatabase(
  config: Pick<Config, "databaseUrl" | "databasePoolSize" | "dataDir" | "databaseStatementTimeoutMs">,
): Promise<Database> {
  return config.databaseUrl
    ? openPostgresDatabase({
        url: config.databaseUrl,
        poolSize: config.databasePoolSize,
        statementTimeoutMs: config.databaseStatementTimeoutMs,
      })
    : openEmbeddedDatabase({ dataDir: config.dataDir });
}
