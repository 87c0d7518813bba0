import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildApp } from "../app.js";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { serve } from "../main.js";
import { createArgon2Hasher } from "../modules/auth/password-hasher.js";
import { CorruptArchiveError } from "../modules/backups/archive.js";
import {
  backupFileName,
  createBackup,
  NewerBackupError,
  RestoreTargetNotEmptyError,
  restoreBackup,
} from "../modules/backups/backup.service.js";
import { createUsersRepository } from "../modules/users/users.repository.js";
import { createUsersService } from "../modules/users/users.service.js";
import { DataDirLockedError } from "../platform/database/data-dir-lock.js";
import { openEmbeddedDatabase } from "../platform/database/embedded.js";
import { openDatabase } from "../platform/database/index.js";
import { openStorage } from "../platform/storage/index.js";
import { runWorker } from "../worker.js";
import { DEFAULT_VOCABULARY, DEMO_PASSWORD, MAX_VOCABULARY, seedDemoData } from "./seed.js";

const USAGE = `Usage: kaira <command> [options]

Commands:
  serve                          run the API (default port 9000)
  worker                         run background jobs (needs DATABASE_URL; BullMQ with REDIS_URL)
  migrate                        apply pending database migrations
  seed [--users N] [--posts M] [--vocabulary V]
                                 fill the database with demo data (defaults: 100 users, 1000 posts,
                                 text drawn from 26 words; a larger V gives common and rare words)
  create-admin [--email E] [--password P]
                                 create an admin account unless the email exists
                                 (defaults: ADMIN_EMAIL, ADMIN_PASSWORD)
  openapi                        print the OpenAPI document as JSON
  backup [FILE]                  write a backup archive of the database and every stored file
                                 (default: BACKUP_DIR/kaira-<time>.tar.gz); safe while serving
  restore FILE [--force]         restore a backup into an empty database and DATA_DIR, then
                                 apply newer migrations; --force replaces existing data and
                                 accepts a damaged archive or a newer schema

Configuration comes from the environment and .env (see README).`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  return Number(value);
}

class UsageError extends Error {}

/** The embedded database belongs to the serving process; say how to back it up while it runs. */
async function openForBackup(config: Config) {
  try {
    return await openDatabase(config);
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    throw new UsageError(
      `${error.message}\nWhile it runs, start a backup from it instead: POST /api/v1/admin/backups (admin), or schedule them with BACKUP_SCHEDULE.`,
    );
  }
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serve(loadConfig());

    case "worker":
      return runWorker(loadConfig());

    case "migrate": {
      const database = await openDatabase(loadConfig());
      try {
        await database.migrate();
        console.log(`Migrations applied (${database.kind} database).`);
      } finally {
        await database.close();
      }
      return;
    }

    case "seed": {
      const { values } = parseArgs({
        args: rest,
        options: { users: { type: "string" }, posts: { type: "string" }, vocabulary: { type: "string" } },
      });
      const counts = {
        users: positiveInt("users", values.users, 100),
        posts: positiveInt("posts", values.posts, 1000),
      };
      const vocabulary = positiveInt("vocabulary", values.vocabulary, DEFAULT_VOCABULARY);
      if (vocabulary < 2 || vocabulary > MAX_VOCABULARY)
        throw new UsageError(`--vocabulary must be between 2 and ${MAX_VOCABULARY}`);
      const database = await openDatabase(loadConfig());
      try {
        await database.migrate();
        const started = performance.now();
        await seedDemoData(database, createArgon2Hasher(), {
          ...counts,
          vocabulary,
          progress: process.stderr.isTTY === true,
          onProgress: (line) => process.stderr.write(`${line}\n`),
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        console.log(
          `Seeded ${counts.users} users and ${counts.posts} posts in ${seconds} s. Demo users' password: ${DEMO_PASSWORD}`,
        );
      } finally {
        await database.close();
      }
      return;
    }

    case "create-admin": {
      const { values } = parseArgs({
        args: rest,
        options: { email: { type: "string" }, password: { type: "string" } },
      });
      const config = loadConfig();
      const email = values.email ?? config.adminEmail;
      const password = values.password ?? config.adminPassword;
      if (!email || !password)
        throw new UsageError("create-admin needs --email and --password (or ADMIN_EMAIL and ADMIN_PASSWORD)");
      if (password.length < 8 || password.length > 128)
        throw new UsageError("--password must be 8 to 128 characters");
      const database = await openDatabase(config);
      try {
        await database.migrate();
        const usersService = createUsersService({
          usersRepository: createUsersRepository(database.db),
          passwordHasher: createArgon2Hasher(),
        });
        const { created, user } = await usersService.ensureAdmin(email, password);
        console.log(
          created
            ? `Admin ${user.email} created (id ${user.id}, username ${user.username}).`
            : `A user with email ${user.email} already exists (id ${user.id}, role ${user.role}); nothing changed.`,
        );
      } finally {
        await database.close();
      }
      return;
    }

    case "backup": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      if (positionals.length > 1) throw new UsageError("backup takes at most one FILE");
      const config = loadConfig();
      const target = resolve(positionals[0] ?? join(config.backups.dir, backupFileName(new Date())));
      const database = await openForBackup(config);
      try {
        const manifest = await createBackup({ database, storage: openStorage(config) }, target);
        const rows = manifest.database.tables.reduce((sum, table) => sum + table.rows, 0);
        console.log(
          `Backup written to ${target}: ${manifest.database.tables.length} tables, ${rows} rows, ${manifest.files.count} files (migration level ${manifest.database.migration_level}).`,
        );
      } finally {
        await database.close();
      }
      return;
    }

    case "restore": {
      const { positionals, values } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { force: { type: "boolean", default: false } },
      });
      if (positionals.length !== 1) throw new UsageError("restore needs exactly one FILE");
      const config = loadConfig();
      const file = resolve(positionals[0] as string);
      const database = await openDatabase(config);
      try {
        const result = await restoreBackup(
          { database, storage: openStorage(config), filesDir: join(config.dataDir, "files") },
          file,
          { force: values.force, onWarning: (message) => console.error(`warning: ${message}`) },
        );
        const { manifest } = result;
        const rows = manifest.database.tables.reduce((sum, table) => sum + table.rows, 0);
        console.log(
          `Restored ${file} (Kaira ${manifest.kaira_version}, taken ${manifest.created_at}): ${rows} rows, ${manifest.files.count} files${
            result.upgradedFrom > 0
              ? `; migrated from level ${result.upgradedFrom} to the current schema`
              : ""
          }.`,
        );
      } finally {
        await database.close();
      }
      return;
    }

    case "openapi": {
      // The document comes from the route schemas alone; an empty in-memory database suffices.
      const database = await openEmbeddedDatabase();
      const app = await buildApp(loadConfig(), { database });
      await app.ready();
      process.stdout.write(`${JSON.stringify(app.swagger(), null, 2)}\n`);
      await app.close();
      await database.close();
      return;
    }

    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return;

    default:
      throw new UsageError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  const isArgumentError = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
  const isUserError =
    error instanceof ConfigError ||
    error instanceof DataDirLockedError ||
    error instanceof UsageError ||
    error instanceof CorruptArchiveError ||
    error instanceof NewerBackupError ||
    error instanceof RestoreTargetNotEmptyError;
  if (error instanceof Error && (isUserError || isArgumentError)) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
