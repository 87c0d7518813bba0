import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { lockDataDir } from "./data-dir-lock.js";
import {
  advisoryLockId,
  type Database,
  type Db,
  migrationsFolder,
  type PlainRunner,
  type PlainSql,
  QueryListeners,
  TimingListeners,
} from "./database.js";
import * as schema from "./schema.js";

export interface EmbeddedOptions {
  /** Directory that holds the database files; omitted → an in-memory database. */
  dataDir?: string;
}

/**
 * The fallback embedded adapter (no PostgreSQL binaries for the platform, or
 * EMBEDDED_ENGINE=pglite): PGlite, a real PostgreSQL compiled to WebAssembly, running inside
 * this process. It is single-connection, so statements queue behind an open transaction —
 * keep transactions short.
 */
export async function openEmbeddedDatabase(options: EmbeddedOptions = {}): Promise<Database> {
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => {};
  let client: PGlite;
  try {
    client = await PGlite.create({
      // PGlite bundles contrib extensions separately; search suggestions need trigrams.
      extensions: { pg_trgm },
      ...(options.dataDir ? { dataDir: join(options.dataDir, "pgdata") } : {}),
    });
  } catch (error) {
    unlock();
    throw error;
  }
  const listeners = new QueryListeners();
  const timing = new TimingListeners();
  const occupancy = instrumentClient(client, timing);
  const db = drizzle({ client, schema, logger: listeners }) as unknown as Db;
  return {
    engine: "embedded",
    runsInThisProcess: true,
    db,
    plain: plainSqlOn(client, listeners),
    async migrate(options = {}) {
      await migrate(drizzle({ client }), { migrationsFolder: options.migrationsFolder ?? migrationsFolder });
    },
    // PGlite runs PostgreSQL compiled to WebAssembly on this thread: there is no timer
    // interrupt to cancel a statement with (statement_timeout is accepted and never fires),
    // and nothing else runs in the process until the statement ends. What bounds a statement
    // here is the statement itself, such as the rank window of searches.
    withStatementTimeout: (_timeoutMs, work) => work(db),
    async ping() {
      await db.execute(sql`select 1`);
    },
    onQuery: (listener) => listeners.add(listener),
    onQueryTimed: (listener) => timing.add(listener),
    // One connection: in use while a statement or transaction runs, the others queue behind it.
    poolStats: () => ({
      total: 1,
      max: 1,
      inUse: Math.min(1, occupancy.active),
      waiting: Math.max(0, occupancy.active - 1),
    }),
    async close() {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}

/** Plain statements on PGlite's one connection (PGlite prepares nothing by name). */
function plainSqlOn(client: PGlite, listeners: QueryListeners): PlainSql {
  const runnerOn = (target: Pick<PGlite, "query">): PlainRunner => ({
    async rows<R>(statement: { text: string }, values: readonly unknown[] = []) {
      listeners.logQuery(statement.text, values as unknown[]);
      const result = await target.query<R>(statement.text, values as unknown[]);
      return result.rows;
    },
  });
  return {
    ...runnerOn(client),
    async transaction(work, options = {}) {
      const lock = options.advisoryLock === undefined ? undefined : advisoryLockId(options.advisoryLock);
      return client.transaction(async (tx) => {
        const runner = runnerOn(tx);
        if (lock !== undefined) await runner.rows({ text: "select pg_advisory_xact_lock($1)" }, [lock]);
        return work(runner);
      });
    },
  };
}

type Query = (text: string, ...rest: unknown[]) => Promise<unknown>;

/**
 * Times every statement (inside transactions too) and counts the calls holding or waiting
 * for PGlite's one connection. PGlite has no hooks, so its query methods are wrapped.
 */
function instrumentClient(client: PGlite, timing: TimingListeners): { active: number } {
  const occupancy = { active: 0 };
  const timed = (query: Query): Query =>
    async function timedQuery(this: unknown, text, ...rest) {
      const startedAt = performance.now();
      try {
        return await query.call(this, text, ...rest);
      } finally {
        timing.emit(text, startedAt);
      }
    };
  const held =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      occupancy.active += 1;
      try {
        return await call(...args);
      } finally {
        occupancy.active -= 1;
      }
    };
  const query = timed(client.query.bind(client) as Query);
  client.query = held(query) as unknown as PGlite["query"];
  const transaction = client.transaction.bind(client);
  client.transaction = held((callback: Parameters<PGlite["transaction"]>[0]) =>
    transaction((tx) => {
      tx.query = timed(tx.query.bind(tx) as Query) as unknown as typeof tx.query;
      return callback(tx);
    }),
  ) as PGlite["transaction"];
  return occupancy;
}
