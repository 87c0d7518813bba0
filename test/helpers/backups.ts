import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { inject } from "vitest";
import { buildApp } from "../../src/app.js";
import type { Config } from "../../src/config.js";
import { listTables } from "../../src/modules/backups/database-snapshot.js";
import { openCache } from "../../src/platform/cache/index.js";
import type { Database } from "../../src/platform/database/index.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { openJobQueue } from "../../src/platform/jobs/index.js";
import { openPubSub } from "../../src/platform/pubsub/index.js";
import { databaseUrlFor } from "./global-setup.js";
import { createTestPasswordHasher } from "./password-hasher.js";

/** An empty restore target: a new, unmigrated database and an empty DATA_DIR. */
export interface RestoreTarget {
  database: Database;
  dataDir: string;
  url: string;
  /** Closes the database (idempotent) without dropping it. */
  close(): Promise<void>;
  drop(): Promise<void>;
}

export async function createEmptyTarget(): Promise<RestoreTarget> {
  const dataDir = await mkdtemp(join(tmpdir(), "kaira-restore-"));
  const adminUrl = inject("postgresAdminUrl");
  const name = `kaira_restore_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(adminUrl, name);
  const database = await openPostgresDatabase({ url, poolSize: 5, applicationName: "kaira-restore-test" });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await database.close();
  };
  return {
    database,
    dataDir,
    url,
    close,
    async drop() {
      await close();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Kaira started on a restored database and DATA_DIR, with the source's settings otherwise. */
export async function startAppOn(
  config: Config,
  database: Database,
  dataDir: string,
): Promise<FastifyInstance> {
  const restoredConfig: Config = { ...config, dataDir, mail: { ...config.mail, dir: join(dataDir, "mail") } };
  const prefix = `kaira-test:${randomBytes(6).toString("hex")}:`;
  const cache = openCache(restoredConfig, prefix);
  const pubsub = openPubSub(restoredConfig, prefix);
  const jobs = openJobQueue(restoredConfig, database.db, { redisPrefix: `${prefix}bull` });
  // The source app hashed with the test hasher (createTestApp): the restored one verifies alike.
  const passwordHasher = createTestPasswordHasher();
  const app = await buildApp(restoredConfig, { database, cache, pubsub, jobs, passwordHasher });
  app.addHook("onClose", async () => {
    await jobs.close(1_000);
    await cache.close();
    await pubsub.close();
  });
  await app.ready();
  return app;
}

/** Every row of every table, as PostgreSQL renders it, sorted: equal exactly when the data is. */
export async function everyRow(database: Database): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of await listTables(database.db)) {
    const { rows } = (await database.db.execute(
      sql`select row_to_json(t)::text as row from ${sql.identifier(table.name)} t`,
    )) as unknown as { rows: { row: string }[] };
    result[table.name] = rows.map((r) => r.row).sort();
  }
  return result;
}

export async function appliedMigrationCount(database: Database): Promise<number> {
  const { rows } = (await database.db.execute(
    sql`select count(*) as n from drizzle.__drizzle_migrations`,
  )) as unknown as { rows: { n: number | string }[] };
  return Number(rows[0]?.n ?? 0);
}
