import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { ExecutedQuery, TimedQuery } from "../../src/platform/database/database.js";
import { openDatabase } from "../../src/platform/database/index.js";

// PGlite is the fallback where no PostgreSQL binary exists for the platform (or with
// EMBEDDED_ENGINE=pglite): the database port's contract holds on it too.
const dataDir = mkdtempSync(join(tmpdir(), "kaira-pglite-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("PGlite as the embedded fallback", { timeout: 120_000 }, () => {
  it("is chosen by EMBEDDED_ENGINE=pglite with a line saying so, and keeps the database port's contract", async () => {
    const said: string[] = [];
    const config = loadConfig({ DATA_DIR: dataDir, EMBEDDED_ENGINE: "pglite" });
    const database = await openDatabase(config, { log: (line) => said.push(line) });
    try {
      expect(said).toEqual([expect.stringContaining("Using PGlite (EMBEDDED_ENGINE=pglite)")]);
      expect(database.engine).toBe("embedded");
      await database.migrate();
      await database.ping();
      const seen: ExecutedQuery[] = [];
      const timed: TimedQuery[] = [];
      const stopSeeing = database.onQuery((query) => seen.push(query));
      const stopTiming = database.onQueryTimed((query) => timed.push(query));
      const result = (await database.withStatementTimeout(1_000, (db) =>
        db.execute(sql`select count(*) as users from users`),
      )) as unknown as { rows: { users: number | string }[] };
      expect(Number(result.rows[0]?.users)).toBe(0);
      stopSeeing();
      stopTiming();
      expect(seen.map((query) => query.sql)).toEqual([expect.stringContaining("from users")]);
      expect(timed[0]?.seconds).toBeGreaterThanOrEqual(0);
      expect(database.poolStats()).toEqual({ total: 1, max: 1, inUse: 0, waiting: 0 });
    } finally {
      await database.close();
    }
    // Closed, the directory is free again, and its data is still there.
    const reopened = await openDatabase(config);
    try {
      await reopened.migrate();
      const rows = (await reopened.db.execute(
        sql`select count(*) as n from drizzle.__drizzle_migrations`,
      )) as unknown as {
        rows: { n: number }[];
      };
      expect(Number(rows.rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      await reopened.close();
    }
  });
});
