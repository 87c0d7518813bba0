import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import {
  beginStatement,
  type Database,
  type Db,
  migrationsFolder,
  type PlainRunner,
  type PlainSql,
  QueryListeners,
  TimingListeners,
} from "./database.js";
import * as schema from "./schema.js";

// Any 64-bit number unique to Kaira: migrations from several processes queue on this lock.
const MIGRATION_LOCK_ID = 7_265_331_019n;

export interface PostgresOptions {
  url: string;
  poolSize: number;
  applicationName?: string;
  /** Every session's statement_timeout (0 or omitted: none); migrations run without one. */
  statementTimeoutMs?: number;
  /** How long a statement waits for a free pooled connection before failing as busy. */
  poolWaitMs?: number;
}

type QueryCallback = (error: Error | undefined, result: unknown) => void;

/** A pg client that reports how long each statement took (timing only when someone listens). */
function timedClientClass(timing: TimingListeners): typeof pg.Client {
  return class TimedClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloads cannot be re-declared one by one
    override query(config: any, values?: any, callback?: any): any {
      if (!timing.active || typeof config?.submit === "function")
        return super.query(config, values, callback);
      const sql: string = typeof config === "string" ? config : (config?.text ?? "");
      const startedAt = performance.now();
      if (typeof values === "function") {
        callback = values;
        values = undefined;
      }
      if (typeof callback === "function") {
        const done = callback as QueryCallback;
        return super.query(config, values, ((error, result) => {
          timing.emit(sql, startedAt);
          done(error, result);
        }) as QueryCallback);
      }
      const result = super.query(config, values);
      const finished = () => timing.emit(sql, startedAt);
      (result as Promise<unknown>).then(finished, finished);
      return result;
    }
  };
}

/**
 * A named statement a connection prepared before a migration changed what it returns (0A000,
 * "cached plan must not change result type") or whose preparation is gone (26000). The
 * connection keeps failing it, so it is dropped rather than returned to the pool.
 */
const preparedStatementIsStale = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "0A000" || code === "26000";
};

/** Plain statements on the pool; a transaction holds one client from `begin` to its end. */
function plainSqlOn(pool: pg.Pool, listeners: QueryListeners): PlainSql {
  const runnerOn = (client: pg.Pool | pg.PoolClient): PlainRunner => ({
    async rows<R>(statement: { name?: string; text: string }, values: readonly unknown[] = []) {
      listeners.logQuery(statement.text, values as unknown[]);
      const query = { name: statement.name, text: statement.text, values: values as unknown[] };
      try {
        return (await client.query(query)).rows as R[];
      } catch (error) {
        // On the pool, the failed connection is already dropped (pg-pool drops a connection
        // whose query failed): once more on another, which prepares the statement afresh.
        if (client !== pool || statement.name === undefined || !preparedStatementIsStale(error)) throw error;
        return (await client.query(query)).rows as R[];
      }
    },
  });
  return {
    ...runnerOn(pool),
    async transaction(work, options = {}) {
      const client = await pool.connect();
      let result: Awaited<ReturnType<typeof work>>;
      try {
        const begin = beginStatement(options.advisoryLock);
        listeners.logQuery(begin, []);
        await client.query(begin);
        result = await work(runnerOn(client));
        listeners.logQuery("commit", []);
        await client.query("commit");
      } catch (error) {
        try {
          listeners.logQuery("rollback", []);
          await client.query("rollback");
          // Rolled back, the connection is clean, unless it holds a stale prepared statement.
          client.release(preparedStatementIsStale(error) ? (error as Error) : undefined);
        } catch (rollbackError) {
          // A connection that cannot roll back is in an unknown state: the pool drops it.
          client.release(rollbackError as Error);
        }
        throw error;
      }
      client.release();
      return result;
    },
  };
}

/** The distributed adapter: a pooled node-postgres connection to a PostgreSQL server. */
export async function openPostgresDatabase(options: PostgresOptions): Promise<Database> {
  const timing = new TimingListeners();
  const pool = new pg.Pool({
    Client: timedClientClass(timing),
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName ?? "kaira",
    connectionTimeoutMillis: options.poolWaitMs ?? 5_000,
    // Sent at connection start-up: no single statement can hold a connection for minutes.
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the process. The pool replaces the client on the next checkout.
  pool.on("error", () => {});
  // A checked-out client whose server goes away between two statements (a transaction busy
  // in JavaScript, a backup writing its spool) emits 'error' itself, and the pool's listener
  // is only on idle clients: unheard, it would crash the process. The work holding the client
  // fails on its next statement instead.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  const listeners = new QueryListeners();
  const db = drizzle({ client: pool, schema, logger: listeners }) as unknown as Db;
  return {
    engine: "postgres",
    runsInThisProcess: false,
    db,
    plain: plainSqlOn(pool, listeners),
    async migrate(options = {}) {
      const client = await pool.connect();
      try {
        // A migration may rewrite a large table; the general statement timeout is for requests.
        await client.query("set statement_timeout = 0");
        await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_ID.toString()]);
        try {
          await migrate(drizzle({ client }), {
            migrationsFolder: options.migrationsFolder ?? migrationsFolder,
          });
        } finally {
          await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_ID.toString()]);
          await client.query("reset statement_timeout");
        }
      } finally {
        client.release();
      }
    },
    withStatementTimeout(timeoutMs, work) {
      // SET LOCAL lasts until the transaction ends, so the connection goes back to the pool
      // with its general timeout whatever happens.
      return db.transaction(async (tx) => {
        await tx.execute(
          sql`select set_config('statement_timeout', ${String(Math.max(1, Math.round(timeoutMs)))}, true)`,
        );
        return work(tx as unknown as Db);
      });
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    onQuery: (listener) => listeners.add(listener),
    onQueryTimed: (listener) => timing.add(listener),
    poolStats: () => ({
      total: pool.totalCount,
      max: options.poolSize,
      inUse: pool.totalCount - pool.idleCount,
      waiting: pool.waitingCount,
    }),
    async close() {
      await pool.end();
    },
  };
}
