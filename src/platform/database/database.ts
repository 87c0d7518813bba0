import type { Logger as DrizzleLogger } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { PoolStats } from "../metrics/metrics.js";
import type * as schema from "./schema.js";

/** The query API both adapters expose: Drizzle over PostgreSQL, embedded or served. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Anything that can run statements: the database or an open transaction. */
export type Executor = Pick<Db, "insert" | "execute">;

/**
 * A statement sent as written, for the few hot paths where Drizzle's query building costs more
 * API CPU than the statement itself (bench/README.md, "Writes"). With a `name` it is prepared
 * once per connection on a PostgreSQL server, so its text must never change under that name.
 */
export interface Statement {
  readonly name?: string;
  readonly text: string;
}

/** Runs plain statements: on the pool, or inside one transaction. */
export interface PlainRunner {
  /**
   * The rows of one statement, with the driver's own types: timestamptz as a Date, jsonb
   * parsed, int8 as a string or a number (wrap it in Number()).
   */
  rows<R>(statement: Statement, values?: readonly unknown[]): Promise<R[]>;
}

export interface PlainSql extends PlainRunner {
  /**
   * Runs `work` in one transaction on one connection: committed when it resolves, rolled back
   * when it throws. `advisoryLock` is taken (transaction-level) in the same round trip as the
   * `begin`, before any statement of `work` reads.
   */
  transaction<T>(work: (tx: PlainRunner) => Promise<T>, options?: { advisoryLock?: number }): Promise<T>;
}

/** An advisory lock id, checked: PostgreSQL's lock ids are integers. */
export function advisoryLockId(id: number): number {
  if (!Number.isSafeInteger(id)) throw new Error(`advisory lock id must be an integer: ${id}`);
  return id;
}

/** The `begin` of a plain transaction, with its advisory lock when it takes one. */
export function beginStatement(advisoryLock: number | undefined): string {
  // The id is inlined (a simple query of two statements cannot carry parameters): it is only
  // ever a constant of the code, and checked to be an integer.
  return advisoryLock === undefined
    ? "begin"
    : `begin; select pg_advisory_xact_lock(${advisoryLockId(advisoryLock)})`;
}

/** A statement as it was sent to the database; used by tests that count queries per request. */
export interface ExecutedQuery {
  sql: string;
  params: unknown[];
}

/** A finished statement: its SQL and how long the database took to answer. */
export interface TimedQuery {
  sql: string;
  seconds: number;
}

/** The database port. Business code receives `db` and never imports a driver. */
export interface Database {
  /** Which database answers ("embedded" is PGlite): for logs and backup metadata, not for branching. */
  readonly engine: "embedded" | "postgres";
  /**
   * True when the database runs on this process's own thread (PGlite): a statement then holds
   * the whole process, not one connection of a pool, and there are no backends to bound.
   */
  readonly runsInThisProcess: boolean;
  readonly db: Db;
  /** Plain statements, for hot paths (see `Statement`); everything else uses `db`. */
  readonly plain: PlainSql;
  /**
   * Applies pending migrations from `drizzle/` (or from `migrationsFolder`: a restore first
   * recreates the schema its backup was taken at); safe to call from several processes at once.
   */
  migrate(options?: { migrationsFolder?: string }): Promise<void>;
  /**
   * Runs `work` with its statements cancelled by the database after `timeoutMs` (a failure
   * that `databaseOverloadOf` reports as `statement_timeout`). Not every adapter can cancel a
   * running statement: see the embedded one.
   */
  withStatementTimeout<T>(timeoutMs: number, work: (db: Db) => Promise<T>): Promise<T>;
  /** Throws when the database does not answer; used by readiness. */
  ping(): Promise<void>;
  /** Calls `listener` for every statement this process sends until the returned function is called. */
  onQuery(listener: (query: ExecutedQuery) => void): () => void;
  /** Calls `listener` as each statement finishes (the seam for query-duration metrics). */
  onQueryTimed(listener: (query: TimedQuery) => void): () => void;
  /** Connection pool occupancy now (the embedded database is one connection). */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export const migrationsFolder = new URL("../../../drizzle", import.meta.url).pathname;

/** A Drizzle logger that fans statements out to listeners (no-op cost when nobody listens). */
export class QueryListeners implements DrizzleLogger {
  private readonly listeners = new Set<(query: ExecutedQuery) => void>();

  logQuery(sql: string, params: unknown[]): void {
    for (const listener of this.listeners) listener({ sql, params });
  }

  add(listener: (query: ExecutedQuery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Fans finished statements out to listeners (no-op cost when nobody listens). */
export class TimingListeners {
  private readonly listeners = new Set<(query: TimedQuery) => void>();

  get active(): boolean {
    return this.listeners.size > 0;
  }

  emit(sql: string, startedAt: number): void {
    if (this.listeners.size === 0) return;
    const query = { sql, seconds: (performance.now() - startedAt) / 1000 };
    for (const listener of this.listeners) listener(query);
  }

  add(listener: (query: TimedQuery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
