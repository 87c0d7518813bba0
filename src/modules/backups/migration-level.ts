import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { migrationsFolder } from "../../platform/database/database.js";
import type { AppliedMigration } from "./database-snapshot.js";

interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}

/** The migrations this build of Kaira ships, oldest first, as drizzle identifies them. */
export function shippedMigrations(folder = migrationsFolder): (AppliedMigration & { tag: string })[] {
  const files = readMigrationFiles({ migrationsFolder: folder });
  const tags = journalEntries(folder);
  return files.map((file, index) => ({
    hash: file.hash,
    createdAt: file.folderMillis,
    tag: tags[index]?.tag ?? String(index),
  }));
}

function journalEntries(folder: string): JournalEntry[] {
  // drizzle's reader above reads the same small file synchronously; the tags are only here.
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: JournalEntry[];
  };
  return journal.entries;
}

/**
 * How a backup's schema relates to this build: the same, older (newer migrations will be
 * applied after the restore), or newer / unknown (this build cannot read it).
 */
export type SchemaComparison =
  | { relation: "same" | "older"; level: number }
  | { relation: "newer"; reason: string };

export function compareSchema(backup: AppliedMigration[], shipped = shippedMigrations()): SchemaComparison {
  if (backup.length > shipped.length) {
    return {
      relation: "newer",
      reason: `the backup is at migration level ${backup.length}, this Kaira ships ${shipped.length}`,
    };
  }
  for (const [index, migration] of backup.entries()) {
    const local = shipped[index];
    if (local?.createdAt !== migration.createdAt) {
      return {
        relation: "newer",
        reason: `the backup's migration ${index + 1} (${migration.createdAt}) is not one this Kaira ships`,
      };
    }
  }
  return { relation: backup.length === shipped.length ? "same" : "older", level: backup.length };
}

/**
 * A copy of the migrations folder holding only the first `level` migrations, so drizzle's
 * migrator recreates the schema exactly as it was when the backup was taken. Returns the
 * folder and a function that removes it.
 */
export async function migrationsUpTo(
  level: number,
): Promise<{ folder: string; remove: () => Promise<void> }> {
  const folder = await mkdtemp(join(tmpdir(), "kaira-migrations-"));
  const remove = () => rm(folder, { recursive: true, force: true });
  try {
    const journal = JSON.parse(await readFile(join(migrationsFolder, "meta", "_journal.json"), "utf8")) as {
      entries: JournalEntry[];
    };
    const entries = journal.entries.slice(0, level);
    await mkdir(join(folder, "meta"));
    await writeFile(join(folder, "meta", "_journal.json"), JSON.stringify({ ...journal, entries }));
    for (const entry of entries) {
      await copyFile(join(migrationsFolder, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`));
    }
    return { folder, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
