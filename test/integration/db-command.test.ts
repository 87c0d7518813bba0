import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it, vi } from "vitest";
import { importPglite, runDbCommand } from "../../src/cli/db.js";
import { loadConfig } from "../../src/config.js";
import { openEmbeddedDatabase } from "../../src/platform/database/embedded.js";
import { EmbeddedServer } from "../../src/platform/database/embedded-server/server.js";
import { openDatabase } from "../../src/platform/database/index.js";

// `kaira db …` in-process, on a DATA_DIR of its own: what it prints, and the one-line
// errors (UsageError → exit 2) it gives when something is to be fixed.
const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kaira-db-command-"));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) {
    await new EmbeddedServer({ dataDir: dir }).stop({ force: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

function captured() {
  const out: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => void out.push(line));
  const error = vi.spyOn(console, "error").mockImplementation((line: string) => void out.push(line));
  return {
    text: () => out.join("\n"),
    restore: () => {
      log.mockRestore();
      error.mockRestore();
    },
  };
}

describe("kaira db", { timeout: 180_000 }, () => {
  it("starts, describes, prints the URL of and stops the embedded server", async () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    const db = (action: string, force = false) => runDbCommand(config, action, { force });
    const out = captured();
    try {
      await db("status");
      expect(out.text()).toMatch(/is not running \(not created yet/);
      await expect(db("url")).rejects.toMatchObject({ name: "UsageError", message: /not running/ });
      await db("start");
      expect(out.text()).toMatch(/runs until `kaira db stop`/);
      await db("url");
      expect(out.text()).toMatch(/postgres:\/\/kaira:.+@127\.0\.0\.1:\d+\/kaira/);
      const attached = await openDatabase(config);
      try {
        await db("status");
        expect(out.text()).toMatch(
          new RegExp(`is running: pid \\d+, 127\\.0\\.0\\.1:\\d+\\.\\nUsed by process ${process.pid}\\.`),
        );
        await expect(db("stop")).rejects.toMatchObject({ name: "EmbeddedServerInUseError" });
      } finally {
        await attached.close();
      }
      await db("stop");
      expect(out.text()).toContain("The embedded PostgreSQL server stopped.");
      await db("stop");
      expect(out.text()).toContain("was not running");
      await expect(db("restart")).rejects.toMatchObject({ name: "UsageError", message: /Unknown db action/ });
    } finally {
      out.restore();
    }
  });

  it("is refused, in one line, where there is no embedded PostgreSQL server to manage", async () => {
    const external = loadConfig({ DATABASE_URL: "postgres://u:p@127.0.0.1:1/x" });
    await expect(runDbCommand(external, "url", { force: false })).rejects.toThrow(/DATABASE_URL set/);
    const pglite = loadConfig({ DATA_DIR: dataDir(), EMBEDDED_ENGINE: "pglite" });
    await expect(runDbCommand(pglite, "status", { force: false })).rejects.toThrow(/uses PGlite/);
  });

  it("import-pglite copies an earlier Kaira's PGlite data into the server and keeps the old directory", async () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    await expect(importPglite(config)).rejects.toThrow(/holds no PGlite database/);
    const old = await openEmbeddedDatabase({ dataDir: dir });
    try {
      await old.migrate();
      await old.db.execute(
        sql`insert into users (email, username, password_hash) values ('old@example.com', 'old_timer', 'x')`,
      );
    } finally {
      await old.close();
    }
    // A start on the new engine says how to move the data, once per start until imported.
    const said: string[] = [];
    const started = await openDatabase(config, { log: (line) => said.push(line) });
    await started.migrate();
    await started.close();
    expect(said.join("\n")).toMatch(/holds PGlite data .*`kaira db import-pglite`/);

    const lines: string[] = [];
    await importPglite(config, { say: (line) => lines.push(line) });
    expect(lines.join("\n")).toMatch(/Imported \d+ rows .* the old directory is kept/);
    expect(existsSync(join(dir, "pgdata", "PG_VERSION"))).toBe(true);
    said.length = 0;
    const imported = await openDatabase(config, { log: (line) => said.push(line) });
    try {
      const { rows } = (await imported.db.execute(
        sql`select username from users where email = 'old@example.com'`,
      )) as unknown as { rows: { username: string }[] };
      expect(rows).toEqual([{ username: "old_timer" }]);
      expect(said.join("\n")).not.toContain("import-pglite");
    } finally {
      await imported.close();
    }
    // Running it again would overwrite what is now the live data: refused unless forced.
    await expect(importPglite(config)).rejects.toThrow(/already holds data/);
  });
});
