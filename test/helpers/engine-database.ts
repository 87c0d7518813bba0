import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { type Database, openDatabase } from "../../src/platform/database/index.js";
import { createTestDatabase } from "./test-database.js";

/** The engines the database port runs on: a PostgreSQL server, and PGlite. */
export const ENGINES = ["postgres", "pglite"] as const;

/** A fresh, migrated database on `engine` (its URL only for a PostgreSQL server), and its removal. */
export async function openEngineDatabase(
  engine: (typeof ENGINES)[number],
): Promise<{ database: Database; url: string; cleanup: () => Promise<void> }> {
  if (engine === "postgres") {
    const test = await createTestDatabase();
    return { database: test.database, url: test.url, cleanup: () => test.drop() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "kaira-engine-"));
  const database = await openDatabase(loadConfig({ DATA_DIR: dataDir, EMBEDDED_ENGINE: "pglite" }));
  await database.migrate();
  return {
    database,
    url: "",
    cleanup: async () => {
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
