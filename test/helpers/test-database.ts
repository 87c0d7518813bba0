import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { inject } from "vitest";
import { openEmbeddedDatabase } from "../../src/platform/database/embedded.js";
import type { Database } from "../../src/platform/database/index.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { databaseUrlFor } from "./global-setup.js";

export const onPostgres = () => inject("postgresAdminUrl") !== "";

export interface TestDatabase {
  database: Database;
  /** The connection URL (PostgreSQL mode only) for tests that start processes. */
  url: string | undefined;
  drop(): Promise<void>;
}

/** A fresh, migrated database that belongs to one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("postgresAdminUrl");
  if (adminUrl) {
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
  const template = new Blob([readFileSync(inject("embeddedTemplatePath"))]);
  const database = await openEmbeddedDatabase({ loadFrom: template });
  return { database, url: undefined, drop: () => database.close() };
}
