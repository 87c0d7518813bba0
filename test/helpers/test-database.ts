import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import type { Database } from "../../src/platform/database/index.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { databaseUrlFor } from "./global-setup.js";

/** Whether the run uses an external PostgreSQL (DATABASE_URL) rather than the embedded server. */
export const onPostgres = () => inject("databaseMode") === "postgres";

export interface TestDatabase {
  database: Database;
  /** The connection URL, for tests that start processes or open a second pool. */
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database that belongs to one test file: a copy of the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("postgresAdminUrl");
  const name = `kaira_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${inject("postgresTemplate")}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(adminUrl, name);
  const database = await openPostgresDatabase({ url, poolSize: 5, applicationName: "kaira-test" });
  return {
    database,
    url,
    async drop() {
      await database.close().catch(() => {}); // a test may have closed it on purpose
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
