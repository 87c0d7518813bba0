import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { Config } from "../config.js";
import { createBackup, restoreBackup } from "../modules/backups/backup.service.js";
import { isEmptyDatabase, listTables } from "../modules/backups/database-snapshot.js";
import { openEmbeddedDatabase } from "../platform/database/embedded.js";
import { EmbeddedServer } from "../platform/database/embedded-server/server.js";
import {
  type Database,
  databaseEngine,
  hasPgliteData,
  openDatabase,
  PGLITE_IMPORTED,
  portsKairaBinds,
} from "../platform/database/index.js";
import { UsageError } from "../platform/process/failures.js";
import { openStorage } from "../platform/storage/index.js";
import type { ObjectStorage } from "../platform/storage/storage.js";

/** `kaira db …`: the embedded PostgreSQL server of DATA_DIR, for people and their tools. */
export async function runDbCommand(
  config: Config,
  action: string,
  options: { force: boolean },
): Promise<void> {
  const engine = databaseEngine(config);
  if (engine !== "embedded-postgres") {
    throw new UsageError(
      engine === "external"
        ? "`kaira db` manages the embedded PostgreSQL server; with DATABASE_URL set, use that server's own tools"
        : "`kaira db` manages the embedded PostgreSQL server, and this configuration uses PGlite (EMBEDDED_ENGINE or no binaries for this platform)",
    );
  }
  const server = new EmbeddedServer({
    dataDir: config.dataDir,
    createUser: config.embeddedDatabase.createUser,
    log: (message) => console.error(message),
    // `kaira db start` runs the database for the Kaira processes that follow: it leaves their
    // ports free too.
    reservedPorts: portsKairaBinds(config),
  });
  switch (action) {
    case "url": {
      const url = await server.runningUrl();
      if (!url) {
        throw new UsageError(
          "The embedded PostgreSQL server is not running: start Kaira (`npm start`), or `kaira db start` to run the database alone",
        );
      }
      console.log(url);
      return;
    }
    case "status": {
      const status = await server.status();
      if (!status.running) {
        console.log(
          `The embedded PostgreSQL server in ${server.paths.pgdata} is not running${status.initialized ? "" : " (not created yet: the first start creates it)"}.`,
        );
        return;
      }
      console.log(
        [
          `The embedded PostgreSQL server in ${server.paths.pgdata} is running: pid ${status.pid}, 127.0.0.1:${status.port}.`,
          status.clients.length > 0
            ? `Used by process${status.clients.length > 1 ? "es" : ""} ${status.clients.join(", ")}.`
            : "No Kaira process uses it.",
          status.pinned ? "Started by `kaira db start`: it runs until `kaira db stop`." : "",
        ]
          .filter(Boolean)
          .join("\n"),
      );
      return;
    }
    case "start": {
      const url = await server.startPinned();
      console.error("The embedded PostgreSQL server runs until `kaira db stop`. Its URL:");
      console.log(url);
      return;
    }
    case "stop": {
      const stopped = await server.stop({ force: options.force });
      console.log(
        stopped
          ? "The embedded PostgreSQL server stopped."
          : "The embedded PostgreSQL server was not running.",
      );
      return;
    }
    case "import-pglite": {
      const { clients } = await server.status();
      if (clients.length > 0) {
        throw new UsageError(
          `Stop Kaira first (process${clients.length > 1 ? "es" : ""} ${clients.join(", ")}): the import fills the database it serves`,
        );
      }
      await importPglite(config, { force: options.force });
      return;
    }
    default:
      throw new UsageError(`Unknown db action "${action}": use url, status, start, stop or import-pglite`);
  }
}

/**
 * Copies the PGlite database an earlier Kaira kept in DATA_DIR/pgdata into the embedded
 * PostgreSQL server, through a backup archive (the same format `kaira backup` writes, so the
 * same checks apply: the target must be empty). The old directory is kept; stored files
 * stay where they are in DATA_DIR/files.
 */
export async function importPglite(
  config: Config,
  options: { force?: boolean; say?: (line: string) => void } = {},
): Promise<void> {
  const say = options.say ?? console.log;
  if (!hasPgliteData(config.dataDir)) {
    throw new UsageError(`${join(config.dataDir, "pgdata")} holds no PGlite database to import`);
  }
  const storage = openStorage(config);
  const work = await mkdtemp(join(config.dataDir, ".import-pglite-"));
  try {
    const archive = join(work, "pglite.tar.gz");
    const source = await openEmbeddedDatabase({ dataDir: config.dataDir });
    try {
      await createBackup({ database: source, storage }, archive);
    } finally {
      await source.close();
    }
    const target = await openDatabase(config);
    try {
      // A server that Kaira already started holds the schema but no rows: nothing to lose.
      const holdsRows = await anyRows(target);
      if (holdsRows && !options.force) {
        throw new UsageError(
          "The embedded PostgreSQL database already holds data; import-pglite fills an empty one (--force replaces what is there)",
        );
      }
      const result = await restoreBackup(
        // The files are already in DATA_DIR/files: the archive's copies are read and dropped.
        { database: target, storage: keepInPlace(storage), filesDir: join(work, "files") },
        archive,
        { force: !(await isEmptyDatabase(target.db)) },
      );
      const rows = result.manifest.database.tables.reduce((sum, table) => sum + table.rows, 0);
      await writeFile(join(config.dataDir, "postgres", PGLITE_IMPORTED), new Date().toISOString());
      say(
        `Imported ${rows} rows from ${join(config.dataDir, "pgdata")} into the embedded PostgreSQL server; the old directory is kept (remove it when you no longer need it).`,
      );
    } finally {
      await target.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function anyRows(database: Database): Promise<boolean> {
  for (const table of await listTables(database.db)) {
    const result = (await database.db.execute(
      sql`select exists (select 1 from ${sql.identifier(table.name)}) as found`,
    )) as unknown as { rows: { found: boolean }[] };
    if (result.rows[0]?.found) return true;
  }
  return false;
}

function keepInPlace(storage: ObjectStorage): ObjectStorage {
  return {
    ...storage,
    async put(key, body) {
      for await (const _chunk of body) {
        // drained: the object is already stored under this key
      }
      return (await storage.stat(key)) ?? { size: 0 };
    },
  };
}
