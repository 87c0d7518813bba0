import { type SQL, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";

/**
 * Reads and writes the whole database logically, through SQL only, so it works the same on
 * the embedded database and on a PostgreSQL server and needs no `pg_dump` binary.
 *
 * Rows travel as the server's own `row_to_json` text and come back through
 * `json_populate_recordset`: PostgreSQL does both conversions, so values (timestamps,
 * bigints, bytea, arrays, JSON) round-trip exactly and JavaScript never parses a row.
 */

/** A table of the `public` schema and the columns a restore writes (generated ones are recomputed). */
export interface TableShape {
  name: string;
  columns: string[];
}

export interface SequenceState {
  name: string;
  /** Kept as text: a sequence is a bigint. */
  lastValue: string;
  isCalled: boolean;
}

/** One applied migration as drizzle records it in `drizzle.__drizzle_migrations`. */
export interface AppliedMigration {
  hash: string;
  createdAt: number;
}

type Executor = Pick<Db, "execute">;

const ROWS_PER_FETCH = 500;

async function rowsOf<T>(executor: Executor, query: SQL): Promise<T[]> {
  const result = (await executor.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

const table = (name: string) => sql`${sql.identifier("public")}.${sql.identifier(name)}`;
const columnList = (columns: string[]) =>
  sql.join(
    columns.map((column) => sql.identifier(column)),
    sql`, `,
  );

/**
 * Tables of the `public` schema, parents before children (foreign keys), so that inserting
 * in this order satisfies every constraint. Throws on a cycle, which Kaira's schema never has.
 */
export async function listTables(executor: Executor): Promise<TableShape[]> {
  const [row] = await rowsOf<{ shape: string }>(
    executor,
    sql`
      select json_build_object(
        'tables', coalesce((
          select json_agg(json_build_object(
            'name', c.relname::text,
            'columns', (
              select coalesce(json_agg(a.attname::text order by a.attnum), '[]'::json)
              from pg_attribute a
              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
            )
          ) order by c.relname)
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
        ), '[]'::json),
        'references', coalesce((
          select json_agg(json_build_array(child.relname::text, parent.relname::text))
          from pg_constraint k
          join pg_class child on child.oid = k.conrelid
          join pg_class parent on parent.oid = k.confrelid
          join pg_namespace n on n.oid = child.relnamespace
          where k.contype = 'f' and n.nspname = 'public' and k.conrelid <> k.confrelid
        ), '[]'::json)
      )::text as shape`,
  );
  const shape = JSON.parse(row?.shape ?? "{}") as { tables: TableShape[]; references: [string, string][] };
  return parentsFirst(shape.tables, shape.references);
}

function parentsFirst(tables: TableShape[], references: [string, string][]): TableShape[] {
  const parentsOf = new Map(tables.map((t) => [t.name, new Set<string>()]));
  for (const [child, parent] of references) parentsOf.get(child)?.add(parent);
  const ordered: TableShape[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const ready = tables.filter(
      (t) => !placed.has(t.name) && [...(parentsOf.get(t.name) ?? [])].every((p) => placed.has(p)),
    );
    if (ready.length === 0) throw new Error("the tables' foreign keys form a cycle; cannot order them");
    for (const t of ready) {
      ordered.push(t);
      placed.add(t.name);
    }
  }
  return ordered;
}

export async function readSequences(executor: Executor): Promise<SequenceState[]> {
  const names = await rowsOf<{ name: string }>(
    executor,
    sql`select c.relname::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'S' order by c.relname`,
  );
  const states: SequenceState[] = [];
  for (const { name } of names) {
    const [state] = await rowsOf<{ last_value: string; is_called: boolean }>(
      executor,
      sql`select last_value::text as last_value, is_called from ${table(name)}`,
    );
    if (state) states.push({ name, lastValue: state.last_value, isCalled: state.is_called });
  }
  return states;
}

export async function readAppliedMigrations(executor: Executor): Promise<AppliedMigration[]> {
  const [exists] = await rowsOf<{ present: boolean }>(
    executor,
    sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
  );
  if (!exists?.present) return [];
  const rows = await rowsOf<{ hash: string; created_at: string }>(
    executor,
    sql`select hash, created_at::text as created_at from drizzle.__drizzle_migrations order by created_at, id`,
  );
  return rows.map((row) => ({ hash: row.hash, createdAt: Number(row.created_at) }));
}

/**
 * Streams a table's rows, one JSON text per row, in batches. Runs inside the caller's
 * transaction (a cursor lives only there), so every table is read from the same snapshot.
 */
export async function* readRows(executor: Executor, shape: TableShape): AsyncGenerator<string[]> {
  if (shape.columns.length === 0) return;
  await executor.execute(
    sql`declare kaira_backup_rows no scroll cursor for
        select row_to_json(t)::text as row from (select ${columnList(shape.columns)} from ${table(shape.name)}) t`,
  );
  try {
    for (;;) {
      const batch = await rowsOf<{ row: string }>(
        executor,
        sql.raw(`fetch forward ${ROWS_PER_FETCH} from kaira_backup_rows`),
      );
      if (batch.length === 0) return;
      yield batch.map((r) => r.row);
    }
  } finally {
    await executor.execute(sql`close kaira_backup_rows`);
  }
}

/** Inserts rows read by `readRows`, keeping their ids (sequences are set afterwards). */
export async function insertRows(executor: Executor, shape: TableShape, rows: string[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = columnList(shape.columns);
  await executor.execute(
    sql`insert into ${table(shape.name)} (${columns}) overriding system value
        select ${columns} from json_populate_recordset(null::${table(shape.name)}, ${`[${rows.join(",")}]`}::json)`,
  );
}

export async function restoreSequence(executor: Executor, state: SequenceState): Promise<void> {
  await executor.execute(
    sql`select setval(${`public."${state.name.replaceAll('"', '""')}"`}::regclass, ${state.lastValue}::bigint, ${state.isCalled})`,
  );
}

/** Whether the database holds anything of its own: tables, sequences or applied migrations. */
export async function isEmptyDatabase(executor: Executor): Promise<boolean> {
  const [row] = await rowsOf<{ objects: number | string }>(
    executor,
    sql`select count(*) as objects from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p', 'S', 'v', 'm')`,
  );
  return Number(row?.objects ?? 0) === 0 && (await readAppliedMigrations(executor)).length === 0;
}

/** Drops everything the migrations created, for a forced restore over an existing database. */
export async function dropEverything(executor: Executor): Promise<void> {
  await executor.execute(sql`drop schema if exists drizzle cascade`);
  await executor.execute(sql`drop schema if exists public cascade`);
  await executor.execute(sql`create schema public`);
}

export async function countRows(executor: Executor, name: string): Promise<number> {
  const [row] = await rowsOf<{ rows: number | string }>(
    executor,
    sql`select count(*) as rows from ${table(name)}`,
  );
  return Number(row?.rows ?? 0);
}
