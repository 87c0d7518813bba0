/**
 * Turns the failures a person starting Kaira (`serve`, `worker` or any other command) can
 * fix into one line: what went wrong and what to do about it, never a stack trace. Used by
 * both entry points, src/main.ts and src/cli/main.ts. Exit code 2 means "fix the
 * configuration" (a bad setting, a role or database that does not exist, a wrong password,
 * an address this machine does not have); 1 means the environment failed (the database is
 * down, the port is taken) and the same command may work later. Anything not recognised
 * here is a bug and keeps its stack trace.
 *
 * Errors are recognised by their shape (`name`, SQLSTATE or system error code), so this
 * file loads nothing of the app.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface Failure {
  message: string;
  exitCode: 1 | 2;
}

interface SystemError extends Error {
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** A PostgreSQL error as node-postgres reports it: SQLSTATE in `code`, plus `severity`. */
interface PostgresError extends Error {
  code?: string;
  severity?: string;
}

const CONFIG_ERRORS = new Set([
  "UsageError",
  "ConfigError",
  "DataDirLockedError",
  "CorruptArchiveError",
  "NewerBackupError",
  "RestoreTargetNotEmptyError",
  "EmbeddedPostgresSetupError",
  "EmbeddedServerInUseError",
]);

export function explainFailure(error: unknown): Failure | undefined {
  if (!(error instanceof Error)) return undefined;
  if (CONFIG_ERRORS.has(error.name)) return { message: error.message, exitCode: 2 };
  if ((error as SystemError).code?.startsWith("ERR_PARSE_ARGS"))
    return { message: error.message, exitCode: 2 };
  if (error.name === "ListenError") return explainListenError(error as ListenErrorShape);
  // Only the admin account is created from configuration or the command line.
  if (error.name === "WeakPasswordError")
    return {
      message: `The admin password is refused: ${error.message}. Choose another ADMIN_PASSWORD (or --password).`,
      exitCode: 2,
    };
  // The embedded server failed to start or stop; its message names the log to read.
  if (error.name === "EmbeddedServerError") return { message: error.message, exitCode: 1 };
  return explainDatabaseError(error as PostgresError & SystemError);
}

/** What `serve` throws when the listener cannot open (see ListenError in main.ts). */
interface ListenErrorShape extends Error {
  host: string;
  port: number;
  cause?: SystemError;
}

function explainListenError({ host, port, cause }: ListenErrorShape): Failure | undefined {
  const where = `${host}:${port}`;
  switch (cause?.code) {
    case "EADDRINUSE":
      return {
        message: `Cannot listen on ${where}: the port is already in use. Stop the other server (\`lsof -i :${port}\` shows it) or choose another PORT.`,
        exitCode: 1,
      };
    case "EACCES":
      return {
        message: `Cannot listen on ${where}: permission denied. Ports below 1024 need privileges; use PORT=9000 or another port from 1024 up.`,
        exitCode: 2,
      };
    case "EADDRNOTAVAIL":
    case "EAFNOSUPPORT":
      return {
        message: `Cannot listen on HOST=${host}: this machine has no such address. Use 0.0.0.0 (every interface), 127.0.0.1 (this machine only) or one of its own addresses.`,
        exitCode: 2,
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        message: `Cannot listen on HOST=${host}: the name does not resolve to an address. Use 0.0.0.0, 127.0.0.1, localhost or one of this machine's addresses.`,
        exitCode: 2,
      };
    default:
      return undefined;
  }
}

function explainDatabaseError(error: PostgresError & SystemError): Failure | undefined {
  const hint = "Check DATABASE_URL";
  switch (error.code) {
    // SQLSTATE 28000 is how PostgreSQL reports an unknown role ("role "x" does not exist").
    case "28000": {
      const role = /role "([^"]+)"/.exec(error.message)?.[1];
      return role
        ? {
            message: `PostgreSQL has no role "${role}". Create it (\`createuser --pwprompt ${role}\` as the postgres user, or CREATE ROLE ${role} LOGIN PASSWORD '…') or fix the user in DATABASE_URL.`,
            exitCode: 2,
          }
        : { message: `PostgreSQL refused the connection: ${error.message}. ${hint}.`, exitCode: 2 };
    }
    case "28P01":
      return {
        message: `PostgreSQL refused the password: ${error.message}. Check the user and password in DATABASE_URL.`,
        exitCode: 2,
      };
    case "3D000": {
      const name = /database "([^"]+)"/.exec(error.message)?.[1] ?? "";
      return {
        message: `PostgreSQL has no database "${name}". Create it (\`createdb -O <user> ${name}\`) or fix the database name in DATABASE_URL.`,
        exitCode: 2,
      };
    }
    case "ECONNREFUSED":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
    case "ECONNRESET":
      return {
        message: `Cannot reach PostgreSQL at ${error.address ?? "the server"}${error.port ? `:${error.port}` : ""} (${error.code}). Is it running? ${hint} (host and port).`,
        exitCode: 1,
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        message: `Cannot reach PostgreSQL: the host "${error.hostname}" does not resolve. ${hint} (host).`,
        exitCode: 1,
      };
    default:
      // node-postgres reports its own connect timeout without a code.
      if (/connection timeout|timeout expired/i.test(error.message))
        return {
          message: `PostgreSQL did not answer within 5 s (${error.message}). Is it running and reachable? ${hint}.`,
          exitCode: 1,
        };
      return undefined;
  }
}
