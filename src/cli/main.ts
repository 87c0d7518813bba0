import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { explainFailure, UsageError } from "../platform/process/failures.js";

// Only node: built-ins and small local modules are imported up here: `kaira help`,
// `--version`, `<command> --help` and argument errors answer before anything of the app
// (Fastify, drivers, argon2) is loaded. Each command imports what it needs when it runs.

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

interface Command {
  /** How the command is called, e.g. `seed [--users N] [--posts M]`. */
  synopsis: string;
  summary: string;
  /** Explanation shown by `kaira <command> --help`. */
  details?: string;
  options: Options;
  /** How many positional arguments the command takes (default none). */
  positionals?: number;
  /** The command stops itself on SIGTERM/SIGINT (serve, worker); others are released on them. */
  handlesSignals?: boolean;
  run(values: Values, positionals: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    handlesSignals: true,
    synopsis: "serve [--port N] [--host H]",
    summary: "run the API (default 0.0.0.0:9000)",
    details:
      "Options override PORT and HOST. Migrations are applied at start. SIGTERM or SIGINT drains\n" +
      "in-flight requests and exits 0.",
    options: { port: { type: "string" }, host: { type: "string" } },
    async run(values) {
      const overrides: Record<string, string> = {};
      if (values.port !== undefined) overrides.PORT = String(integerOption("port", values.port, 0, 65_535));
      if (values.host !== undefined) {
        const host = String(values.host).trim();
        if (host === "") throw new UsageError("--host must not be empty (e.g. 127.0.0.1 or 0.0.0.0)");
        overrides.HOST = host;
      }
      const { loadConfig, readDotenv } = await import("../config.js");
      const config = loadConfig({ ...readDotenv(), ...process.env, ...overrides });
      // Before the server's modules load: instrumentation patches them as they are imported.
      await (await import("../platform/telemetry/index.js")).startTelemetry(config.telemetry, "api");
      const { serve } = await import("../main.js");
      await serve(config);
    },
  },

  worker: {
    handlesSignals: true,
    synopsis: "worker",
    summary: "run background jobs beside the API (BullMQ with REDIS_URL)",
    details:
      "Takes jobs from the queue and runs WORKER_CONCURRENCY of them at a time. SIGTERM stops\n" +
      "taking jobs and waits WORKER_SHUTDOWN_SECONDS for running ones.",
    options: {},
    async run() {
      const { loadConfig } = await import("../config.js");
      const config = loadConfig();
      await (await import("../platform/telemetry/index.js")).startTelemetry(config.telemetry, "worker");
      const { runWorker } = await import("../worker.js");
      await runWorker(config);
    },
  },

  migrate: {
    synopsis: "migrate",
    summary: "apply pending database migrations",
    details: "Idempotent, and safe to run from several processes at once.",
    options: {},
    async run() {
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../platform/database/index.js");
      const database = await openDatabase(loadConfig());
      try {
        await database.migrate();
        console.log(`Migrations applied (${database.engine} database).`);
      } finally {
        await database.close();
      }
    },
  },

  seed: {
    synopsis: "seed [--users N] [--posts M] [--vocabulary V]",
    summary: "fill the database with demo data (defaults: 100 users, 1000 posts)",
    details:
      "Adds demo users (all with the same password, printed at the end) and posts spread over\n" +
      "the last year, written like an engineering community's. Running it again adds more.\n" +
      "--vocabulary V draws the text from V words instead (common and rare ones, for benchmarks).\n" +
      "The database generates the rows in one transaction; 100,000 users and 1,000,000 posts\n" +
      "take minutes (a large seed rebuilds the posts' indexes once at the end).",
    options: { users: { type: "string" }, posts: { type: "string" }, vocabulary: { type: "string" } },
    async run(values) {
      const { MAX_VOCABULARY } = await import("./seed.js");
      const counts = {
        users: integerOption("users", values.users ?? "100", 0, 10_000_000),
        posts: integerOption("posts", values.posts ?? "1000", 0, 10_000_000),
      };
      const vocabulary =
        values.vocabulary === undefined
          ? undefined
          : integerOption("vocabulary", values.vocabulary, 2, MAX_VOCABULARY);
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../platform/database/index.js");
      const { createArgon2Hasher } = await import("../modules/auth/password-hasher.js");
      const { DEMO_PASSWORD, seedDemoData } = await import("./seed.js");
      const database = await openDatabase(loadConfig());
      try {
        await database.migrate();
        const started = performance.now();
        const result = await seedDemoData(database, createArgon2Hasher(), {
          ...counts,
          ...(vocabulary !== undefined ? { vocabulary } : {}),
          progress: process.stderr.isTTY === true,
          onProgress: (line) => process.stderr.write(`${line}\n`),
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        console.log(`Seeded ${result.users} users and ${result.posts} posts in ${seconds} s.`);
        if (result.firstUsername !== undefined)
          console.log(
            `Log in as ${result.firstUsername} (or any other demo user) with the password ${DEMO_PASSWORD}`,
          );
      } finally {
        await database.close();
      }
    },
  },

  "create-admin": {
    synopsis: "create-admin [--email E] [--password P] [--promote]",
    summary: "create an admin account (defaults: ADMIN_EMAIL, ADMIN_PASSWORD)",
    details:
      "Creates an admin with this email unless a user has it; the username is the email's local\n" +
      "part. With --promote, an existing user with this email becomes an admin instead (their\n" +
      "password is kept, and --password is not needed).",
    options: { email: { type: "string" }, password: { type: "string" }, promote: { type: "boolean" } },
    async run(values) {
      const { loadConfig } = await import("../config.js");
      const config = loadConfig();
      const email = (values.email as string | undefined)?.trim() ?? config.adminEmail;
      const password = (values.password as string | undefined) ?? config.adminPassword;
      const promote = values.promote === true;
      if (!email) throw new UsageError("create-admin needs --email (or ADMIN_EMAIL)");
      const { isEmail } = await import("../shared/email.js");
      if (!isEmail(email)) throw new UsageError(`--email must be an email address, got "${email}"`);
      if (password !== undefined && (password.length < 8 || password.length > 128))
        throw new UsageError("--password must be 8 to 128 characters");

      const { openDatabase } = await import("../platform/database/index.js");
      const { createArgon2Hasher } = await import("../modules/auth/password-hasher.js");
      const { createUsersRepository } = await import("../modules/users/users.repository.js");
      const { createUsersService } = await import("../modules/users/users.service.js");
      const { openCache } = await import("../platform/cache/index.js");
      const { createAuthStateCache } = await import("../modules/auth/auth-state.js");
      const database = await openDatabase(config);
      // With Redis, API instances read users' roles through it: a promotion is published there.
      const cache = config.redisUrl ? openCache(config) : undefined;
      try {
        await database.migrate();
        const usersRepository = createUsersRepository(database);
        const usersService = createUsersService({
          usersRepository,
          passwordHasher: createArgon2Hasher(),
          ...(cache
            ? {
                authState: createAuthStateCache(cache, async (id) => {
                  const user = await usersRepository.findById(id);
                  return (
                    user && {
                      tokenVersion: user.tokenVersion,
                      isActive: user.isActive,
                      role: user.role,
                      emailVerified: user.emailVerifiedAt !== null,
                    }
                  );
                }),
              }
            : {}),
        });
        const outcome = await usersService
          .ensureAdmin(email, password, { promote })
          .catch((error: unknown) => {
            if ((error as { code?: string }).code === "password_required")
              throw new UsageError(
                `No user has the email ${email}: creating an admin needs --password (or ADMIN_PASSWORD)`,
              );
            throw error;
          });
        const { user } = outcome;
        const who = `${user.email} (id ${user.id}, username ${user.username})`;
        switch (outcome.result) {
          case "created":
            console.log(`Admin ${who} created.`);
            return;
          case "promoted":
            console.log(`User ${who} is now an admin.`);
            return;
          case "already_admin":
            console.log(`User ${who} is already an admin; nothing changed.`);
            return;
          case "exists":
            throw new UsageError(
              `A user with email ${user.email} already exists (id ${user.id}, role ${user.role}); nothing changed. Add --promote to make them an admin.`,
            );
        }
      } finally {
        await cache?.close();
        await database.close();
      }
    },
  },

  backup: {
    synopsis: "backup [FILE]",
    summary: "write a backup archive of the database and every stored file",
    details: "FILE defaults to BACKUP_DIR/kaira-<time>.tar.gz. Safe while the API serves.",
    options: {},
    positionals: 1,
    async run(_values, positionals) {
      const { join, resolve } = await import("node:path");
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../platform/database/index.js");
      const { openStorage } = await import("../platform/storage/index.js");
      const { backupFileName, createBackup } = await import("../modules/backups/backup.service.js");
      const config = loadConfig();
      const target = resolve(positionals[0] ?? join(config.backups.dir, backupFileName(new Date())));
      let database: Awaited<ReturnType<typeof openDatabase>>;
      try {
        database = await openDatabase(config);
      } catch (error) {
        // The embedded database belongs to the serving process; say how to back it up while it runs.
        if ((error as Error).name !== "DataDirLockedError") throw error;
        throw new UsageError(
          `${(error as Error).message}\nWhile it runs, start a backup from it instead: POST /api/v1/admin/backups (admin), or schedule them with BACKUP_SCHEDULE.`,
        );
      }
      try {
        const manifest = await createBackup({ database, storage: openStorage(config) }, target);
        const rows = manifest.database.tables.reduce((sum, table) => sum + table.rows, 0);
        console.log(
          `Backup written to ${target}: ${manifest.database.tables.length} tables, ${rows} rows, ${manifest.files.count} files (migration level ${manifest.database.migration_level}).`,
        );
      } finally {
        await database.close();
      }
    },
  },

  restore: {
    synopsis: "restore FILE [--force]",
    summary: "restore a backup into an empty database and DATA_DIR",
    details:
      "Then applies newer migrations. --force replaces existing data and accepts a damaged archive\n" +
      "or a newer schema.",
    options: { force: { type: "boolean", default: false } },
    positionals: 1,
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError("restore needs exactly one FILE");
      const { join, resolve } = await import("node:path");
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../platform/database/index.js");
      const { openStorage } = await import("../platform/storage/index.js");
      const { restoreBackup } = await import("../modules/backups/backup.service.js");
      const config = loadConfig();
      const file = resolve(positionals[0] as string);
      const database = await openDatabase(config);
      try {
        const result = await restoreBackup(
          { database, storage: openStorage(config), filesDir: join(config.dataDir, "files") },
          file,
          { force: values.force === true, onWarning: (message) => console.error(`warning: ${message}`) },
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
    },
  },

  db: {
    synopsis: "db url|status|start|stop|import-pglite [--force]",
    summary: "manage the embedded PostgreSQL server under DATA_DIR/postgres",
    details:
      "url            print its connection URL (for psql, drizzle-kit) while it runs\n" +
      "status         say whether it runs, on which port, and which processes use it\n" +
      "start          start it and keep it running until `kaira db stop`\n" +
      "stop           stop it; refused while Kaira processes use it, unless --force\n" +
      "import-pglite  copy the PGlite database of an earlier Kaira (DATA_DIR/pgdata) into it\n" +
      "Kaira processes start the server when they need it and the last one out stops it.",
    options: { force: { type: "boolean", default: false } },
    positionals: 1,
    async run(values, positionals) {
      const action = positionals[0];
      if (action === undefined)
        throw new UsageError("db needs an action: url, status, start, stop or import-pglite");
      const [{ loadConfig }, { runDbCommand }] = await Promise.all([
        import("../config.js"),
        import("./db.js"),
      ]);
      await runDbCommand(loadConfig(), action, { force: values.force === true });
    },
  },

  openapi: {
    synopsis: "openapi [--output FILE]",
    summary: "print the OpenAPI document as JSON",
    details:
      "Only the JSON document goes to standard output, so `npx kaira openapi > openapi.json` works\n" +
      "(`npm run kaira` adds npm's own header lines: use --output there, or `npm run --silent`).",
    options: { output: { type: "string", short: "o" } },
    async run(values) {
      const { loadConfig } = await import("../config.js");
      const { printOpenApi } = await import("./openapi.js");
      await printOpenApi(loadConfig(), values.output as string | undefined);
    },
  },
};

function version(): string {
  // package.json sits two levels up from both src/cli and dist/cli.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.synopsis.length)) + 2;
  const lines = Object.values(COMMANDS).map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}`);
  return [
    "Usage: kaira <command> [options]",
    "",
    "Commands:",
    ...lines,
    `  ${"help [command]".padEnd(width)}show this help, or a command's`,
    "",
    "Options: --version, and --help after any command.",
    "Configuration comes from the environment and .env (see README).",
  ].join("\n");
}

function commandHelp(command: Command): string {
  return [
    `Usage: kaira ${command.synopsis}`,
    "",
    `${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.`,
  ]
    .concat(command.details ? ["", command.details] : [])
    .join("\n");
}

function integerOption(name: string, raw: unknown, min: number, max: number): number {
  const value = String(raw);
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  const number = Number(value);
  if (number < min || number > max)
    throw new UsageError(`--${name} must be between ${min} and ${max}, got ${number}`);
  return number;
}

async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? rest[0] : undefined;
    const command = topic !== undefined ? COMMANDS[topic] : undefined;
    if (topic !== undefined && !command) throw new UsageError(`Unknown command "${topic}".\n\n${usage()}`);
    console.log(command ? commandHelp(command) : usage());
    return;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    console.log(version());
    return;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`Unknown command "${name}".\n\n${usage()}`);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandHelp(command));
    return;
  }
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: command.options,
      strict: true,
      allowPositionals: (command.positionals ?? 0) > 0,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${commandHelp(command)}`);
  }
  if (positionals.length > (command.positionals ?? 0))
    throw new UsageError(`Too many arguments.\n\n${commandHelp(command)}`);
  if (!command.handlesSignals) releaseOnInterrupt();
  await command.run(values, positionals);
}

/**
 * Ctrl-C (or SIGTERM) during a one-shot command such as `seed` or `backup`: give back the
 * embedded database server first — stopping it when no other process uses it — then exit as
 * interrupted (130 or 143). A second Ctrl-C exits at once.
 */
let interrupted = false;
function releaseOnInterrupt(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    const exitCode = signal === "SIGINT" ? 130 : 143;
    if (interrupted) process.exit(exitCode);
    interrupted = true;
    console.error(`Interrupted (${signal}).`);
    import("../platform/process/interrupt-cleanups.js")
      .then(({ runInterruptCleanups }) => runInterruptCleanups())
      .catch(() => {})
      .finally(() => process.exit(exitCode));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

run(process.argv.slice(2)).catch((error: unknown) => {
  // The command failed because it was interrupted (its database went away): the interrupt
  // handler exits once the server is released.
  if (interrupted) return;
  const failure = explainFailure(error);
  if (failure) {
    console.error(failure.message);
    process.exit(failure.exitCode);
  }
  console.error(error);
  process.exit(1);
});
