/**
 * Both drivers (node-postgres, PGlite) report PostgreSQL errors with a SQLSTATE `code` and,
 * for constraint violations, the `constraint` name; Drizzle wraps them in `cause`.
 */
interface PgErrorFields {
  code?: string;
  constraint?: string;
  cause?: unknown;
}

function findPgError(error: unknown): PgErrorFields | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const fields = current as PgErrorFields;
    if (typeof fields.code === "string" && /^[0-9A-Z]{5}$/.test(fields.code)) return fields;
    current = fields.cause;
  }
  return undefined;
}

/** The SQLSTATE of a PostgreSQL error, however deeply a driver or Drizzle wrapped it. */
export function sqlStateOf(error: unknown): string | undefined {
  return findPgError(error)?.code;
}

/** The name of the unique constraint `error` violated, if that is what it is. */
export function violatedUniqueConstraint(error: unknown): string | undefined {
  const pgError = findPgError(error);
  return pgError?.code === "23505" ? (pgError.constraint ?? "") : undefined;
}
