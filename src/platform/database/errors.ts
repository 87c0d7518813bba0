import { sqlStateOf } from "../../shared/db-errors.js";

/**
 * Why a statement failed when the cause is load, not the statement itself:
 * - `statement_timeout`: PostgreSQL cancelled it after its statement timeout (SQLSTATE 57014);
 * - `busy`: no pooled connection came free in time (node-postgres' pool gives up waiting).
 * Both mean "try again shortly"; anything else is a real failure.
 */
export type DatabaseOverload = "statement_timeout" | "busy";

// pg-pool reports an exhausted wait with this message and no code of its own.
const POOL_WAIT_TIMEOUT = "timeout exceeded when trying to connect";

export function databaseOverloadOf(error: unknown): DatabaseOverload | undefined {
  if (sqlStateOf(error) === "57014") return "statement_timeout";
  let current: unknown = error;
  // Drizzle wraps driver errors in `cause`; a few levels are all it ever adds.
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.message === POOL_WAIT_TIMEOUT) return "busy";
    current = current.cause;
  }
  return undefined;
}
