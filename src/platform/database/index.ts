import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../config.js";
import type { Database } from "./database.js";
import { openEmbeddedPostgresDatabase } from "./embedded-postgres.js";
import { findPlatformPackage, platformPackageName } from "./embedded-server/binaries.js";
import { openPostgresDatabase } from "./postgres.js";

export type { Database, Db, ExecutedQuery, Executor, PlainRunner, PlainSql, Statement } from "./database.js";
export { type DatabaseOverload, databaseOverloadOf } from "./errors.js";

type DatabaseConfig = Pick<
  Config,
  | "databaseUrl"
  | "databasePoolSize"
  | "dataDir"
  | "databaseStatementTimeoutMs"
  | "embeddedDatabase"
  // The ports the embedded server leaves free (portsKairaBinds).
  | "port"
  | "metrics"
>;

/** Which database a configuration runs on: external PostgreSQL, embedded PostgreSQL, or PGlite. */
export type DatabaseEngine = "external" | "embedded-postgres" | "pglite";

/**
 * With DATABASE_URL: that server. Without: the embedded PostgreSQL server, unless
 * EMBEDDED_ENGINE=pglite asks for PGlite or this platform has no PostgreSQL binaries
 * (`auto` then falls back to PGlite).
 */
export function databaseEngine(config: DatabaseConfig): DatabaseEngine {
  if (config.databaseUrl) return "external";
  const engine = config.embeddedDatabase.engine;
  if (engine === "pglite") return "pglite";
  if (engine === "postgres" || findPlatformPackage()) return "embedded-postgres";
  return "pglite";
}

export interface OpenDatabaseOptions {
  /** Told what happens while the database opens (first start, fallbacks, old data found). */
  log?: (message: string) => void;
}

/** Chooses the adapter once from config (see `databaseEngine`). */
export function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<Database> {
  const log = options.log ?? (() => {});
  switch (databaseEngine(config)) {
    case "external":
      return openPostgresDatabase({
        url: config.databaseUrl as string,
        poolSize: config.databasePoolSize,
        statementTimeoutMs: config.databaseStatementTimeoutMs,
      });
    case "pglite":
      log(
        config.embeddedDatabase.engine === "pglite"
          ? "Using PGlite (EMBEDDED_ENGINE=pglite): one process only; CLI commands need the server stopped"
          : `No PostgreSQL binaries for ${platformPackageName() ?? `${process.platform}-${process.arch}`}: using PGlite, one process only`,
      );
      // PGlite (a WebAssembly PostgreSQL) is loaded only where it is used.
      return import("./embedded.js").then(({ openEmbeddedDatabase }) =>
        openEmbeddedDatabase({ dataDir: config.dataDir }),
      );
    case "embedded-postgres":
      if (hasPgliteData(config.dataDir) && !existsSync(join(config.dataDir, "postgres", PGLITE_IMPORTED))) {
        log(
          `${join(config.dataDir, "pgdata")} holds PGlite data from an earlier Kaira: \`kaira db import-pglite\` copies it into the embedded PostgreSQL server (the old directory is kept)`,
        );
      }
      return openEmbeddedPostgresDatabase({
        dataDir: config.dataDir,
        createUser: config.embeddedDatabase.createUser,
        poolSize: config.databasePoolSize,
        statementTimeoutMs: config.databaseStatementTimeoutMs,
        log,
        reservedPorts: portsKairaBinds(config),
      });
  }
}

/** The ports a Kaira process of this configuration listens on, which the embedded server leaves free. */
export function portsKairaBinds(config: Pick<Config, "port" | "metrics">): number[] {
  return [config.port, config.metrics.port, config.metrics.workerPort].filter(
    (port): port is number => port !== undefined && port > 0,
  );
}

/** Written under DATA_DIR/postgres once `kaira db import-pglite` has copied the old data. */
export const PGLITE_IMPORTED = "pglite-imported";

/** Whether DATA_DIR holds the data directory PGlite used as the embedded database. */
export function hasPgliteData(dataDir: string): boolean {
  return existsSync(join(dataDir, "pgdata", "PG_VERSION"));
}
