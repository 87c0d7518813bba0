import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { sql } from "drizzle-orm";
import type { Database } from "../../platform/database/index.js";
import { onInterrupt } from "../../platform/process/interrupt-cleanups.js";
import type { ObjectStorage } from "../../platform/storage/index.js";
import {
  ArchiveWriter,
  CorruptArchiveError,
  MANIFEST_MEMBER,
  type MemberDigest,
  readArchive,
  verifyArchive,
} from "./archive.js";
import {
  type AppliedMigration,
  countRows,
  dropEverything,
  insertRows,
  isEmptyDatabase,
  listTables,
  readAppliedMigrations,
  readRows,
  readSequences,
  restoreSequence,
  type SequenceState,
  type TableShape,
} from "./database-snapshot.js";
import { compareSchema, migrationsUpTo } from "./migration-level.js";

export const BACKUP_FORMAT = "kaira-backup";
export const BACKUP_FORMAT_VERSION = 1;
const DATABASE_PREFIX = "database/";
const FILES_PREFIX = "files/";
/** Rows per INSERT on restore, and the text size at which a batch is sent early. */
const RESTORE_BATCH_ROWS = 500;
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

export const KAIRA_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** `kaira-2026-01-31T03-00-00-000Z.tar.gz`: sorts by time, safe in any file system. */
export function backupFileName(takenAt: Date): string {
  return `kaira-${takenAt.toISOString().replaceAll(":", "-").replace(".", "-")}.tar.gz`;
}

export const BACKUP_FILE_PATTERN = /^kaira-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.tar\.gz$/;

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  kaira_version: string;
  created_at: string;
  database: {
    kind: Database["engine"];
    /** How many migrations the snapshot's schema had applied, and which. */
    migration_level: number;
    migrations: AppliedMigration[];
    tables: { name: string; columns: string[]; rows: number; member: string }[];
    sequences: SequenceState[];
  };
  files: { count: number; bytes: number };
  members: Record<string, MemberDigest>;
}

export interface BackupDeps {
  database: Database;
  storage: ObjectStorage;
}

export interface BackupFile {
  name: string;
  size: number;
  createdAt: Date;
}

/** The complete archives in `dir`, newest first (partial ones are hidden dot-files). */
export async function listBackups(dir: string): Promise<BackupFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: BackupFile[] = [];
  for (const name of names.filter((n) => BACKUP_FILE_PATTERN.test(n))) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) files.push({ name, size: info.size, createdAt: info.mtime });
  }
  return files.sort((a, b) => (a.name < b.name ? 1 : -1));
}

/** Deletes all but the newest `keep` archives; returns the names removed. */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  const stale = (await listBackups(dir)).slice(keep).map((file) => file.name);
  for (const name of stale) await rm(join(dir, name), { force: true });
  return stale;
}

/** A stored file the snapshot lists vanished before it was copied: a new snapshot will not list it. */
export class FileChangedDuringBackupError extends Error {
  constructor(key: string) {
    super(`stored object ${key} was deleted while the backup ran; run the backup again`);
    this.name = "FileChangedDuringBackupError";
  }
}

/**
 * Writes one archive of the whole service to `target`: every table from a single
 * REPEATABLE READ snapshot, then every stored object the snapshot refers to. The snapshot
 * only reads (MVCC), so on PostgreSQL writers are never blocked; on the single-connection
 * embedded database, statements wait only while the rows are copied to a spool file, not
 * while objects are archived. The archive appears under its name only once complete.
 */
export async function createBackup(deps: BackupDeps, target: string): Promise<BackupManifest> {
  await mkdir(dirname(target), { recursive: true });
  const spool = await mkdtemp(join(dirname(target), `.${basename(target)}.spool-`));
  const partial = join(dirname(target), `.${basename(target)}.partial`);
  // Ctrl-C during `kaira backup` leaves neither the spool (rows in plain text) nor a partial archive.
  const forgetOnInterrupt = onInterrupt(() =>
    Promise.all([rm(spool, { recursive: true, force: true }), rm(partial, { force: true })]),
  );
  try {
    const snapshot = await spoolSnapshot(deps.database, spool);
    const archive = new ArchiveWriter(partial);
    try {
      const tables: BackupManifest["database"]["tables"] = [];
      for (const table of snapshot.tables) {
        const member = `${DATABASE_PREFIX}${table.name}.ndjson`;
        const path = join(spool, `${table.name}.ndjson`);
        await archive.add(member, (await stat(path)).size, createReadStream(path));
        tables.push({ name: table.name, columns: table.columns, rows: table.rows, member });
      }
      let bytes = 0;
      for (const key of snapshot.objectKeys) {
        const object = await deps.storage.stat(key);
        if (!object) throw new FileChangedDuringBackupError(key);
        await archive.add(`${FILES_PREFIX}${key}`, object.size, await deps.storage.get(key));
        bytes += object.size;
      }
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        format_version: BACKUP_FORMAT_VERSION,
        kaira_version: KAIRA_VERSION,
        created_at: snapshot.takenAt.toISOString(),
        database: {
          kind: deps.database.engine,
          migration_level: snapshot.migrations.length,
          migrations: snapshot.migrations,
          tables,
          sequences: snapshot.sequences,
        },
        files: { count: snapshot.objectKeys.length, bytes },
        members: { ...archive.members },
      };
      await archive.addBuffer(MANIFEST_MEMBER, Buffer.from(JSON.stringify(manifest, null, 2)));
      await archive.finish();
      await rename(partial, target);
      return manifest;
    } catch (error) {
      await archive.abort(error as Error);
      throw error;
    }
  } finally {
    forgetOnInterrupt();
    await rm(spool, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

interface Snapshot {
  takenAt: Date;
  migrations: AppliedMigration[];
  tables: (TableShape & { rows: number })[];
  sequences: SequenceState[];
  objectKeys: string[];
}

/** Copies every table to `<spool>/<table>.ndjson` inside one read-only REPEATABLE READ transaction. */
async function spoolSnapshot(database: Database, spool: string): Promise<Snapshot> {
  return database.db.transaction(
    async (tx) => {
      const takenAt = new Date();
      const migrations = await readAppliedMigrations(tx);
      const tables: Snapshot["tables"] = [];
      for (const shape of await listTables(tx)) {
        const out = createWriteStream(join(spool, `${shape.name}.ndjson`), { mode: 0o600 });
        const closed = finished(out);
        closed.catch(() => {});
        let rows = 0;
        try {
          for await (const batch of readRows(tx, shape)) {
            rows += batch.length;
            if (!out.write(`${batch.join("\n")}\n`))
              await new Promise<void>((resolve) => out.once("drain", () => resolve()));
          }
        } finally {
          out.end();
          await closed;
        }
        tables.push({ ...shape, rows });
      }
      const sequences = await readSequences(tx);
      const objectKeys = tables.some((t) => t.name === "files") ? await storedObjectKeys(tx) : [];
      return { takenAt, migrations, tables, sequences, objectKeys };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
}

async function storedObjectKeys(tx: Pick<Database["db"], "execute">): Promise<string[]> {
  const result = (await tx.execute(
    sql`select storage_key as key from files union all
        select thumbnail_key as key from files where thumbnail_key is not null order by key`,
  )) as unknown as { rows: { key: string }[] };
  return result.rows.map((row) => row.key);
}

/** The archive can be read, matches its checksums, and was written by Kaira. */
export async function inspectBackup(file: string): Promise<BackupManifest> {
  const manifest = await verifyArchive<BackupManifest>(file);
  if (manifest.format !== BACKUP_FORMAT) throw new CorruptArchiveError("it is not a Kaira backup");
  if (manifest.format_version > BACKUP_FORMAT_VERSION) {
    throw new NewerBackupError(
      `the archive format version ${manifest.format_version} is newer than this Kaira reads (${BACKUP_FORMAT_VERSION})`,
    );
  }
  return manifest;
}

/** The target already holds data; restoring would mix two histories. */
export class RestoreTargetNotEmptyError extends Error {
  constructor(detail: string) {
    super(
      `Refusing to restore: ${detail}. Restore into an empty database and DATA_DIR, or pass --force to replace what is there.`,
    );
    this.name = "RestoreTargetNotEmptyError";
  }
}

/** The backup comes from a newer Kaira whose schema this one cannot recreate. */
export class NewerBackupError extends Error {
  constructor(reason: string) {
    super(
      `Refusing to restore a backup from a newer Kaira: ${reason}. Upgrade Kaira first, or pass --force to load what this schema can hold.`,
    );
    this.name = "NewerBackupError";
  }
}

export interface RestoreDeps extends BackupDeps {
  /** Directory of the local object storage: must be empty (or is emptied with force). */
  filesDir: string;
}

export interface RestoreOptions {
  force?: boolean;
  onWarning?: (message: string) => void;
}

export interface RestoreResult {
  manifest: BackupManifest;
  /** Migrations applied after the data because the backup was older than this Kaira. */
  upgradedFrom: number;
  verified: boolean;
}

/**
 * Restores an archive into an empty database and file storage: checks the archive, recreates
 * the schema at the backup's migration level, loads every row in one transaction, sets the
 * sequences, writes the files, then applies this build's newer migrations.
 */
export async function restoreBackup(
  deps: RestoreDeps,
  file: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const warn = options.onWarning ?? (() => {});
  await stat(file); // a missing file is an ENOENT error naming it, not a damaged archive
  let manifest: BackupManifest;
  let verified = true;
  try {
    manifest = await inspectBackup(file);
  } catch (error) {
    if (!(options.force && error instanceof CorruptArchiveError)) throw error;
    warn(`${(error as Error).message}; restoring what can be read because of --force`);
    manifest = await readManifestUnverified(file);
    verified = false;
  }

  const schema = compareSchema(manifest.database.migrations);
  if (schema.relation === "newer" && !options.force) throw new NewerBackupError(schema.reason);

  const db = deps.database.db;
  const databaseEmpty = await isEmptyDatabase(db);
  const filesEmpty = await isEmptyDirectory(deps.filesDir);
  if (!databaseEmpty || !filesEmpty) {
    if (!options.force) {
      throw new RestoreTargetNotEmptyError(
        [!databaseEmpty && "the database is not empty", !filesEmpty && `${deps.filesDir} holds files`]
          .filter(Boolean)
          .join(" and "),
      );
    }
    warn("replacing the existing database and files because of --force");
    await dropEverything(db);
    await rm(deps.filesDir, { recursive: true, force: true });
  }

  if (schema.relation === "newer") {
    warn(`${schema.reason}; loading the columns this schema has because of --force`);
    await deps.database.migrate();
  } else {
    const migrations = await migrationsUpTo(schema.level);
    try {
      await deps.database.migrate({ migrationsFolder: migrations.folder });
    } finally {
      await migrations.remove();
    }
  }

  const targetTables = new Map((await listTables(db)).map((t) => [t.name, t]));
  const backupTables = new Map(manifest.database.tables.map((t) => [t.member, t]));
  await db.transaction(async (tx) => {
    await readArchive(file, async (name, _size, body) => {
      const table = backupTables.get(name);
      if (table) {
        const target = targetTables.get(table.name);
        if (!target) {
          warn(`table ${table.name} does not exist in this schema; its rows are skipped`);
          return;
        }
        const columns = table.columns.filter((c) => target.columns.includes(c));
        await loadTable(tx, { name: table.name, columns }, body);
      } else if (name.startsWith(FILES_PREFIX)) {
        await deps.storage.put(name.slice(FILES_PREFIX.length), body);
      }
    });
    for (const sequence of manifest.database.sequences) await restoreSequence(tx, sequence);
  });

  const upgradedFrom = manifest.database.migration_level;
  if (schema.relation === "older") await deps.database.migrate();
  for (const table of manifest.database.tables) {
    if (!verified || !targetTables.has(table.name)) continue;
    const rows = await countRows(db, table.name);
    if (rows !== table.rows)
      throw new Error(`restored ${rows} rows into ${table.name}, the backup holds ${table.rows}`);
  }
  return { manifest, upgradedFrom: schema.relation === "older" ? upgradedFrom : 0, verified };
}

async function loadTable(
  tx: Pick<Database["db"], "execute">,
  shape: TableShape,
  body: NodeJS.ReadableStream,
): Promise<void> {
  let batch: string[] = [];
  let batchBytes = 0;
  let pending = "";
  const flush = async () => {
    const rows = batch;
    batch = [];
    batchBytes = 0;
    await insertRows(tx, shape, rows);
  };
  // Lines are whole rows: row_to_json never emits a raw newline (JSON escapes it).
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const lines = (pending + chunk.toString("utf8")).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.length === 0) continue;
      batch.push(line);
      batchBytes += line.length;
      if (batch.length >= RESTORE_BATCH_ROWS || batchBytes >= RESTORE_BATCH_BYTES) await flush();
    }
  }
  if (pending.length > 0) batch.push(pending);
  await flush();
}

async function readManifestUnverified(file: string): Promise<BackupManifest> {
  let text: string | undefined;
  await readArchive(file, async (name, _size, body) => {
    if (name !== MANIFEST_MEMBER) return;
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    text = Buffer.concat(chunks).toString("utf8");
  }).catch((error: unknown) => {
    if (text === undefined) throw error;
  });
  if (text === undefined) throw new CorruptArchiveError("it has no readable manifest.json");
  return JSON.parse(text) as BackupManifest;
}

async function isEmptyDirectory(path: string): Promise<boolean> {
  try {
    const entries = await readdir(path);
    // `.tmp` holds only partial uploads in progress; it carries no data of its own.
    return entries.every((entry) => entry === ".tmp");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw error;
  }
}
